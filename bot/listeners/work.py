"""A user's work after the ack, run to its end the same way for a command, a click and a form: a failure
becomes one message for the user (worded through `failures.py`), the reply, one audit row and one log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.blocks.kit import Message
from bot.listeners.failures import describe_failure
from bot.models import Invocation, Outcome
from bot.services.bundle import Services

logger = logging.getLogger(__name__)

Reply = Callable[[Message], None]


@dataclass
class Attempt:
    """One user's attempt at something, and what its audit row will say; the work fills `details` in as it
    learns. `details["target"]` and `details["group"]` become the row's target and group, not details."""

    invocation: Invocation
    # The audit action: `command.pause`, `click.approve`, `form.pause`.
    action: str
    details: dict[str, Any] = field(default_factory=dict)
    # A row that names no group names the user's own (commands and forms); a click names its request's or none.
    users_group: bool = True
    # The failure's own target replaces the row's (a click on a request someone else decided first).
    failure_names_target: bool = False


def run_attempt(attempt: Attempt, services: Services, work: Callable[[], object], *, reply: Reply) -> str:
    """Run the work; audit and log its outcome, and on failure tell the user what went wrong. The outcome."""
    started = time.perf_counter()
    try:
        work()
    except Exception as error:  # the one failure path: a reply and an audit row for every failure
        return fail(attempt, services, error, reply=reply, started=started)
    record(attempt, services, Outcome.OK)
    _log(attempt, Outcome.OK, started)
    return Outcome.OK


def fail(attempt: Attempt, services: Services, error: Exception, *, reply: Reply, started: float | None = None) -> str:
    """Tell the user about a failure, audit and log it (an unexpected one with its traceback). The outcome."""
    failure = describe_failure(error, attempt.invocation.request_id)
    if failure.unexpected:
        logger.error("%s failed", attempt.action, exc_info=error)
    if attempt.failure_names_target and failure.target:
        attempt.details["target"] = failure.target
    attempt.details["error"] = failure.message.text
    # Reply first: when the database is the problem, the audit write waits on its lock.
    reply(failure.message)
    record(attempt, services, failure.outcome)
    _log(attempt, failure.outcome, started)
    return failure.outcome


def record(attempt: Attempt, services: Services, outcome: str) -> None:
    """Write the attempt's audit row; a failed write is the operator's to see, never the user's."""
    details = attempt.details
    try:
        group = details.pop("group", None) or (
            services.authorizer.group_of(attempt.invocation.user) if attempt.users_group else None
        )
        services.audit.record(
            attempt.invocation,
            action=attempt.action,
            outcome=outcome,
            target=str(details.pop("target", "")),
            details=details,
            group=group,
        )
    except Exception:
        logger.exception("could not write the audit row for %s", attempt.action)


def _log(attempt: Attempt, outcome: str, started: float | None) -> None:
    invocation = attempt.invocation
    took = f" ({(time.perf_counter() - started) * 1000:.0f} ms after the ack)" if started is not None else ""
    # `command pause by …`, `click approve by …`, `form pause by …`: the action in words.
    logger.info(
        "%s by %s/%s in %s: %s%s",
        attempt.action.replace(".", " ", 1), invocation.team_id, invocation.user_id, invocation.channel_id or "-",
        outcome, took,
    )  # fmt: skip
