"""The background loop that expires undecided requests, resumes paused recordings on time, and takes over
what a dead instance left in flight.

Deadlines live in the database, not in memory, so a restarted or redeployed bot picks up exactly where the
old process stopped, and every instance sharing a PostgreSQL database runs this loop: each due expiry or
resume is one conditional write, which exactly one instance wins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from bot.logs import new_request_id, request_context
from bot.services.audit import AuditTrail
from bot.services.instances import InstanceRegistry
from bot.services.pauses import PauseService
from bot.store.database import DatabaseUnavailable
from bot.store.links import SeenEvents

logger = logging.getLogger(__name__)

# The longest the loop sleeps between looks at the database; it wakes sooner for a nearer deadline
# or when this instance stores a new one (other instances' deadlines are seen within this time).
MAX_SLEEP_SECONDS = 2.0
# How often the loop looks for work that a dead instance left in flight.
TAKEOVER_CHECK_SECONDS = 2.0
# How often the audit chain's heads are logged (and once at start).
AUDIT_HEAD_SECONDS = 24 * 3600.0
# How soon a pass that failed is tried again.
RETRY_SECONDS = 1.0
# How long an Events API delivery's ID is remembered, so that Slack's retry of it is handled once: Slack
# retries for about an hour, so two hours cover them with room to spare.
KEEP_EVENT_IDS = timedelta(hours=2)
# How often (by the bot's clock) the IDs older than that are forgotten.
FORGET_EVENTS_EVERY = timedelta(minutes=10)


class SchedulerPassFailed(Exception):
    """Some steps of a pass failed (each logged its reason); the others ran."""


class Scheduler:
    def __init__(
        self,
        *,
        pauses: PauseService,
        instances: InstanceRegistry,
        audit: AuditTrail,
        seen_events: SeenEvents | None = None,
        max_sleep_seconds: float = MAX_SLEEP_SECONDS,
    ) -> None:
        self._pauses = pauses
        self._instances = instances
        self._audit = audit
        self._seen_events = seen_events
        self._next_forget: datetime | None = None
        self._next_audit_heads = 0.0
        self._max_sleep = max_sleep_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_takeover_check = 0.0
        self._step_problems: dict[str, str] = {}
        # More of what dead instances left, each given the live instances (serving/inbox.py's requests).
        self._takeovers: list[tuple[str, Callable[[list[str]], object]]] = []
        # More steps run on every pass (the daily digest), each deciding itself whether it has work.
        self._more_steps: list[tuple[str, Callable[[], object]]] = []

    def also_take_over(self, name: str, step: Callable[[list[str]], object]) -> None:
        """Run `step(live instance IDs)` with each takeover check (and at start); call before start()."""
        self._takeovers.append((name, step))

    def also_run(self, name: str, step: Callable[[], object]) -> None:
        """Run `step()` on every pass, after the expiries and reminders; call before start()."""
        self._more_steps.append((name, step))

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
        """One pass: take over orphaned work, expire what is overdue, remind, resume what is due.
        Any thread may call it."""
        # One ID per pass ties its log lines, audit rows and upstream calls together.
        with request_context("sched-" + new_request_id()):
            # Resumes first, and each step on its own: a database that refuses one step (a lock, a full
            # disk) must not stop the others, least of all a recording's resume.
            failed = []
            for name, step in self._steps():
                if self._stop.is_set():
                    # Stopping: the rest is the next pass's, here or on another instance. With the database
                    # gone each step waits out the pool: the pass would outlast stop()'s join and run on
                    # while the bot closes its database.
                    break
                if not self._survived(name, step):
                    failed.append(name)
            if failed:
                raise SchedulerPassFailed(", ".join(failed))

    def _steps(self) -> list[tuple[str, Callable[[], object]]]:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("resume", self._pauses.resume_due),
            ("audit", self._audit.write_held),
        ]
        if time.monotonic() >= self._next_takeover_check:
            self._next_takeover_check = time.monotonic() + TAKEOVER_CHECK_SECONDS
            steps.append(("takeover", lambda: self._pauses.recover_orphaned(self._instances.live_instances())))
            steps += [(name, partial(self._take_over, step)) for name, step in self._takeovers]
        steps += [
            ("withdraw", self._pauses.withdraw_unlisted),
            ("expire", self._pauses.expire_due),
            ("remind", self._pauses.remind_due),
            *self._more_steps,
        ]
        if time.monotonic() >= self._next_audit_heads:
            self._next_audit_heads = time.monotonic() + AUDIT_HEAD_SECONDS
            steps.append(("audit heads", self._audit.log_heads))
        now = self._pauses.now()
        if self._seen_events is not None and (self._next_forget is None or now >= self._next_forget):
            self._next_forget = now + FORGET_EVENTS_EVERY
            steps.append(("forget events", lambda: self._forget_events(now)))
        return steps

    def _forget_events(self, now: datetime) -> None:
        # Without this the deduplication table grows by every event Slack ever delivered.
        assert self._seen_events is not None
        forgotten = self._seen_events.forget_before(now - KEEP_EVENT_IDS)
        if forgotten:
            logger.debug("scheduler: forgot %s event ID(s) older than %s", forgotten, KEEP_EVENT_IDS)

    def _take_over(self, step: Callable[[list[str]], object]) -> object:
        return step(self._instances.live_instances())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._pauses.schedule_changed.clear()
            try:
                self.tick()
                sleep = self._seconds_until_next_due()
            except Exception:
                # A locked or unreadable database must not kill the loop: try again soon (each failed
                # step has logged why).
                sleep = min(self._max_sleep, RETRY_SECONDS)
            self._pauses.schedule_changed.wait(sleep)

    def _survived(self, name: str, step: Callable[[], object]) -> bool:
        """Run one step; whether it worked. A database problem is logged when it starts and ends, not on
        every pass while it lasts."""
        try:
            step()
        except DatabaseUnavailable as error:
            if self._step_problems.get(name) != str(error):
                logger.warning("scheduler: the %s step cannot use the database (%s); retrying", name, error)
            self._step_problems[name] = str(error)
            return False
        except Exception:
            logger.exception("scheduler: the %s step failed; retrying", name)
            return False
        if self._step_problems.pop(name, None) is not None:
            logger.info("scheduler: the %s step works again", name)
        return True

    def _seconds_until_next_due(self) -> float:
        if self._pauses.has_unwritten:
            return min(self._max_sleep, RETRY_SECONDS)
        due = self._pauses.next_due()
        if due is None:
            return self._max_sleep
        seconds = (due - self._pauses.now()).total_seconds()
        return min(self._max_sleep, max(0.01, seconds))

