"""Slack's HTTP requests at the edge: verify the signature, acknowledge at once, let Bolt work afterwards.

Slack needs its 200 within 3 seconds. Only the signature check stands before it; parsing, Bolt's
middleware and the listeners all run on the bot's background pool after the response has gone. Two
kinds of request are answered in the response itself, so they are handled before it: the Events API's
URL verification (the challenge), and a form's submission (Slack shows its errors under the inputs only
when they come in the answer).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.listeners.background import BUSY_TEXT, BackgroundWork

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


class SlackEdge:
    def __init__(
        self,
        *,
        bolt: App,
        signing_secret: str,
        work: BackgroundWork,
        first_delivery: Callable[[str], bool] | None = None,
    ) -> None:
        self._bolt = bolt
        # No secret (Socket Mode, which serves no HTTP): every HTTP request is refused.
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._work = work
        # Whether an Events API event ID is seen for the first time (Slack retries an event it thinks lost).
        self._first_delivery = first_delivery

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """The HTTP status and body to answer Slack with, now."""
        refusal = self._refusal(body, headers)
        if refusal is not None:
            status, why = refusal
            logger.info("refused a Slack request: %s", why)
            return status, _INVALID
        text = body.decode("utf-8")  # checked in _refusal
        if headers.get("content-type", "").startswith("application/json"):
            return self._json(text, headers)
        try:
            payload = _form_payload(text)
        except ValueError as error:
            # Signed, yet unreadable: refused here in one line rather than failing later in the background.
            logger.info("refused a Slack request: its payload field is not a JSON object (%s)", error)
            return 400, _INVALID
        if payload is not None and payload.get("type") == "view_submission":
            # Answered in this response: a form's errors can only be shown from here.
            return self._dispatch_now(text, headers)
        return self._queue(text, headers)

    def _refusal(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str] | None:
        """Why a request cannot be Slack's (the HTTP status, and words for the log); None when it is.

        Everything before the signature check comes from anyone on the internet: each check here is one
        that the signature library would otherwise fail on with an exception (a 500 and a traceback)."""
        if self._verifier is None:
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
        if not self._verifier.is_valid(body, timestamp, signature):
            return 401, "its signature does not match (not sent by Slack, or SLACK_SIGNING_SECRET is wrong)"
        return None

    def _json(self, text: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            logger.info("refused a Slack request: its JSON body cannot be read")
            return 400, _INVALID
        if not isinstance(payload, dict):
            logger.info("refused a Slack request: its JSON body is not an object")
            return 400, _INVALID
        if payload.get("type") == "url_verification":
            return 200, json.dumps({"challenge": str(payload.get("challenge", ""))}).encode()
        event_id = payload.get("event_id")
        if isinstance(event_id, str) and event_id and self._first_delivery is not None:
            try:
                first = self._first_delivery(event_id)
            except Exception:
                # Handling a retry twice is better than losing the event: a Home is simply published again.
                logger.warning("could not check whether event %s was seen before", event_id, exc_info=True)
                first = True
            if not first:
                logger.info("event %s delivered again (retry %s); already handled", event_id,
                            headers.get("x-slack-retry-num", "?"))  # fmt: skip
                return 200, b""
        return self._queue(text, headers)

    def _queue(self, text: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        if self._work.submit(lambda: self._dispatch(text, headers)):
            return 200, b""
        return 200, json.dumps({"response_type": "ephemeral", "text": BUSY_TEXT}).encode()

    def _dispatch_now(self, text: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        response = self._bolt.dispatch(BoltRequest(body=text, headers=dict(headers)))
        if response.status >= 400:
            logger.warning("Slack request not handled (HTTP %s): %s", response.status, response.body[:200])
        return (200 if response.status < 400 else response.status), response.body.encode()

    def _dispatch(self, text: str, headers: Mapping[str, str]) -> None:
        request = BoltRequest(body=text, headers=dict(headers), context={ACKED_AT_EDGE: True})
        response = self._bolt.dispatch(request)
        if response.status >= 400:
            logger.warning("Slack request not handled (HTTP %s): %s", response.status, response.body[:200])


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
