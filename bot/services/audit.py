"""The audit trail as the services see it: every command, click, decision and upstream call is written here."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock, utc_now
from bot.logs import request_id_var
from bot.models import AuditEntry, AuditQuery, Invocation, Role, SlackUser
from bot.redaction import SecretRedactor, redactor
from bot.store.audit import AuditStore
from bot.store.database import DatabaseUnavailable

logger = logging.getLogger(__name__)

# Rows the database refused are kept in memory and written again, in order, once it accepts writes.
# Past either bound a row is given up, and logged at ERROR whole, so that the log still holds it.
HELD_ROWS_LIMIT = 10_000
HELD_ROW_MAX_AGE = timedelta(hours=24)


@dataclass
class _HeldRow:
    row: dict[str, Any]
    held_since: datetime
    problem: str
    attempts: int = field(default=1)


class AuditTrail:
    """Writes audit rows. Every service holds one; it checks nobody's role (recording is never refused)."""

    def __init__(
        self,
        *,
        store: AuditStore,
        secrets: SecretRedactor = redactor,
        max_age: timedelta = HELD_ROW_MAX_AGE,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        # When a row happened, by the bot's clock: the daily digest reads a period's rows by the same clock.
        self._clock = clock
        self._secrets = secrets
        self._max_age = max_age
        self._held: deque[_HeldRow] = deque()
        self._held_lock = threading.Lock()
        self._writing_held = threading.Lock()

    def record(
        self,
        invocation: Invocation | None,
        *,
        action: str,
        outcome: str,
        target: str = "",
        details: str | dict[str, Any] = "",
        user_id: str | None = None,
        group: str | None = None,
        team_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Write one audit row. Secrets are masked first: the audit log is read by people. `at`: when it
        happened, if not now.

        Never raises for a database that cannot be written: the row is held and written later (see
        `write_held`), because what is being audited (a resume, above all) must not fail for its record.
        """
        if isinstance(details, dict):
            details = {k: self._secrets(v) if isinstance(v, str) else v for k, v in details.items()}
        else:
            details = self._secrets(details)
        row: dict[str, Any] = {
            "action": action,
            "outcome": outcome,
            # Work without an invocation (the scheduler) still runs under a request ID of its own.
            "request_id": invocation.request_id if invocation else _current_request_id(),
            # Work without an invocation (the scheduler) names the workspace of the request it acts on.
            "team_id": team_id if team_id is not None else (invocation.team_id if invocation else ""),
            "user_id": user_id if user_id is not None else (invocation.user_id if invocation else "system"),
            "channel_id": invocation.channel_id if invocation else "",
            "command": self._secrets(invocation.text) if invocation else "",
            "target": target,
            "details": details,
            "group_name": group,
            "at": at or self._clock(),
        }
        with self._held_lock:
            if self._held:
                # Behind rows already waiting, so that the chain keeps the order things happened in.
                self._hold(row, "earlier rows are still waiting")
                return
        try:
            self._store.record(**row)
        except DatabaseUnavailable as error:
            with self._held_lock:
                self._hold(row, str(error))
            return
        # DEBUG: the row itself is the record; listeners already log one INFO line per request.
        logger.debug("audit action=%s outcome=%s target=%s", action, outcome, target or "-")

    @property
    def held_rows(self) -> int:
        """How many rows wait for the database."""
        with self._held_lock:
            return len(self._held)

    def write_held(self) -> int:
        """Write the held rows, oldest first, until the database refuses again; the number written.
        The scheduler calls this on every pass."""
        written = 0
        # One writer of held rows at a time; the lock on the queue itself is never held across a write,
        # so that new rows are queued at once instead of waiting for a database that may not answer.
        with self._writing_held:
            with self._held_lock:
                self._give_up_old_rows()
            while True:
                with self._held_lock:
                    if not self._held:
                        break
                    held = self._held[0]
                try:
                    self._store.record(**held.row)
                except DatabaseUnavailable as error:
                    held.attempts += 1
                    held.problem = str(error)
                    break
                with self._held_lock:
                    self._held.popleft()
                    waiting = len(self._held)
                written += 1
            if written:
                logger.warning(
                    "wrote %s held audit row(s) now that the database accepts writes; %s still waiting",
                    written, waiting,
                )  # fmt: skip
        return written

    def close(self) -> None:
        """A last attempt at the held rows; those still refused are logged at ERROR, whole."""
        self.write_held()
        with self._held_lock:
            while self._held:
                self._lose(self._held.popleft(), "the bot stopped before the database accepted it")

    def _hold(self, row: dict[str, Any], problem: str) -> None:
        if not self._held:
            logger.warning(
                "could not write an audit row (%s); holding it and retrying until the database accepts writes",
                problem,
            )
        if len(self._held) >= HELD_ROWS_LIMIT:
            self._lose(self._held.popleft(), f"more than {HELD_ROWS_LIMIT} rows were waiting")
        self._held.append(_HeldRow(row=row, held_since=datetime.now(UTC), problem=problem))

    def _give_up_old_rows(self) -> None:
        oldest_kept = datetime.now(UTC) - self._max_age
        while self._held and self._held[0].held_since < oldest_kept:
            self._lose(self._held.popleft(), f"the database refused it for longer than {self._max_age}")

    @staticmethod
    def _lose(held: _HeldRow, why: str) -> None:
        row = {key: value.isoformat() if isinstance(value, datetime) else value for key, value in held.row.items()}
        logger.error(
            "audit row lost (%s; %s attempt(s), last problem: %s): %s",
            why, held.attempts, held.problem, json.dumps(row, sort_keys=True, default=str),
        )  # fmt: skip

    def log_heads(self) -> None:
        """Log each workspace's chain head, so that logs kept elsewhere can later prove the table whole."""
        for team_id, (seq, row_hash) in sorted(self._store.heads().items()):
            logger.info(
                "audit chain head %s:%s:%s (check later with: recording-bot audit --verify --head %s:%s:%s)",
                team_id, seq, row_hash, team_id, seq, row_hash,
            )  # fmt: skip

    def recent(self, limit: int) -> list[AuditEntry]:
        """The newest entries of every workspace, newest first (operators and tests; no role check)."""
        return self._store.recent(limit)

    def query(self, filters: AuditQuery) -> list[AuditEntry]:
        return self._store.query(filters)


def _current_request_id() -> str:
    request_id = request_id_var.get()
    return "" if request_id == "-" else request_id


class RoleGate(Protocol):
    """The allow-list's check (services/allow_list.py's Authorizer), as reading the log needs it."""

    def require(self, user: SlackUser, needed: Role, *, action: str) -> Role: ...


class AuditReader:
    """The audit log as Slack users may read it: approvers and admins only."""

    def __init__(self, *, store: AuditStore, authorizer: RoleGate) -> None:
        self._store = store
        self._authorizer = authorizer

    def recent(
        self, invocation: Invocation, limit: int, *, breakglass_only: bool = False, changes_only: bool = False
    ) -> list[AuditEntry]:
        """The newest `limit` entries of the caller's workspace, newest first (break-glass pauses alone, or
        settings changes alone, if asked)."""
        self._authorizer.require(invocation.user, Role.APPROVER, action="audit")
        query = AuditQuery(
            team_id=invocation.team_id, limit=limit, action="breakglass" if breakglass_only else None,
            action_prefix="change." if changes_only else None,
        )  # fmt: skip
        return self._store.query(query, newest_first=True)
