"""The background loop that expires undecided requests and resumes paused recordings on time.

Deadlines live in SQLite, not in memory, so a restarted or redeployed bot picks up exactly where the
old process stopped: the first tick after start-up finds whatever fell due in between.
"""

from __future__ import annotations

import logging
import threading

from bot.logs import new_request_id, request_context
from bot.services.pauses import PauseService

logger = logging.getLogger(__name__)

# The longest the loop sleeps between looks at the database; it wakes sooner for a nearer deadline
# or when a new one is stored.
MAX_SLEEP_SECONDS = 5.0


class Scheduler:
    def __init__(self, *, pauses: PauseService, max_sleep_seconds: float = MAX_SLEEP_SECONDS) -> None:
        self._pauses = pauses
        self._max_sleep = max_sleep_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="recording-bot-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._pauses.schedule_changed.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def tick(self) -> None:
        """One pass: expire what is overdue, resume what is due. Safe to call from any thread."""
        # One ID per pass ties its log lines, audit rows and upstream calls together.
        with request_context("sched-" + new_request_id()):
            self._pauses.expire_due()
            self._pauses.resume_due()

    def _run(self) -> None:
        try:
            self._pauses.recover_interrupted()
        except Exception:
            logger.exception("could not settle requests interrupted by the last stop")
        while not self._stop.is_set():
            self._pauses.schedule_changed.clear()
            try:
                self.tick()
                sleep = self._seconds_until_next_due()
            except Exception:
                # A locked or unreadable database must not kill the loop: log and try again soon.
                logger.exception("scheduler pass failed; retrying")
                sleep = self._max_sleep
            self._pauses.schedule_changed.wait(sleep)

    def _seconds_until_next_due(self) -> float:
        due = self._pauses.next_due()
        if due is None:
            return self._max_sleep
        seconds = (due - self._pauses.now()).total_seconds()
        return min(self._max_sleep, max(0.01, seconds))
