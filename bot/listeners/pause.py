"""`/recording pause`, `resume` and `requests`: hand the parsed command to the pause service, render the answer."""

from __future__ import annotations

from bot.blocks.pause import open_requests_message, request_received, resumed_message
from bot.grammar import ListRequests, Resume
from bot.listeners.command_run import CommandRun
from bot.models import PauseAsk


def pause(run: CommandRun, command: PauseAsk) -> None:
    run.audit_details["target"] = command.target.value
    request = run.services.pauses.request_pause(run.invocation, command)
    run.audit_details["request"] = request.id
    run.reply_privately(request_received(request))


def resume(run: CommandRun, command: Resume) -> None:
    run.audit_details["target"] = command.target.value
    result = run.services.pauses.resume(run.invocation, command.target)
    run.audit_details["cancelled"] = [r.id for r in result.cancelled]
    run.reply_in_channel(resumed_message(result.target, run.invocation.user_id, result.cancelled))


def list_requests(run: CommandRun, command: ListRequests) -> None:
    pauses = run.services.pauses
    run.reply_privately(open_requests_message(pauses.open_requests_for(run.invocation), now=pauses.now()))
