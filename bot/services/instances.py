"""This process as one instance of the bot: registered in the database, beating its heart, and able to tell
which other instances are alive — so that work a dead instance left in flight is taken over, and so that
an SQLite file is served by one instance only."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from bot.clock import Clock, utc_now
from bot.store.database import DatabaseUnavailable
from bot.store.instances import InstanceRow, InstanceStore

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
# An instance that has not beaten its heart for this long is taken for dead, and its work is taken over.
DEAD_AFTER_SECONDS = 10.0


class AnotherInstanceRunning(Exception):
    """This database allows one instance, and another is alive; `message` says which and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InstanceRegistry:
    def __init__(
        self,
        *,
        store: InstanceStore,
        sole: bool,
        database_name: str,
        clock: Clock = utc_now,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        dead_after_seconds: float = DEAD_AFTER_SECONDS,
    ) -> None:
        self._store = store
        self._sole = sole
        self._database_name = database_name
        self._clock = clock
        self._heartbeat = heartbeat_seconds
        self._dead_after = timedelta(seconds=dead_after_seconds)
        self.instance_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_beat_error: str | None = None

    def start(self, *, wait_seconds: float | None = None) -> None:
        """Register. With a sole-instance database, wait up to `wait_seconds` (by default long enough for a
        crashed predecessor to be taken for dead) for any other live instance to go, then refuse."""
        deadline = time.monotonic() + (self._dead_after.total_seconds() + 2 if wait_seconds is None else wait_seconds)
        while True:
            alive = self._store.register(
                self.instance_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                now=self._clock(),
                sole=self._is_alive if self._sole else None,
            )
            # On this machine liveness is certain (the process exists or not); elsewhere, wait and see
            # whether a crashed predecessor's heartbeat goes stale.
            certain = all(other.host == socket.gethostname() for other in alive)
            if not alive or certain or time.monotonic() >= deadline:
                break
            logger.warning(
                "another instance is registered on %s; waiting to see whether it is alive", self._database_name
            )
            time.sleep(1.0)
        if alive:
            other = alive[0]
            raise AnotherInstanceRunning(
                f"another recording-bot instance is already serving {self._database_name} (host {other.host}, "
                f"pid {other.pid}, started {other.started_at:%Y-%m-%d %H:%M:%S} UTC, last seen "
                f"{other.heartbeat_at:%H:%M:%S} UTC). An SQLite file can be served by one instance only: stop "
                "the other one (it is taken for dead "
                f"{self._dead_after.total_seconds():g} s after its last heartbeat), or set DATABASE_URL to a "
                "PostgreSQL database to run several"
            )
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat_forever, name="recording-bot-heartbeat", daemon=True)
        self._thread.start()
        logger.info("instance %s registered", self.instance_id)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        try:
            self._store.remove(self.instance_id)
        except DatabaseUnavailable as error:
            logger.warning("could not unregister instance %s: %s", self.instance_id, error)

    def live_instances(self) -> list[str]:
        """IDs of the instances alive now (this one included)."""
        live = set(self._store.live_ids(self._clock() - self._dead_after))
        live.add(self.instance_id)
        return sorted(live)

    def _is_alive(self, other: InstanceRow) -> bool:
        if self._clock() - other.heartbeat_at > self._dead_after:
            return False
        if other.host == socket.gethostname() and other.pid > 0:
            # On this machine a dead process is known at once: a restart after a crash need not wait.
            return _process_exists(other.pid) and other.pid != os.getpid()
        return True

    def _beat_forever(self) -> None:
        while not self._stop.wait(self._heartbeat):
            try:
                if not self._store.beat(self.instance_id, self._clock()):
                    # Taken for dead (a long stall): come back, so our own work is not taken over twice.
                    logger.warning("instance %s was taken for dead; registering again", self.instance_id)
                    self._store.register(
                        self.instance_id, host=socket.gethostname(), pid=os.getpid(), now=self._clock()
                    )
                self.last_beat_error = None
            except DatabaseUnavailable as error:
                self.last_beat_error = str(error)
                logger.warning("heartbeat not recorded: %s", error)
            except Exception:
                logger.exception("heartbeat failed")


def _process_exists(pid: int) -> bool:
    """Whether a process with this ID runs on this machine (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # "pid (name) state …": the state follows the last ")" (a name may contain parentheses).
            state = stat.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
