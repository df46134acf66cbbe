"""The tests' name for the package's Slack request sender (one implementation for tests, console and bench)."""

from bot.sandbox.simulators.slack_sender import CHANNEL, TEAM, SlackSender, slack_signature

__all__ = ["CHANNEL", "TEAM", "SlackSender", "slack_signature"]
