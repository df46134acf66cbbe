"""Resumes the database has not recorded yet.

A resume is the safe direction, so it goes to the recording system even when its state change cannot be
written first (a full disk, a lock another process holds, PostgreSQL gone). What the database should have
said is kept here, in memory, until it can be written: the scheduler writes it on its next passes, and
meanwhile nothing resumes the same pause a second time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

from bot.models import PauseRequest


@dataclass(frozen=True)
class UnwrittenResume:
    request: PauseRequest
    # Why the state could not be written (plain words, for the log and the reply).
    problem: str
    # Whether the recording system has accepted the resume; False: it must still be sent.
    sent: bool = False
    resumed_by: str = ""
    note: str | None = None
    # The next time to send it (after a failure of the recording system itself).
    next_attempt: datetime | None = None
    attempts: int = 0
    # A resume sent to be safe and not taken: also owed in the database (pause_requests.resume_owed_since),
    # so that it is sent again after a restart or by another instance, and cleared there once taken.
    owed: bool = False


class UnwrittenResumes:
    """The resumes waiting for the database, by request ID. Safe to share between threads."""

    def __init__(self) -> None:
        self._entries: dict[int, UnwrittenResume] = {}
        self._lock = threading.Lock()

    def __contains__(self, request_id: object) -> bool:
        with self._lock:
            return request_id in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def hold(self, entry: UnwrittenResume) -> bool:
        """Keep `entry` unless its request is held already; whether it was new."""
        with self._lock:
            if entry.request.id in self._entries:
                return False
            self._entries[entry.request.id] = entry
            return True

    def update(self, request_id: int, **changes: object) -> None:
        with self._lock:
            current = self._entries.get(request_id)
            if current is not None:
                self._entries[request_id] = replace(current, **changes)  # type: ignore[arg-type]

    def drop(self, request_id: int) -> None:
        with self._lock:
            self._entries.pop(request_id, None)

    def entries(self) -> list[UnwrittenResume]:
        with self._lock:
            return list(self._entries.values())
