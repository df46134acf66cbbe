"""The tests' workspace and channel, and the package's Slack request sender with them as defaults.

The sender fills in the tests' own Slack payload templates (tests/payloads/, written from Slack's
documented examples), so the bot is checked against Slack's shapes rather than the package's idea of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.sandbox.simulators.slack_sender import SlackPayloads, slack_signature
from bot.sandbox.simulators.slack_sender import SlackSender as _SlackSender

TEAM = "T0TEST"
CHANNEL = "C0OPS"
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"

__all__ = ["CHANNEL", "PAYLOADS", "TEAM", "SlackPayloads", "SlackSender", "slack_signature"]


class SlackSender(_SlackSender):
    """Signs and sends as Slack does, from the tests' workspace and channel unless told otherwise."""

    def __init__(self, *, team: str = TEAM, channel: str = CHANNEL, payloads: Path = PAYLOADS, **kwargs: Any) -> None:
        super().__init__(team=team, channel=channel, payloads=payloads, **kwargs)
