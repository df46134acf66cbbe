"""`/recording set` and the buttons of a settings change's card: hand the command or click to the change
service, which checks the person; render the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.action_ids import (
    ACTION_CHANGE_ABANDON,
    ACTION_CHANGE_APPROVE,
    ACTION_CHANGE_DENY,
    ACTION_CHANGE_RETRY,
    ACTION_CHANGE_UNDO,
)
from bot.blocks.changes import change_asked_message, change_counted_message
from bot.blocks.kit import Message
from bot.commands.types import SetLineSettings
from bot.listeners.actions import ack_then_run, button_value, click_invocation, clicked_request_id, reply_for
from bot.listeners.command_run import CommandRun
from bot.listeners.work import Attempt, run_attempt
from bot.logs import request_context
from bot.models import Invocation
from bot.models.changes import ChangeRequest, ChangeState
from bot.models.refusals import MalformedButton, WebexNotConfigured
from bot.services.bundle import Services
from bot.services.changes import ChangeService
from bot.serving.background import BackgroundWork


def _service(services: Services) -> ChangeService:
    if services.changes is None:
        raise WebexNotConfigured()
    return services.changes


def set_settings(run: CommandRun, command: SetLineSettings) -> None:
    run.audit_details["target"] = command.line
    run.audit_details["settings"] = dict(command.settings)
    asked = _service(run.services).request_change(run.invocation, command)
    run.audit_details["change"] = asked.request.id
    run.reply_privately(change_asked_message(asked.request, asked.card_link))


def register(app: App, services: Services, work: BackgroundWork) -> None:
    for action_id in (
        ACTION_CHANGE_APPROVE, ACTION_CHANGE_DENY, ACTION_CHANGE_RETRY, ACTION_CHANGE_ABANDON, ACTION_CHANGE_UNDO,
    ):  # fmt: skip
        app.action(action_id)(_click_listener(action_id, services, work))


def _decide(services: Services, action_id: str, invocation: Invocation, request_id: int) -> ChangeRequest | Message:
    changes = _service(services)
    if action_id == ACTION_CHANGE_APPROVE:
        request = changes.approve(invocation, request_id)
        return change_counted_message(request) if request.state is ChangeState.PENDING else request
    if action_id == ACTION_CHANGE_DENY:
        return changes.deny(invocation, request_id)
    if action_id == ACTION_CHANGE_RETRY:
        return changes.retry(invocation, request_id)
    if action_id == ACTION_CHANGE_ABANDON:
        return changes.abandon(invocation, request_id)
    asked = changes.undo(invocation, request_id)
    return change_asked_message(asked.request, asked.card_link)


def _click_listener(action_id: str, services: Services, work: BackgroundWork) -> Callable[..., None]:
    def on_click(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        invocation = click_invocation(body, str(context.get("request_id") or ""))
        value = button_value(body)
        reply = reply_for(body, respond, client, invocation.user_id)
        name = action_id.removeprefix("recording_")
        attempt = Attempt(invocation, f"click.{name}", {"button": action_id}, users_group=False)

        def click() -> None:
            try:
                request_id = clicked_request_id(value)
            except MalformedButton:
                services.authorizer.admit(invocation.user, action=name)
                raise
            attempt.details["change"] = request_id
            outcome = _decide(services, action_id, invocation, request_id)
            if isinstance(outcome, Message):
                reply(outcome)
            else:
                attempt.details.update(target=outcome.line_name, group=outcome.group_name, state=outcome.state.value)

        def run() -> None:
            with request_context(invocation.request_id):
                run_attempt(attempt, services, click, reply=reply)

        ack_then_run(ack, context, work, run, reply=reply)

    return on_click
