"""recording-bot: pause/resume call recordings and read call-recording settings from Slack."""

import sys

__version__ = "0.1.0"

# httpx's package imports its own command-line client (`httpx._main`: click, rich, pygments, ~1.5 MB in each
# process) whenever those happen to be installed; the bot never runs it. A module set to None fails to import,
# which httpx takes for "not installed". Set before any of the bot's modules imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
