"""Sending a rendered Message back to Slack, and turning failures into messages users understand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.common import error_message, internal_error_message, not_allowed_message, parse_error_message
from bot.blocks.kit import Message
from bot.clients.errors import AuthenticationFailed, UpstreamError, UpstreamUnreachable
from bot.grammar import ParseError
from bot.services.authorization import LastAdmin, NotAllowed
from bot.services.line_settings import WebexNotConfigured
from bot.services.pauses import PauseRefused
from bot.store.database import DatabaseUnavailable

logger = logging.getLogger(__name__)


def reply_privately(respond: Respond, message: Message) -> None:
    """Answer only the person who asked (ephemeral). A Slack failure is logged, never raised."""
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
        logger.warning("could not reach Slack to reply: %s", type(error).__name__)
        return False
    return True


def message_for_failure(error: BaseException, request_id: str) -> tuple[Message, str]:
    """The user-facing message for an exception, and the audit outcome it stands for."""
    if isinstance(error, NotAllowed):
        return not_allowed_message(error.message, error.admins), "refused"
    if isinstance(error, ParseError):
        return parse_error_message(error.message, error.example), "error"
    if isinstance(error, WebexNotConfigured):
        return error_message(error.message), "error"
    if isinstance(error, PauseRefused):
        return error_message(error.message), error.outcome
    if isinstance(error, LastAdmin):
        return error_message(
            "That would leave recording-bot without an admin.",
            hint="Make someone else an admin first: /recording allow @user admin",
        ), "refused"
    if isinstance(error, UpstreamError):
        return error_message(error.user_message(), hint=_upstream_hint(error)), "error"
    if isinstance(error, DatabaseUnavailable):
        return error_message(
            f"recording-bot's database is unavailable: {error}",
            hint="Nothing was changed. Tell the bot's operator; try again in a minute.",
        ), "error"
    return internal_error_message(request_id), "error"


def _upstream_hint(error: UpstreamError) -> str | None:
    if isinstance(error, AuthenticationFailed):
        return "This is a configuration problem: tell a recording-bot admin."
    if isinstance(error, UpstreamUnreachable):
        return "Try again in a minute; if it keeps failing, tell a recording-bot admin."
    return None
