"""`/recording settings <line>`: look the line (a person, a workspace or a virtual line) up in Webex and show its
call-recording settings."""

from __future__ import annotations

from bot.blocks.kit import Message
from bot.blocks.line_settings import ambiguous_lines_message, no_line_message, settings_message
from bot.commands.types import ShowSettings
from bot.listeners.command_run import CommandRun
from bot.services.line_settings import LineAmbiguous, LineFound


def show_settings(run: CommandRun, command: ShowSettings) -> None:
    run.audit_details["target"] = command.query
    result = run.services.line_settings.lookup(run.invocation, command.query)
    if isinstance(result, LineFound):
        run.audit_details["line_id"] = result.line.id
        run.audit_details["line_kind"] = result.line.kind.value
        message = Message(*settings_message(result.line, result.settings))
        if command.private:
            run.reply_privately(message)
        else:
            run.reply_in_channel(message)
    elif isinstance(result, LineAmbiguous):
        run.audit_details["matches"] = len(result.lines)
        run.reply_privately(Message(*ambiguous_lines_message(result.query, list(result.lines))))
    else:
        run.audit_details["matches"] = 0
        run.reply_privately(Message(*no_line_message(result.query)))
