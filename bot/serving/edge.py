"""Slack's HTTP requests at the edge: verify the signature, acknowledge at once, let Bolt work afterwards.

Slack needs its 200 within 3 seconds. Only the signature check stands before it; parsing, Bolt's
middleware and the listeners all run after the response has gone, on a SlackDispatcher: the bot's own
pool in the same process (tests, the console), or the bot's process behind `recording-bot serve`'s HTTP
front (bot/serving/), where the work never competes with the next acknowledgement for the interpreter.
Two kinds of request are answered in the response itself, so they are handled before it: the Events
API's URL verification (the challenge), and a form's submission (Slack shows its errors under the
inputs only when they come in the answer).

This module runs in the HTTP front, so it imports neither Bolt nor the bot's services or storage, nor
prometheus_client: each request is counted (kind, outcome, time to its answer) in bot/metrics/tally.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs

from bot.metrics.tally import EDGE, EdgeTally, payload_kind
from bot.serving.background import BUSY_TEXT

logger = logging.getLogger(__name__)

# Set in the request context of work acknowledged here, so listeners run it inline instead of queueing again.
ACKED_AT_EDGE = "acked_at_edge"
# Slack's timestamps are Unix seconds; anything longer is not one.
_MAX_TIMESTAMP_DIGITS = 12
# "v0=" and 64 hex digits; a little room for a future version.
_MAX_SIGNATURE_CHARS = 100
# Slack's rule: a request signed more than 5 minutes ago (or ahead) may be a replay.
_MAX_CLOCK_SKEW_SECONDS = 5 * 60

_INVALID = b'{"error": "invalid request"}'
_UNAVAILABLE = b'{"error": "recording-bot is starting or stopping; try again in a moment"}'
_BUSY_ANSWER = json.dumps({"response_type": "ephemeral", "text": BUSY_TEXT}).encode()

# (HTTP status, body, the request's kind, the outcome): see bot/metrics/tally.py for the kinds and outcomes.
_Answer = tuple[int, bytes, str, str]


class BotUnavailable(Exception):
    """The bot's process cannot take the request (it is starting, stopping, or did not answer in time)."""


class BotSlow(BotUnavailable):
    """The bot's process did not answer in time (it may still handle the request)."""


