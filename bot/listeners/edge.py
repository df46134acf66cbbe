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
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.listeners.background import BUSY_TEXT, BackgroundWork

logger = logging.getLogger(__name__)

# Set in the request context of work acknowledged here, so listeners run it inline instead of queueing again.
ACKED_AT_EDGE = "acked_at_edge"
# Slack's timestamps are Unix seconds; anything longer is not one.
_MAX_TIMESTAMP_DIGITS = 12

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
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if self._verifier is None:
            return 401, _INVALID
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
            logger.info("refused a Slack request: its timestamp header is not a Unix time")
            return 401, _INVALID
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            logger.info("refused a Slack request: its body is not UTF-8")
            return 400, _INVALID
        if not self._verifier.is_valid(body, timestamp, signature):
            return 401, _INVALID
        if headers.get("content-type", "").startswith("application/json"):
            return self._json(text, headers)
        if "view_submission" in text:
            submission = _view_submission(text)
            if submission:
                # Answered in this response: a form's errors can only be shown from here.
                return self._dispatch_now(text, headers)
        return self._queue(text, headers)

    def _json(self, text: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        try:
            payload = json.loads(text)
        except ValueError:
            logger.info("refused a Slack request: its JSON body cannot be read")
            return 400, _INVALID
        if not isinstance(payload, dict):
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


def _view_submission(form_text: str) -> bool:
    """Whether a form body carries a view submission (parsed only when its text mentions one)."""
    try:
        payload = json.loads(parse_qs(form_text).get("payload", ["{}"])[0])
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("type") == "view_submission"
