"""Slack's HTTP requests at the edge: verify the signature, acknowledge at once, let Bolt work afterwards.

Slack needs its 200 within 3 seconds. Only the signature check stands before it; parsing, Bolt's
middleware and the listeners all run on the bot's background pool after the response has gone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.listeners.background import BUSY_TEXT, BackgroundWork

logger = logging.getLogger(__name__)

# Set in the request context of work acknowledged here, so listeners run it inline instead of queueing again.
ACKED_AT_EDGE = "acked_at_edge"


class SlackEdge:
    def __init__(self, *, bolt: App, signing_secret: str, work: BackgroundWork) -> None:
        self._bolt = bolt
        # No secret (Socket Mode, which serves no HTTP): every HTTP request is refused.
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._work = work

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """The HTTP status and body to answer Slack with, now."""
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        # isdigit first: the verifier calls int() on the timestamp unguarded.
        if self._verifier is None or not (timestamp.isascii() and timestamp.isdigit()):
            return 401, b'{"error": "invalid request"}'
        if not self._verifier.is_valid(body, timestamp, signature):
            return 401, b'{"error": "invalid request"}'
        if self._work.submit(lambda: self._dispatch(body, headers)):
            return 200, b""
        return 200, json.dumps({"response_type": "ephemeral", "text": BUSY_TEXT}).encode()

    def _dispatch(self, body: bytes, headers: Mapping[str, str]) -> None:
        request = BoltRequest(
            body=body.decode("utf-8", "replace"), headers=dict(headers), context={ACKED_AT_EDGE: True}
        )
        response = self._bolt.dispatch(request)
        if response.status >= 400:
            logger.warning("Slack request not handled (HTTP %s): %s", response.status, response.body[:200])
