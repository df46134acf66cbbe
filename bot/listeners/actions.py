"""Button clicks — on cards and on the App Home: ack at once, then hand the decision to the service, which
checks the clicker. A card's answer goes privately into its channel; a Home's (which has no channel) by DM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.action_ids import (
    ACTION_ABANDON,
    ACTION_APPROVE,
    ACTION_BOTH_SIDES,
    ACTION_DENY,
    ACTION_RESUME,
    ACTION_RETRY,
    ACTION_SETTINGS_PICK,
    ACTION_SIDE_ONLY,
)
from bot.blocks.kit import Message
from bot.blocks.line_settings import settings_message
from bot.blocks.pause_answers import approval_counted_message
from bot.blocks.pauses import request_received
from bot.commands.side_choice import read_side_choice
from bot.listeners.home import HomePublisher
from bot.listeners.identity import slack_user
from bot.listeners.replies import send
from bot.listeners.work import Attempt, Reply, run_attempt
from bot.logs import request_context
from bot.models import Invocation, PauseRequest, RequestState
from bot.models.refusals import MalformedButton
from bot.services.bundle import Services
from bot.services.pauses import PauseService
from bot.serving.background import BUSY_TEXT, BackgroundWork
from bot.serving.edge import ACKED_AT_EDGE

Decision = Callable[[Invocation, int], PauseRequest]


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
    for action_id in (ACTION_SIDE_ONLY, ACTION_BOTH_SIDES):
        app.action(action_id)(_side_choice_listener(action_id, services, work))


def _click_listener(
    action_id: str, decide: Decision, services: Services, work: BackgroundWork, homes: HomePublisher | None
) -> Callable[..., None]:
    # Bolt passes arguments by parameter name, so the per-button values are bound by this closure.
    def on_click(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        # The decision calls the recording system; Slack must not wait for it (3-second limit).
        invocation = click_invocation(body, str(context.get("request_id") or ""))
        value = button_value(body)
        reply = reply_for(body, respond, client, invocation.user_id)
        on_home = _is_home(body)

        def run() -> None:
            with request_context(invocation.request_id):
                handle_click(invocation, action_id, value, decide, services=services, reply=reply)
                if on_home and homes is not None:
                    # The clicker is looking at their Home: show the outcome there now, not after the interval.
                    homes.publish_now(invocation.team_id, invocation.user_id)

        ack_then_run(ack, context, work, run, reply=reply)

    return on_click


def ack_then_run(
    ack: Ack, context: BoltContext, work: BackgroundWork, run: Callable[[], None], *, reply: Reply
) -> None:
    """A click's hand-off: acknowledge at once (Slack's 3 seconds), then `run` on the post-ack pool; when the pool
    has no room, the clicker is told so instead of being left without an answer."""
    ack()
    if not work.run_after_ack(run, acked=bool(context.get(ACKED_AT_EDGE))):
        reply(Message(BUSY_TEXT, []))


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
    # The row names the request's target and group, or the target a failure knows (a request decided first).
    attempt = Attempt(invocation, f"click.{name}", {"button": action_id}, users_group=False, failure_names_target=True)

    def click() -> None:
        try:
            request_id = clicked_request_id(value)
        except MalformedButton:
            # No service sees a malformed button, so the allow-list gate is passed here.
            services.authorizer.admit(invocation.user, action=name)
            raise
        attempt.details["request"] = request_id
        request = decide(invocation, request_id)
        attempt.details.update(target=request.target.value, group=request.group_name, state=request.state.value)
        if action_id == ACTION_APPROVE and request.state is RequestState.PENDING:
            # A four-eyes request: this approval counted, another approver is needed.
            reply(approval_counted_message(request))

    run_attempt(attempt, services, click, reply=reply)


def _settings_pick_listener(services: Services, work: BackgroundWork) -> Callable[..., None]:
    """Show on one line of an ambiguous settings answer: that line's settings replace the answer."""

    def on_pick(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        invocation = click_invocation(body, str(context.get("request_id") or ""))
        line_id = button_value(body)
        reply = reply_for(body, respond, client, invocation.user_id)

        def show() -> None:
            found = services.line_settings.show_line(invocation, line_id)
            message = Message(*settings_message(found.line, found.settings))
            send(lambda: respond(text=message.text, blocks=message.blocks, replace_original=True))

        def run() -> None:
            with request_context(invocation.request_id):
                attempt = Attempt(
                    invocation, "click.settings_pick", {"line_id": line_id[:200], "target": line_id[:200]},
                    users_group=False,
                )  # fmt: skip
                run_attempt(attempt, services, show, reply=reply)

        ack_then_run(ack, context, work, run, reply=reply)

    return on_pick


def _side_choice_listener(action_id: str, services: Services, work: BackgroundWork) -> Callable[..., None]:
    """The answer to "which side did you mean?": make the request as chosen; its confirmation replaces the
    question, so the other button cannot be clicked afterwards."""

    def on_choice(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        invocation = click_invocation(body, str(context.get("request_id") or ""))
        value = button_value(body)
        reply = reply_for(body, respond, client, invocation.user_id)

        def choose() -> None:
            choice = read_side_choice(value, services.limits)
            if choice is None:
                # No service sees a malformed button, so the allow-list gate is passed here.
                services.authorizer.admit(invocation.user, action=choice_name)
                raise MalformedButton()
            attempt.details.update(target=choice.ask.target.value, side=choice.ask.channels.value)
            if choice.subcommand == "breakglass":
                asked = services.pauses.break_glass(invocation, choice.ask)
            else:
                asked = services.pauses.request_pause(invocation, choice.ask)
            attempt.details["request"] = asked.request.id
            message = request_received(asked.request, asked.card_link)
            send(lambda: respond(text=message.text, blocks=message.blocks, replace_original=True))

        choice_name = action_id.removeprefix("recording_")
        attempt = Attempt(invocation, f"click.{choice_name}", {"button": action_id}, users_group=True)

        def run() -> None:
            with request_context(invocation.request_id):
                run_attempt(attempt, services, choose, reply=reply)

        ack_then_run(ack, context, work, run, reply=reply)

    return on_choice


def _is_home(body: dict[str, Any]) -> bool:
    return (body.get("container") or {}).get("type") == "view"


def reply_for(body: dict[str, Any], respond: Respond, client: WebClient, user_id: str) -> Reply:
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


def click_invocation(body: dict[str, Any], request_id: str) -> Invocation:
    channel = body.get("channel") or (body.get("container") or {})
    return Invocation(
        # The clicking user's own workspace: in shared channels it differs from the card's.
        user=slack_user(body),
        channel_id=str(channel.get("id") or channel.get("channel_id") or ""),
        request_id=request_id,
        text=f"button {((body.get('actions') or [{}])[0]).get('action_id', '')}",
    )


def button_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value", ""))


def clicked_request_id(value: str) -> int:
    # The value came back from Slack, but anyone could craft a click: treat it as untrusted input.
    if not (value.isascii() and value.isdigit()) or len(value) > 12:  # "²" passes isdigit() but not int()
        raise MalformedButton()
    return int(value)
