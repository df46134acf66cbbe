"""The pause form: opened by `/recording pause` alone, the global shortcut and the Home button; its
submission checked at once (errors go back in the HTTP answer, under each input), then the request made
exactly as the typed command makes it."""

from __future__ import annotations

import json
import logging
import time
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
from bot.grammar import FormErrors, parse_pause_form
from bot.listeners.failures import describe_failure
from bot.logs import request_context
from bot.models import Invocation, Outcome, PauseAsk, SlackUser
from bot.models.refusals import NotAllowed
from bot.services.bundle import Services
from bot.serving.background import BackgroundWork

logger = logging.getLogger(__name__)


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
                _make_request(invocation, ask, client, services, started=time.perf_counter())

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
            failure = describe_failure(error, invocation.request_id)
            if failure.unexpected:
                logger.exception("opening the pause form failed")
            _tell(client, invocation, None, failure.message)
            services.audit.record(invocation, action=f"form.{origin}", outcome=failure.outcome,
                                  details={"error": failure.message.text})  # fmt: skip


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
    try:
        services.pauses.check_may_ask(invocation)
        ask = parse_pause_form(
            target=_text(values, INPUT_TARGET),
            duration=_choice(values, INPUT_DURATION),
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
        _audit(services, invocation, Outcome.ERROR, {"errors": error.errors})
        return invocation, None, channel
    except NotAllowed as error:
        ack(response_action="errors", errors={INPUT_TARGET: refusal_text(error)})
        _audit(services, invocation, Outcome.REFUSED, {"error": refusal_text(error)})
        return invocation, None, channel
    return invocation, ask, channel


def _make_request(
    invocation: Invocation, ask: PauseAsk, client: WebClient, services: Services, *, started: float
) -> None:
    details: dict[str, Any] = {"target": ask.target.value}
    try:
        asked = services.pauses.request_pause(invocation, ask)
    except Exception as error:  # the one failure path, as for a typed command
        failure = describe_failure(error, invocation.request_id)
        if failure.unexpected:
            logger.exception("the pause form's request failed")
        _tell(client, invocation, invocation.channel_id, failure.message)
        _audit(services, invocation, failure.outcome, {**details, "error": failure.message.text})
        return
    details["request"] = asked.request.id
    _tell(client, invocation, invocation.channel_id, request_received(asked.request, asked.card_link))
    _audit(services, invocation, Outcome.OK, details)
    logger.info(
        "form pause by %s/%s: ok (%.0f ms after the ack)",
        invocation.team_id, invocation.user_id, (time.perf_counter() - started) * 1000,
    )  # fmt: skip


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


def _audit(services: Services, invocation: Invocation, outcome: str, details: dict[str, Any]) -> None:
    try:
        services.audit.record(
            invocation, action="form.pause", outcome=outcome, target=str(details.pop("target", "")), details=details,
            group=services.authorizer.group_of(invocation.user),
        )  # fmt: skip
    except Exception:
        logger.exception("could not write the audit row for form.pause")


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
