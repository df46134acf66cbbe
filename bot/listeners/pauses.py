"""`/recording pause`, `breakglass`, `extend`, `cancel`, `resume` and `requests`: hand the parsed command to
the pause service, render the answer."""

from __future__ import annotations

from bot.blocks.pause_answers import cancelled_message, open_requests_message, resumed_message, side_question
from bot.blocks.pauses import request_received
from bot.commands.types import BreakGlass, Cancel, ChooseSide, Extend, ListRequests, Resume
from bot.listeners.command_run import CommandRun
from bot.models import PauseAsk


def pause(run: CommandRun, command: PauseAsk) -> None:
    run.audit_details["target"] = command.target.value
    asked = run.services.pauses.request_pause(run.invocation, command)
    run.audit_details["request"] = asked.request.id
    run.reply_privately(request_received(asked.request, asked.card_link))


def breakglass(run: CommandRun, command: BreakGlass) -> None:
    run.audit_details["target"] = command.ask.target.value
    asked = run.services.pauses.break_glass(run.invocation, command.ask)
    run.audit_details["request"] = asked.request.id
    run.reply_privately(request_received(asked.request, asked.card_link))


def choose_side(run: CommandRun, command: ChooseSide) -> None:
    """A reason that may begin with the side: ask which was meant; the buttons make the request."""
    run.audit_details["target"] = command.side_only.target.value
    run.audit_details["asked"] = "which side"
    run.services.pauses.check_may_ask(run.invocation)
    run.reply_privately(side_question(command))


def extend(run: CommandRun, command: Extend) -> None:
    if command.target is not None:
        run.audit_details["target"] = command.target.value
    asked = run.services.pauses.request_extension(
        run.invocation,
        target=command.target,
        request_id=command.request_id,
        seconds=command.seconds,
        reason=command.reason,
    )
    run.audit_details["request"] = asked.request.id
    run.reply_privately(request_received(asked.request, asked.card_link))


def cancel(run: CommandRun, command: Cancel) -> None:
    run.audit_details["request"] = command.request_id
    cancelled = run.services.pauses.cancel(run.invocation, command.request_id)
    run.audit_details["target"] = cancelled.target.value
    run.reply_privately(cancelled_message(cancelled))


def resume(run: CommandRun, command: Resume) -> None:
    run.audit_details["target"] = command.target.value
    result = run.services.pauses.resume(run.invocation, command.target)
    run.audit_details["cancelled"] = [r.id for r in result.cancelled]
    run.audit_details["pending"] = [r.id for r in result.pending]
    run.reply_in_channel(
        resumed_message(
            result.target, run.invocation.user_id, result.cancelled, result.pending, unwritten=result.unwritten
        )
    )


def list_requests(run: CommandRun, command: ListRequests) -> None:
    pauses = run.services.pauses
    requests = pauses.open_requests_for(run.invocation)
    run.reply_privately(open_requests_message(requests, now=pauses.now(), page=command.page))
