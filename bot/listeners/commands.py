"""The `/recording` slash command: ack at once, then authorize, parse, call a service and reply."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.blocks.common import audit_message, help_message, role_changed_message, users_message
from bot.blocks.kit import Message
from bot.grammar import (
    Allow,
    Command,
    Help,
    ListRequests,
    ListUsers,
    Pause,
    Resume,
    Revoke,
    ShowAudit,
    ShowSettings,
    parse_command,
)
from bot.listeners import line_settings, pause
from bot.listeners.background import BUSY_TEXT, BackgroundWork
from bot.listeners.edge import ACKED_AT_EDGE
from bot.listeners.replies import message_for_failure, reply_privately
from bot.logs import request_context
from bot.models import Invocation, Role, SlackUser
from bot.services.audit import Outcome
from bot.services.bundle import Services

logger = logging.getLogger(__name__)

SLASH_COMMAND = "/recording"


@dataclass
class CommandRun:
    """Everything a subcommand handler needs for one invocation."""

    invocation: Invocation
    role: Role
    services: Services
    respond: Respond
    client: WebClient
    audit_details: dict[str, Any]

    def reply_privately(self, message: Message) -> None:
        reply_privately(self.respond, message)


Handler = Callable[[CommandRun, Any], None]


def register(app: App, services: Services, work: BackgroundWork) -> None:
    def on_command(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        # Slack allows 3 seconds. Nothing may run before this ack: not the database, not Slack, not
        # an upstream. Every answer goes out afterwards through response_url or the Web API.
        invocation = Invocation(
            user=SlackUser(team_id=str(body.get("team_id", "")), user_id=str(body.get("user_id", ""))),
            channel_id=str(body.get("channel_id", "")),
            request_id=str(context.get("request_id") or ""),
            text=str(body.get("text", "")),
        )

        def run() -> None:
            with request_context(invocation.request_id):
                execute(invocation, services=services, respond=respond, client=client)

        if work.run_after_ack(run, acked=bool(context.get(ACKED_AT_EDGE))):
            ack()
        else:
            ack(text=BUSY_TEXT)

    app.command(SLASH_COMMAND)(on_command)


def execute(invocation: Invocation, *, services: Services, respond: Respond, client: WebClient) -> None:
    """Run one `/recording …` invocation to the end; every outcome is replied to and audited once."""
    name = _subcommand_name(invocation.text)
    details: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        role = services.authorizer.require(invocation.user, Role.REQUESTER, action=name)
        command = parse_command(invocation.text, services.limits)
        handler = _handler_for(command)
        run = CommandRun(invocation, role, services, respond, client, details)
        handler(run, command)
    except Exception as error:  # one place turns every failure into a reply and an audit row
        message, outcome = message_for_failure(error, invocation.request_id)
        if outcome == Outcome.ERROR and message.text.startswith("Something went wrong"):
            logger.exception("command failed: %s", name)
        details.setdefault("error", message.text)
        # Reply first: when the database is the problem, the audit write waits on its lock.
        reply_privately(respond, message)
        _audit(services, invocation, name, outcome, details)
        _log(invocation, name, outcome, started)
        return
    _audit(services, invocation, name, Outcome.OK, details)
    _log(invocation, name, Outcome.OK, started)


def _log(invocation: Invocation, name: str, outcome: str, started: float) -> None:
    logger.info(
        "command %s by %s/%s in %s: %s (%.0f ms after the ack)",
        name, invocation.team_id, invocation.user_id, invocation.channel_id or "-", outcome,
        (time.perf_counter() - started) * 1000,
    )  # fmt: skip


def _audit(services: Services, invocation: Invocation, name: str, outcome: str, details: dict[str, Any]) -> None:
    try:
        services.audit.record(
            invocation,
            action=f"command.{name}",
            outcome=outcome,
            target=str(details.pop("target", "")),
            details=details,
        )
    except Exception:
        # The reply has gone out; a failed audit write must be visible to the operator, not the user.
        logger.exception("could not write the audit row for command.%s", name)


def _subcommand_name(text: str) -> str:
    words = text.split()
    name = words[0].lower() if words else "help"
    return name if name.isascii() and name.isalpha() and len(name) <= 20 else "unknown"


# -- subcommand handlers ---------------------------------------------------------------------------


def _help(run: CommandRun, command: Help) -> None:
    if command.unknown_word is not None:
        run.audit_details["unknown_word"] = command.unknown_word
    run.reply_privately(help_message(unknown_word=command.unknown_word))


def _allow(run: CommandRun, command: Allow) -> None:
    run.audit_details["target"] = command.user_id
    change = run.services.authorizer.grant(run.invocation, command.user_id, command.role)
    run.reply_privately(role_changed_message(change.user_id, change.previous, change.current))


def _revoke(run: CommandRun, command: Revoke) -> None:
    run.audit_details["target"] = command.user_id
    change = run.services.authorizer.revoke(run.invocation, command.user_id)
    run.reply_privately(role_changed_message(change.user_id, change.previous, change.current))


def _users(run: CommandRun, command: ListUsers) -> None:
    run.services.authorizer.require(run.invocation.user, Role.ADMIN, action="users")
    run.reply_privately(users_message(run.services.authorizer.entries(run.invocation.team_id)))


def _audit_log(run: CommandRun, command: ShowAudit) -> None:
    run.services.authorizer.require(run.invocation.user, Role.APPROVER, action="audit")
    run.reply_privately(audit_message(run.services.audit.recent(command.rows)))


_HANDLERS: dict[type[Any], Handler] = {
    Help: _help,
    Allow: _allow,
    Revoke: _revoke,
    ListUsers: _users,
    ShowAudit: _audit_log,
    Pause: pause.pause,
    Resume: pause.resume,
    ListRequests: pause.list_requests,
    ShowSettings: line_settings.show_settings,
}


def _handler_for(command: Command) -> Handler:
    return _HANDLERS[type(command)]
