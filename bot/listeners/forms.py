"""The pause form: opened by `/recording pause` alone, the global shortcut and the Home button; its
submission checked at once (errors go back in the HTTP answer, under each input), then the request made
exactly as the typed command makes it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import Any

from pydantic import SecretStr
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
from bot.listeners.identity import slack_user
from bot.listeners.work import Attempt, fail, record, run_attempt
from bot.logs import request_context
from bot.models import Invocation, Outcome, PauseAsk
from bot.models.refusals import NotAllowed
from bot.services.bundle import Services
from bot.serving.background import BackgroundWork
from bot.serving.shapes import is_channel_id

logger = logging.getLogger(__name__)

# The audit action of a submitted form.
_SUBMIT = "form.pause"
# Slack keeps at most 3,000 characters of private_metadata; what the bot writes there is far shorter.
_MAX_METADATA_CHARS = 3000
# What a form answered with metadata that does not verify is told (a form opened before the signing
# secret changed; anything else is forged).
_STALE_FORM = "This form can no longer be used: close it and open the pause form again."


class FormNotOpened(Exception):
    """Slack refused to open the form (the trigger expired, or Slack is unreachable)."""


class FormTampered(Exception):
    """A submission's metadata is not what the bot wrote when it opened the form for that user."""


def form_key(secret: SecretStr | None) -> bytes:
    """The key that signs the forms' metadata: derived from the signing secret (in Socket Mode, which
    may have none, from the bot token), so it is the same on every instance and after a restart; with
    neither, one of this process's own."""
    material = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
    return hmac.new(material, b"recording-bot pause form metadata", hashlib.sha256).digest()


def form_metadata(key: bytes, *, user_id: str, channel_id: str) -> str:
    """The form's private_metadata: the channel it was opened for ("" when it asks for one), signed for
    the user it was opened for, so that a submission can carry back nothing the bot did not write."""
    return json.dumps({"channel": channel_id, "signature": _signature(key, user_id, channel_id)})


def _signature(key: bytes, user_id: str, channel_id: str) -> str:
    return hmac.new(key, f"{user_id}\n{channel_id}".encode(), hashlib.sha256).hexdigest()


def read_form_metadata(key: bytes, metadata: object, *, user_id: str) -> str:
    """The channel the form was opened for ("" when it asked for one); FormTampered unless the bot wrote
    exactly this metadata for this user."""
    if not isinstance(metadata, str) or len(metadata) > _MAX_METADATA_CHARS:
        raise FormTampered("its metadata is not what the bot writes")
    try:
        fields = json.loads(metadata)
    except (ValueError, RecursionError):
        raise FormTampered("its metadata is not JSON") from None
    if not isinstance(fields, dict) or set(fields) != {"channel", "signature"}:
        raise FormTampered("its metadata is not what the bot writes")
    channel, signature = fields["channel"], fields["signature"]
    if not isinstance(channel, str) or not isinstance(signature, str):
        raise FormTampered("its metadata is not what the bot writes")
    if not hmac.compare_digest(_signature(key, user_id, channel), signature):
        raise FormTampered("its metadata's signature does not verify for this user")
    if channel and not is_channel_id(channel):
        raise FormTampered("its metadata names no channel")
    return channel


def open_pause_form(
    client: WebClient,
    services: Services,
    *,
    trigger_id: str,
    user_id: str,
    channel_id: str | None,
    ask_channel: bool,
) -> None:
    """Open the pause form now: a trigger ID is good for about 3 seconds, and once."""
    view = pause_form(limits=services.limits, channel_id=channel_id, ask_channel=ask_channel)
    view["private_metadata"] = form_metadata(services.form_key, user_id=user_id, channel_id=channel_id or "")
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
    invocation = Invocation(
        user=slack_user(body),
        channel_id="",
        request_id=str(context.get("request_id") or ""),
        text=f"{origin}: pause form",
    )
    with request_context(invocation.request_id):
        try:
            services.pauses.check_may_ask(invocation)
            open_pause_form(client, services, trigger_id=str(body.get("trigger_id", "")),
                            user_id=invocation.user_id, channel_id=None, ask_channel=True)  # fmt: skip
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
    # The payload's shape was checked before Bolt saw it (serving/shapes.py).
    user = body.get("user") or {}
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    user_id = str(user.get("id", ""))
    tampered: FormTampered | None = None
    try:
        channel = _card_channel(services.form_key, view.get("private_metadata"), values, user_id=user_id)
    except FormTampered as error:
        channel, tampered = None, error
    invocation = Invocation(
        user=slack_user(body, user_id=user_id),
        channel_id=channel or "",
        request_id=str(context.get("request_id") or ""),
        text="form: pause",
    )
    # A form opened before the duration was typed sends the chosen option's seconds.
    chosen_seconds = _choice(values, INPUT_DURATION)
    try:
        # Someone not on the allow-list learns that first, whatever the form carries.
        services.pauses.check_may_ask(invocation)
        if tampered is not None:
            raise tampered
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
    except FormTampered as error:
        logger.warning("refused a pause form: %s", error)
        ack(response_action="errors", errors={INPUT_TARGET: _STALE_FORM})
        record(Attempt(invocation, _SUBMIT, {"error": str(error)}), services, Outcome.REFUSED)
        return invocation, None, None
    return invocation, ask, channel


def _card_channel(key: bytes, metadata: object, values: dict[str, Any], *, user_id: str) -> str | None:
    """Where the card goes: the channel the form was opened for, or (only when the form asked for one) the
    channel chosen in it; None when none was chosen. FormTampered when the form carries back anything else."""
    opened_for = read_form_metadata(key, metadata, user_id=user_id)
    chosen = _selected_channel(values)
    if opened_for:
        # This form had no channel input: a chosen channel was added by whoever sent the submission.
        if INPUT_CHANNEL in values:
            raise FormTampered("it answers a channel input the form did not have")
        return opened_for
    if chosen is not None and not is_channel_id(chosen):
        raise FormTampered("its chosen channel is not a channel ID")
    return chosen


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
