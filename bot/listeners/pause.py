"""`/recording pause`, `resume` and `requests`: hand the parsed command to the pause service, render the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.blocks.pause import open_requests_message, request_received, resumed_message
from bot.grammar import ListRequests, Pause, Resume
from bot.listeners.replies import reply_in_channel

if TYPE_CHECKING:
    from bot.listeners.commands import CommandRun


def pause(run: CommandRun, command: Pause) -> None:
    run.audit_details["target"] = command.target.value
    request = run.services.pauses.request_pause(run.invocation, command)
    run.audit_details["request"] = request.id
    run.reply_privately(request_received(request))


def resume(run: CommandRun, command: Resume) -> None:
    run.audit_details["target"] = command.target.value
    result = run.services.pauses.resume(run.invocation, command.target)
    run.audit_details["cancelled"] = [r.id for r in result.cancelled]
    reply_in_channel(run.respond, resumed_message(result.target, run.invocation.user_id, result.cancelled))


def list_requests(run: CommandRun, command: ListRequests) -> None:
    pauses = run.services.pauses
    run.reply_privately(open_requests_message(pauses.open_requests(run.invocation.team_id), now=pauses.now()))
