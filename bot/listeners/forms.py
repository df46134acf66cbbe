"""The pause form: opened by `/recording pause` alone, the global shortcut and the Home button; its
submission checked at once (errors go back in the HTTP answer, under each input), then the request made
exactly as the typed command makes it."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.action_ids import (
    ACTION_OPEN_PAUSE_FORM,
    INPUT_CHANNEL,
    INPUT_CHANNELS,
    INPUT_DURATION,
    INPUT_REASON,
    INPUT_TARGET,
    PAUSE_FORM,
    PAUSE_SHORTCUT,
)
from bot.blocks.forms import pause_form
from bot.blocks.kit import Message
from bot.blocks.pauses import request_received
from bot.blocks.refusals import NO_LINK, refusal_text
from bot.commands.form import FormErrors, parse_pause_form
from bot.listeners.work import Attempt, fail, record, run_attempt
from bot.logs import request_context
from bot.models import Invocation, Outcome, PauseAsk, SlackUser
from bot.models.refusals import NotAllowed
from bot.services.bundle import Services
from bot.serving.background import BackgroundWork

logger = logging.getLogger(__name__)

# The audit action of a submitted form.
_SUBMIT = "form.pause"


class FormNotOpened(Exception):
    """Slack refused to open the form (the trigger expired, or Slack is unreachable)."""


def open_pause_form(
    client: WebClient, services: Services, *, trigger_id: str, channel_id: str | None, ask_channel: bool
) -> None:
    """Open the pause form now: a trigger ID is good for about 3 seconds, and once."""
    view = pause_form(limits=services.limits, channel_id=channel_id, ask_channel=ask_channel)
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        raise FormNotOpened(str(error.response.get("error", "unknown_error"))) from None
    except (SlackClientError, OSError, ValueError) as error:
        raise FormNotOpened(type(error).__name__) from None


def register(app: App, services: Services, work: BackgroundWork) -> None:
    def on_shortcut(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        _open_from_anywhere(body, client, services, context, origin="shortcut")

    def on_home_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ack()
        _open_from_anywhere(body, client, services, context, origin="home")

    def on_submit(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        # Slack reads errors from this very answer: everything here is quick, the request is made after.
        invocation, ask, channel = _read_submission(body, context, services, ack)
        if ask is None or invocation is None:
            return
        ack()

        def make_request() -> None:
            with request_context(invocation.request_id):
                _make_request(invocation, ask, client, services)

        if not work.submit(make_request):
            _tell(client, invocation, channel, Message("recording-bot is busy; please submit the form again.", []))

    app.shortcut(PAUSE_SHORTCUT)(on_shortcut)
    app.action(ACTION_OPEN_PAUSE_FORM)(on_home_button)
    app.view(PAUSE_FORM)(on_submit)


def _open_from_anywhere(
    body: dict[str, Any], client: WebClient, services: Services, context: BoltContext, *, origin: str
) -> None:
    user = body.get("user") or {}
    team = body.get("team") or {}
    invocation = Invocation(
        user=SlackUser(team_id=str(user.get("team_id") or team.get("id") or ""), user_id=str(user.get("id", ""))),
        channel_id="",
        request_id=str(context.get("request_id") or ""),
        text=f"{origin}: pause form",
    )
    with request_context(invocation.request_id):
        try:
            services.pauses.check_may_ask(invocation)
            open_pause_form(client, services, trigger_id=str(body.get("trigger_id", "")), channel_id=None,
                            ask_channel=True)  # fmt: skip
        except FormNotOpened as error:
            logger.warning("pause form not opened from the %s: %s", origin, error)
            _tell(client, invocation, None, Message(f"Slack did not open the pause form ({error}); try again.", []))
        except Exception as error:
            # Only a failure is audited here: the form's submission is the request.
            attempt = Attempt(invocation, f"form.{origin}", users_group=False)
            fail(attempt, services, error, reply=lambda message: _tell(client, invocation, None, message))


def _read_submission(
    body: dict[str, Any], context: BoltContext, services: Services, ack: Ack
) -> tuple[Invocation | None, PauseAsk | None, str | None]:
    user = body.get("user") or {}
    team = body.get("team") or {}
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    channel = _selected_channel(values) or _metadata_channel(view.get("private_metadata"))
    invocation = Invocation(
        user=SlackUser(team_id=str(user.get("team_id") or team.get("id") or ""), user_id=str(user.get("id", ""))),
        channel_id=channel or "",
        request_id=str(context.get("request_id") or ""),
        text="form: pause",
    )
    # A form opened before the duration was typed sends the chosen option's seconds.
    chosen_seconds = _choice(values, INPUT_DURATION)
    try:
        services.pauses.check_may_ask(invocation)
        ask = parse_pause_form(
            target=_text(values, INPUT_TARGET),
            duration=_text(values, INPUT_DURATION) or (f"{chosen_seconds}s" if chosen_seconds else ""),
            channels=_choice(values, INPUT_CHANNELS),
            reason=_text(values, INPUT_REASON),
            limits=services.limits,
        )
        if not channel:
            raise FormErrors({INPUT_CHANNEL: "Choose the channel for the approval card."})
        if ask.target.is_mine and not services.links.may_resolve_me(invocation):
            raise FormErrors({INPUT_TARGET: NO_LINK})
    except FormErrors as error:
        ack(response_action="errors", errors=error.errors)
        record(Attempt(invocation, _SUBMIT, {"errors": error.errors}), services, Outcome.ERROR)
        return invocation, None, channel
    except NotAllowed as error:
        ack(response_action="errors", errors={INPUT_TARGET: refusal_text(error)})
        record(Attempt(invocation, _SUBMIT, {"error": refusal_text(error)}), services, Outcome.REFUSED)
        return invocation, None, channel
    return invocation, ask, channel


def _make_request(invocation: Invocation, ask: PauseAsk, client: WebClient, services: Services) -> None:
    attempt = Attempt(invocation, _SUBMIT, {"target": ask.target.value})

    def request() -> None:
        asked = services.pauses.request_pause(invocation, ask)
        attempt.details["request"] = asked.request.id
        tell(request_received(asked.request, asked.card_link))

    def tell(message: Message) -> None:
        _tell(client, invocation, invocation.channel_id, message)

    # The one failure path, as for a typed command.
    run_attempt(attempt, services, request, reply=tell)


def _tell(client: WebClient, invocation: Invocation, channel: str | None, message: Message) -> None:
    """Privately, in the channel the form was about; in a DM when that fails or there is none."""
    if channel:
        try:
            client.chat_postEphemeral(
                channel=channel, user=invocation.user_id, text=message.text, blocks=message.blocks or None
            )
            return
        except (SlackApiError, SlackClientError, OSError, ValueError) as error:
            logger.info("no private reply in %s (%s); sending a DM", channel, type(error).__name__)
    try:
        client.chat_postMessage(channel=invocation.user_id, text=message.text, blocks=message.blocks or None)
    except (SlackApiError, SlackClientError, OSError, ValueError) as error:
        logger.warning("could not tell %s about their form: %s", invocation.user_id, type(error).__name__)


def _text(values: dict[str, Any], block: str) -> str:
    return str(((values.get(block) or {}).get(block) or {}).get("value") or "")


def _choice(values: dict[str, Any], block: str) -> str:
    selected = ((values.get(block) or {}).get(block) or {}).get("selected_option") or {}
    return str(selected.get("value") or "")


def _selected_channel(values: dict[str, Any]) -> str | None:
    chosen = ((values.get(INPUT_CHANNEL) or {}).get(INPUT_CHANNEL) or {}).get("selected_conversation")
    return str(chosen) if chosen else None


def _metadata_channel(metadata: object) -> str | None:
    try:
        channel = json.loads(str(metadata or "{}")).get("channel")
    except (ValueError, AttributeError):
        return None
    return str(channel) if channel else None
