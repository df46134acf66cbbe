"""recording-bot: pause/resume call recordings and read call-recording settings from Slack."""

__version__ = "0.1.0"
