"""The one failure path: any exception a listener meets becomes a message for the user, an audit outcome,
and a verdict on whether it was unexpected (a bug or an unknown fault, logged with its traceback)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.common import error_message, internal_error_message, parse_error_message
from bot.blocks.kit import Message
from bot.blocks.refusals import refusal_message
from bot.clients.errors import AuthenticationFailed, UpstreamError, UpstreamUnreachable
from bot.commands.types import ParseError
from bot.models import Outcome
from bot.models.refusals import AlreadyDecided, Refusal
from bot.store.database import DatabaseUnavailable


@dataclass(frozen=True)
class Failure:
    message: Message
    outcome: str
    # Not one of the failures the bot expects (refusals, bad input, upstream or database trouble).
    unexpected: bool = False
    # The target the failure concerns, when the error knows it better than the listener.
    target: str | None = None


def describe_failure(error: BaseException, request_id: str) -> Failure:
    if isinstance(error, Refusal):
        target = error.request.target.value if isinstance(error, AlreadyDecided) else None
        return Failure(refusal_message(error), error.outcome, target=target)
    if isinstance(error, ParseError):
        return Failure(parse_error_message(error.message, error.example), Outcome.ERROR)
    if isinstance(error, UpstreamError):
        return Failure(error_message(error.user_message(), hint=_upstream_hint(error)), Outcome.ERROR)
    if isinstance(error, DatabaseUnavailable):
        return Failure(
            error_message(
                f"recording-bot's database is unavailable: {error}",
                hint="Nothing was changed. Tell the bot's operator; try again in a minute.",
            ),
            Outcome.ERROR,
        )
    return Failure(internal_error_message(request_id), Outcome.ERROR, unexpected=True)


def _upstream_hint(error: UpstreamError) -> str | None:
    if isinstance(error, AuthenticationFailed):
        return "This is a configuration problem: tell a recording-bot admin."
    if isinstance(error, UpstreamUnreachable):
        return "Try again in a minute; if it keeps failing, tell a recording-bot admin."
    return None
