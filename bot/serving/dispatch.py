"""Verified Slack requests handed to Bolt: queued after their ack, or answered at once (a form's submission).

The edge (listeners/edge.py) decides which; this is where it happens, in the process that holds the bot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from bot import __version__
from bot.metrics.registry import count_busy
from bot.serving.background import BackgroundWork
from bot.serving.edge import ACKED_AT_EDGE
from bot.serving.inbox import Inbox
from bot.serving.oauth_pages import OAuthPages, Page
from bot.serving.shapes import refuse_malformed
from bot.store.database import Database, DatabaseUnavailable

logger = logging.getLogger(__name__)


class BoltDispatcher:
    """The SlackDispatcher of the process that holds the bot."""

    def __init__(
        self,
        *,
        bolt: App,
        work: BackgroundWork,
        database: Database,
        first_delivery: Callable[[str], bool],
        inbox: Inbox | None = None,
        pages: OAuthPages | None = None,
        mode: str = "single-workspace",
    ) -> None:
        self._bolt = bolt
        self._work = work
        self._database = database
        # Whether an Events API event ID is seen for the first time (Slack retries an event it thinks lost).
        self._first_delivery = first_delivery
        # Where acknowledged requests wait until their work has ended (None: nowhere, lost if the process dies).
        self._inbox = inbox
        # Installable mode's install pages (None in single-workspace mode), and the mode's name for /healthz.
        self._pages = pages
        self._mode = mode

    @property
    def installable(self) -> bool:
        return self._pages is not None

    def page(self, path: str, query: str, headers: Mapping[str, str]) -> Page:
        if self._pages is None:
            return 404, [("Content-Type", "text/plain")], b"not found"
        return self._pages.page(path, query, headers)

    def queue(
        self,
        text: str,
        headers: Mapping[str, str],
        *,
        event_id: str | None,
        urgent: bool = False,
        entry: int | None = None,
    ) -> bool:
        """Queue a request's work after its ack. `entry`: its inbox row, when the HTTP front stored it already."""
        # Stored before it is queued, so a kill from here on leaves it for the next start. Events are not:
        # they are Slack's news (a Home opened), not a person's request, and the next one brings it again.
        if entry is None and self._inbox is not None and event_id is None:
            entry = self._inbox.receive(text, headers)
        finished = self._finisher(entry)
        queued = self._work.submit(lambda: self._dispatch(text, headers, event_id), finished=finished, urgent=urgent)
        if not queued:
            count_busy()
            if finished is not None:
                finished()  # answered as busy: done with
        return queued

    def answer_now(self, text: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        request = _checked_request(text, headers)
        if request is None:
            return 200, b""  # an empty answer: the form closes, nothing was done
        entry = self._inbox.receive(text, headers) if self._inbox is not None else None
        finished = self._finisher(entry)
        if finished is None:
            response = self._run(request)
        else:
            # A form answers first and queues its work itself: the entry ends with that work.
            with self._work.handing_over(finished):
                response = self._run(request)
        return (200 if response.status < 400 else response.status), response.body.encode()

    def _finisher(self, entry: int | None) -> Callable[[], None] | None:
        inbox = self._inbox
        if inbox is None or entry is None:
            return None
        return lambda: inbox.finish(entry)

    def health(self) -> tuple[int, dict[str, Any]]:
        """The health check's HTTP status and body: whether the database takes a write now."""
        try:
            self._database.check_writable()
        except DatabaseUnavailable as error:
            # The log says where and what to do; the answer, which anyone may ask for, names no file or host.
            logger.warning("health check failed: %s", error)
            return 503, {"status": "unavailable", "database": f"cannot be written: {error.reason}",
                         "version": __version__, "mode": self._mode}  # fmt: skip
        return 200, {"status": "ok", "database": "ok", "version": __version__, "mode": self._mode}

    def _dispatch(self, text: str, headers: Mapping[str, str], event_id: str | None) -> None:
        if event_id is not None and not self._seen_first(event_id, headers):
            return
        request = _checked_request(text, headers, context={ACKED_AT_EDGE: True})
        if request is not None:
            self._run(request)

    def _run(self, request: BoltRequest) -> BoltResponse:
        response = self._bolt.dispatch(request)
        if response.status >= 400:
            logger.warning("Slack request not handled (HTTP %s): %s", response.status, response.body[:200])
        return response

    def _seen_first(self, event_id: str, headers: Mapping[str, str]) -> bool:
        try:
            first = self._first_delivery(event_id)
        except Exception:
            # Handling a retry twice is better than losing the event: a Home is simply published again.
            logger.warning("could not check whether event %s was seen before", event_id, exc_info=True)
            return True
        if not first:
            logger.info("event %s delivered again (retry %s); already handled", event_id,
                        headers.get("x-slack-retry-num", "?"))  # fmt: skip
        return first


def _checked_request(
    text: str, headers: Mapping[str, str], *, context: dict[str, Any] | None = None
) -> BoltRequest | None:
    """The request for Bolt; None (and one log line) when its payload is of a shape Slack never sends.

    Checked before Bolt sees it: Bolt reads the user, team and channel while building the request, and its
    own middleware reads the event, before any of the bot's middleware could look."""
    try:
        request = BoltRequest(body=text, headers=dict(headers), context=context)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        logger.info("ignored a malformed Slack request: its user, team or channel cannot be read")
        return None
    return request if not refuse_malformed(request.body) else None
