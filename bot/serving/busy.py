"""The "busy" answers of the bot's process: for the requests it had no room for, after the front's 200.

They go out on a few threads of their own, with a bounded number waiting: a flood the bot cannot take
must not cost it a thread (and its stack) per request it refuses. Past that bound a busy answer is
dropped, and the drops are counted in a log line now and then rather than one line each.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from bot.serving.background import BUSY_TEXT

logger = logging.getLogger(__name__)

# Threads that send busy answers: Slack answers a response_url in well under a second, and a slow one holds
# its thread for at most the reply client's timeout.
BUSY_SENDERS = 4
# Busy answers waiting for a sender, at most (each is the request's body, a few kilobytes).
BUSY_WAITING = 256
# How often, at most, a log line counts the busy answers dropped since the last one.
DROPS_LOGGED_EVERY_SECONDS = 10.0
# How long a stop waits for the busy answers still waiting to be sent.
_CLOSE_SECONDS = 2.0
_POLL_SECONDS = 0.1

# Posts a message to a response_url (ResponseUrlClient.post).
Post = Callable[[str, dict[str, Any]], object]


class BusyReplies:
    """Tells the people whose requests the bot had no room for, through their response_urls."""

    def __init__(
        self,
        post: Post,
        *,
        senders: int = BUSY_SENDERS,
        waiting: int = BUSY_WAITING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post = post
        self._clock = clock
        self._waiting: queue.Queue[str] = queue.Queue(waiting)
        self._lock = threading.Lock()
        self._dropped = 0  # since the last log line
        self._dropped_logged_at: float | None = None
        self._closing = threading.Event()
        self._close_by = 0.0
        self._senders = [
            threading.Thread(target=self._send_waiting, name="busy-reply", daemon=True) for _ in range(senders)
        ]
        for sender in self._senders:
            sender.start()

    def say(self, body: str) -> None:
        """Queue the busy answer to the request whose body is `body`; never waits."""
        url = _response_url(body)
        if url is None:
            logger.warning("recording-bot is at capacity and dropped a Slack request that has no response_url")
            return
        try:
            self._waiting.put_nowait(url)
        except queue.Full:
            self._count_drop(1)

    def close(self, *, seconds: float = _CLOSE_SECONDS) -> None:
        """Send what is waiting for up to `seconds`, then drop the rest (counted in the log)."""
        self._close_by = self._clock() + seconds
        self._closing.set()
        for sender in self._senders:
            sender.join(max(0.0, self._close_by - self._clock()) + _POLL_SECONDS)
        left = 0
        while True:
            try:
                self._waiting.get_nowait()
            except queue.Empty:
                break
            left += 1
        with self._lock:
            dropped, self._dropped = self._dropped + left, 0
        if dropped:
            logger.warning("recording-bot dropped %d busy answer(s): it was at capacity, and then stopped", dropped)

    def _send_waiting(self) -> None:
        while True:
            try:
                url = self._waiting.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._closing.is_set():
                    return
                self._log_drops()
                continue
            if self._closing.is_set() and self._clock() >= self._close_by:
                self._waiting.put_nowait(url)  # left for close() to count
                return
            try:
                self._post(url, {"response_type": "ephemeral", "text": BUSY_TEXT})
            except Exception as error:
                logger.warning("recording-bot is at capacity, and could not say so to Slack (%s)", type(error).__name__)

    def _count_drop(self, count: int) -> None:
        with self._lock:
            self._dropped += count
        self._log_drops()

    def _log_drops(self) -> None:
        """One line for the drops since the last, unless that was less than DROPS_LOGGED_EVERY_SECONDS ago
        (the senders call this too, so that the last drops of a flood are counted once it is over)."""
        now = self._clock()
        with self._lock:
            logged_at = self._dropped_logged_at
            if not self._dropped or (logged_at is not None and now - logged_at < DROPS_LOGGED_EVERY_SECONDS):
                return
            dropped, self._dropped, self._dropped_logged_at = self._dropped, 0, now
        logger.warning(
            "recording-bot is at capacity and dropped %d busy answer(s) (%d were already waiting to be sent; "
            "drops are counted here at most every %g s)",
            dropped, self._waiting.maxsize, DROPS_LOGGED_EVERY_SECONDS,
        )  # fmt: skip


def _response_url(body: str) -> str | None:
    """The response_url of a slash command's form, or of an interaction's payload."""
    try:
        form = parse_qs(body)
        if "payload" in form:
            url = json.loads(form["payload"][0]).get("response_url")
        else:
            url = form.get("response_url", [None])[0]
    except (ValueError, AttributeError, RecursionError):
        return None
    return url if isinstance(url, str) and url else None
