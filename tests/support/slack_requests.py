"""The tests' workspace and channel, and the package's Slack request sender with them as defaults."""

from __future__ import annotations

from typing import Any

from bot.sandbox.simulators.slack_sender import SlackSender as _SlackSender
from bot.sandbox.simulators.slack_sender import slack_signature

TEAM = "T0TEST"
CHANNEL = "C0OPS"

__all__ = ["CHANNEL", "TEAM", "SlackSender", "slack_signature"]


class SlackSender(_SlackSender):
    """Signs and sends as Slack does, from the tests' workspace and channel unless told otherwise."""

    def __init__(self, *, team: str = TEAM, channel: str = CHANNEL, **kwargs: Any) -> None:
        super().__init__(team=team, channel=channel, **kwargs)