class SlackDispatcher(Protocol):
    """Where verified requests go: Bolt, in this process or in the bot's process."""

    def queue(self, text: str, headers: Mapping[str, str], *, event_id: str | None, urgent: bool = False) -> bool:
        """Take a request to handle after the ack; False when the bot is at capacity (nothing taken).
        `event_id` is the Events API's ID, so that a delivery Slack retries is handled once; `urgent`: a
        click, whose work goes ahead of commands' (serving/background.py, CLICK_THREADS)."""
        ...

    def answer_now(self, text: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Handle a request whose answer Slack reads from the HTTP response (a form's submission)."""
        ...


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: v0= and the HMAC-SHA256 of `v0:<timestamp>:<body>` under the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackEdge:
    def __init__(self, *, signing_secret: str, dispatcher: SlackDispatcher, tally: EdgeTally = EDGE) -> None:
        # No secret (Socket Mode, which serves no HTTP): every HTTP request is refused.
        self._secret = signing_secret
        self._dispatcher = dispatcher
        self._tally = tally

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """The HTTP status and body to answer Slack with, now."""
        started = time.perf_counter()
        try:
            status, answer, kind, outcome = self._answer(body, headers)
        except BotUnavailable as error:
            logger.warning("could not hand a Slack request to the bot: %s", error)
            status, answer, kind, outcome = 503, _UNAVAILABLE, _kind_of(body, headers), "unavailable"
        # Where the ack is made: what Slack waits for, less the HTTP server's own reading and writing.
        self._tally.count(kind, outcome, time.perf_counter() - started)
        return status, answer

    def _answer(self, body: bytes, headers: Mapping[str, str]) -> _Answer:
        refusal = self._refusal(body, headers)
        if refusal is not None:
            status, why = refusal
            logger.info("refused a Slack request: %s", why)
            return status, _INVALID, "unverified", "refused"
        text = body.decode("utf-8")  # checked in _refusal
        if headers.get("content-type", "").startswith("application/json"):
            return self._json(text, headers)
        try:
            payload = _form_payload(text)
        except ValueError as error:
            # Signed, yet unreadable: refused here in one line rather than failing later in the background.
            logger.info("refused a Slack request: its payload field is not a JSON object (%s)", error)
            return 400, _INVALID, "other", "refused"
        kind = "command" if payload is None else payload_kind(payload.get("type"))
        if kind == "form":
            # Answered in this response: a form's errors can only be shown from here.
            return *self._dispatcher.answer_now(text, headers), kind, "answered"
        return self._queue(text, headers, event_id=None, kind=kind)

    def _refusal(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str] | None:
        """Why a request cannot be Slack's (the HTTP status, and words for the log); None when it is.

        Everything before the signature check comes from anyone on the internet: each check here is one
        that the signature check would otherwise fail on with an exception (a 500 and a traceback)."""
        if not self._secret:
            return 401, "the bot has no SLACK_SIGNING_SECRET, so it takes no HTTP requests"
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if timestamp is None or signature is None:
            return 401, "it has no X-Slack-Request-Timestamp or X-Slack-Signature header"
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
            return 401, "its timestamp header is not a Unix time"
        # hmac.compare_digest refuses non-ASCII text with a TypeError.
        if not (signature.isascii() and signature.startswith("v0=") and len(signature) <= _MAX_SIGNATURE_CHARS):
            return 401, "its signature header is not a Slack signature (v0=…)"
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return 400, "its body is not UTF-8"
        if abs(time.time() - int(timestamp)) > _MAX_CLOCK_SKEW_SECONDS:
            return 401, "its timestamp is more than 5 minutes away from the bot's clock (a replay, or a wrong clock)"
        if not hmac.compare_digest(slack_signature(self._secret, timestamp, body), signature):
            return 401, "its signature does not match (not sent by Slack, or SLACK_SIGNING_SECRET is wrong)"
        return None

    def _json(self, text: str, headers: Mapping[str, str]) -> _Answer:
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            logger.info("refused a Slack request: its JSON body cannot be read")
            return 400, _INVALID, "other", "refused"
        if not isinstance(payload, dict):
            logger.info("refused a Slack request: its JSON body is not an object")
            return 400, _INVALID, "other", "refused"
        if payload.get("type") == "url_verification":
            return 200, json.dumps({"challenge": str(payload.get("challenge", ""))}).encode(), "other", "answered"
        event_id = payload.get("event_id")
        kind = "event" if payload.get("type") == "event_callback" else "other"
        return self._queue(
            text, headers, event_id=event_id if isinstance(event_id, str) and event_id else None, kind=kind
        )

    def _queue(self, text: str, headers: Mapping[str, str], *, event_id: str | None, kind: str) -> _Answer:
        if self._dispatcher.queue(text, headers, event_id=event_id, urgent=kind == "click"):
            return 200, b"", kind, "acked"
        return 200, _BUSY_ANSWER, kind, "busy"


def _kind_of(body: bytes, headers: Mapping[str, str]) -> str:
    """The kind of a verified request the bot's process could not take (read again only on this rare path)."""
    if headers.get("content-type", "").startswith("application/json"):
        return "event"
    try:
        payload = _form_payload(body.decode("utf-8"))
    except ValueError:
        return "other"
    return "command" if payload is None else payload_kind(payload.get("type"))


def _form_payload(form_text: str) -> dict[str, Any] | None:
    """The JSON object in a form body's `payload` field (buttons, shortcuts, forms); None when there is none
    (slash commands). Raises ValueError when the field is there but holds no JSON object."""
    if "payload=" not in form_text:
        return None
    values = parse_qs(form_text).get("payload")
    if not values:
        return None
    try:
        payload = json.loads(values[0])
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("not an object")
    return payload
