"""Sending a rendered Message back to Slack; a Slack failure is logged, never raised."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.kit import Message

logger = logging.getLogger(__name__)


def reply_privately(respond: Respond, message: Message) -> None:
    """Answer only the person who asked (ephemeral)."""
    send(lambda: respond(text=message.text, blocks=message.blocks, response_type="ephemeral"))


def reply_in_channel(respond: Respond, message: Message) -> None:
    send(lambda: respond(text=message.text, blocks=message.blocks, response_type="in_channel"))


def send(call: Callable[[], Any]) -> bool:
    try:
        call()
    except SlackApiError as error:
        logger.warning("Slack refused a reply: %s", error.response.get("error", "unknown error"))
        return False
    except (SlackClientError, OSError) as error:
        logger.warning("could not reach Slack to reply: %s (%s)", type(error).__name__, error)
        return False
    return True
