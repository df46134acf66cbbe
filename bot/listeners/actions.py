"""Button clicks — on cards and on the App Home: ack at once, then hand the decision to the service, which
checks the clicker. A card's answer goes privately into its channel; a Home's (which has no channel) by DM."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.action_ids import (
    ACTION_ABANDON,
    ACTION_APPROVE,
    ACTION_DENY,
    ACTION_RESUME,
    ACTION_RETRY,
    ACTION_SETTINGS_PICK,
)
from bot.blocks.kit import Message
from bot.blocks.line_settings import settings_message
from bot.blocks.pauses import approval_counted_message
from bot.listeners.failures import describe_failure
from bot.listeners.home import HomePublisher
from bot.listeners.replies import send
from bot.logs import request_context
from bot.models import Invocation, Outcome, PauseRequest, RequestState, SlackUser
from bot.models.refusals import MalformedButton
from bot.services.bundle import Services
from bot.services.pauses import PauseService
from bot.serving.background import BUSY_TEXT, BackgroundWork
from bot.serving.edge import ACKED_AT_EDGE

logger = logging.getLogger(__name__)

Decision = Callable[[Invocation, int], PauseRequest]
Reply = Callable[[Message], None]


def register(app: App, services: Services, work: BackgroundWork, homes: HomePublisher | None = None) -> None:
    decisions: dict[str, Decision] = {
        ACTION_APPROVE: services.pauses.approve,
        ACTION_DENY: services.pauses.deny,
        ACTION_RETRY: services.pauses.retry,
        ACTION_ABANDON: services.pauses.abandon,
        ACTION_RESUME: _resume_now(services.pauses),
    }
    for action_id, decide in decisions.items():
        app.action(action_id)(_click_listener(action_id, decide, services, work, homes))
    app.action(ACTION_SETTINGS_PICK)(_settings_pick_listener(services, work))


def _click_listener(
    action_id: str, decide: Decision, services: Services, work: BackgroundWork, homes: HomePublisher | None
) -> Callable[..., None]:
    # Bolt passes arguments by parameter name, so the per-button values are bound by this closure.
    def on_click(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        # The decision calls the recording system; Slack must not wait for it (3-second limit).
        invocation = _invocation(body, str(context.get("request_id") or ""))
        value = _button_value(body)
        reply = _reply_for(body, respond, client, invocation.user_id)
        on_home = _is_home(body)

        def run() -> None:
            with request_context(invocation.request_id):
                handle_click(invocation, action_id, value, decide, services=services, reply=reply)
                if on_home and homes is not None:
                    # The clicker is looking at their Home: show the outcome there now, not after the interval.
                    homes.publish_now(invocation.team_id, invocation.user_id)

        ack()
        if not work.run_after_ack(run, acked=bool(context.get(ACKED_AT_EDGE))):
            reply(Message(BUSY_TEXT, []))

    return on_click


def handle_click(
    invocation: Invocation,
    action_id: str,
    value: str,
    decide: Decision,
    *,
    services: Services,
    reply: Reply,
) -> None:
    name = action_id.removeprefix("recording_")
    details: dict[str, Any] = {"button": action_id}
    target = ""
    group: str | None = None
    try:
        try:
            request_id = _request_id(value)
        except MalformedButton:
            # No service sees a malformed button, so the allow-list gate is passed here.
            services.authorizer.admit(invocation.user, action=name)
            raise
        details["request"] = request_id
        request = decide(invocation, request_id)
        target, group = request.target.value, request.group_name
        details["state"] = request.state.value
        if action_id == ACTION_APPROVE and request.state is RequestState.PENDING:
            # A four-eyes request: this approval counted, another approver is needed.
            reply(approval_counted_message(request))
    except Exception as error:  # the one failure path: a private reply and an audit row
        failure = describe_failure(error, invocation.request_id)
        if failure.unexpected:
            logger.exception("click %s failed", action_id)
        target = failure.target or target
        details["error"] = failure.message.text
        # Reply first: when the database is the problem, the audit write waits on its lock.
        reply(failure.message)
        _audit(services, invocation, name, failure.outcome, target, details, group)
        logger.info(
            "click %s on %s by %s/%s: %s", name, value[:20], invocation.team_id, invocation.user_id, failure.outcome
        )
        return
    _audit(services, invocation, name, Outcome.OK, target, details, group)
    logger.info("click %s on #%s by %s/%s: ok", name, details.get("request"), invocation.team_id, invocation.user_id)


def _settings_pick_listener(services: Services, work: BackgroundWork) -> Callable[..., None]:
    """Show on one line of an ambiguous settings answer: that line's settings replace the answer."""

    def on_pick(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        invocation = _invocation(body, str(context.get("request_id") or ""))
        line_id = _button_value(body)
        reply = _reply_for(body, respond, client, invocation.user_id)

        def run() -> None:
            with request_context(invocation.request_id):
                details: dict[str, Any] = {"line_id": line_id[:200]}
                try:
                    found = services.line_settings.show_line(invocation, line_id)
                    message = Message(*settings_message(found.line, found.settings))
                    send(lambda: respond(text=message.text, blocks=message.blocks, replace_original=True))
                    outcome = Outcome.OK
                except Exception as error:
                    failure = describe_failure(error, invocation.request_id)
                    if failure.unexpected:
                        logger.exception("settings pick failed")
                    reply(failure.message)
                    outcome, details["error"] = failure.outcome, failure.message.text
                _audit(services, invocation, "settings_pick", outcome, line_id[:200], details, None)

        ack()
        if not work.run_after_ack(run, acked=bool(context.get(ACKED_AT_EDGE))):
            reply(Message(BUSY_TEXT, []))

    return on_pick


def _is_home(body: dict[str, Any]) -> bool:
    return (body.get("container") or {}).get("type") == "view"


def _reply_for(body: dict[str, Any], respond: Respond, client: WebClient, user_id: str) -> Reply:
    """Privately where the button was: into a card's channel, or by DM from a Home (which has no channel)."""
    if _is_home(body) or not body.get("response_url"):

        def dm(message: Message) -> None:
            send(lambda: client.chat_postMessage(channel=user_id, text=message.text, blocks=message.blocks or None))

        return dm

    def ephemeral(message: Message) -> None:
        send(
            lambda: respond(
                text=message.text, blocks=message.blocks or None, response_type="ephemeral", replace_original=False
            )
        )

    return ephemeral


def _audit(
    services: Services,
    invocation: Invocation,
    name: str,
    outcome: str,
    target: str,
    details: dict[str, Any],
    group: str | None,
) -> None:
    try:
        services.audit.record(
            invocation, action=f"click.{name}", outcome=outcome, target=target, details=details, group=group
        )
    except Exception:
        logger.exception("could not write the audit row for click.%s", name)


def _resume_now(pauses: PauseService) -> Decision:
    """The Resume now button: resume the request's pause; the request as it ended."""

    def resume_now(invocation: Invocation, request_id: int) -> PauseRequest:
        result = pauses.resume_request(invocation, request_id)
        if result.cancelled:
            return result.cancelled[0]
        current = pauses.get(request_id)
        assert current is not None
        return current

    return resume_now


def _invocation(body: dict[str, Any], request_id: str) -> Invocation:
    user = body.get("user") or {}
    team = body.get("team") or {}
    channel = body.get("channel") or (body.get("container") or {})
    return Invocation(
        # The clicking user's own workspace: in shared channels it differs from the card's.
        user=SlackUser(team_id=str(user.get("team_id") or team.get("id") or ""), user_id=str(user.get("id", ""))),
        channel_id=str(channel.get("id") or channel.get("channel_id") or ""),
        request_id=request_id,
        text=f"button {((body.get('actions') or [{}])[0]).get('action_id', '')}",
    )


def _button_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value", ""))


def _request_id(value: str) -> int:
    # The value came back from Slack, but anyone could craft a click: treat it as untrusted input.
    if not (value.isascii() and value.isdigit()) or len(value) > 12:  # "²" passes isdigit() but not int()
        raise MalformedButton()
    return int(value)
