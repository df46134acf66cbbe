"""The pause_requests table: every request, its decision and its pause window, changed only atomically."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.models import Channels, PauseRequest, RecordingTarget, RequestState, TargetKind
from bot.store.database import Database

_COLUMNS = (
    "id, team_id, channel_id, requester_id, target_kind, target, channels, duration_seconds, reason, state, "
    "created_at, expires_at, decided_by, decided_at, paused_at, resume_at, resumed_at, resumed_by, message_ts, "
    "error, attempts, resume_attempts, warning"
)

# Columns a state change may set besides `state` (guards against typos reaching SQL).
_SETTABLE = frozenset(
    {
        "decided_by", "decided_at", "paused_at", "resume_at", "resumed_at", "resumed_by", "message_ts",
        "error", "warning",
    }
)  # fmt: skip


class PauseRequestStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def create(
        self,
        *,
        team_id: str,
        channel_id: str,
        requester_id: str,
        target: RecordingTarget,
        channels: Channels,
        duration_seconds: int,
        reason: str,
        created_at: datetime,
        expires_at: datetime,
    ) -> PauseRequest | None:
        """Insert a pending request, unless the target already has an open one (then None).

        The check and the insert share one write transaction, so two people asking at once for the
        same extension cannot both get a request.
        """
        with self._database.transaction() as db:
            open_states = [s.value for s in RequestState if s.is_open]
            clash = db.execute(
                f"SELECT 1 FROM pause_requests WHERE team_id = ? AND target = ? AND state IN "
                f"({', '.join('?' * len(open_states))}) LIMIT 1",
                [team_id, target.value, *open_states],
            ).fetchone()
            if clash:
                return None
            cursor = db.execute(
                "INSERT INTO pause_requests (team_id, channel_id, requester_id, target_kind, target, channels, "
                "duration_seconds, reason, state, created_at, expires_at, updated_at, attempts, resume_attempts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                [
                    team_id, channel_id, requester_id, target.kind.value, target.value, channels.value,
                    duration_seconds, reason, RequestState.PENDING.value, _text(created_at), _text(expires_at),
                    _text(created_at),
                ],
            )  # fmt: skip
            request_id = int(cursor.lastrowid or 0)
        found = self.get(request_id)
        assert found is not None
        return found

    def get(self, request_id: int) -> PauseRequest | None:
        row = self._database.db.execute(f"SELECT {_COLUMNS} FROM pause_requests WHERE id = ?", [request_id]).fetchone()
        return _request(row) if row else None

    def transition(
        self,
        request_id: int,
        *,
        from_states: Iterable[RequestState],
        to_state: RequestState,
        now: datetime,
        count_attempt: bool = False,
        count_resume_attempt: bool = False,
        **fields: Any,
    ) -> PauseRequest | None:
        """Move a request to `to_state` only if it is in one of `from_states`: one UPDATE, so exactly one
        of several racing callers wins. Returns the updated request for the winner, None for the others."""
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise ValueError(f"not settable: {sorted(unknown)}")
        sources = [s.value for s in from_states]
        assignments = ["state = ?", "updated_at = ?"]
        params: list[Any] = [to_state.value, _text(now)]
        for name, value in fields.items():
            assignments.append(f"{name} = ?")
            params.append(_text(value) if isinstance(value, datetime) else value)
        if count_attempt:
            assignments.append("attempts = attempts + 1")
        if count_resume_attempt:
            assignments.append("resume_attempts = resume_attempts + 1")
        cursor = self._database.db.execute(
            f"UPDATE pause_requests SET {', '.join(assignments)} WHERE id = ? AND state IN "
            f"({', '.join('?' * len(sources))})",
            [*params, request_id, *sources],
        )
        if cursor.rowcount != 1:
            return None
        return self.get(request_id)

    def update_fields(self, request_id: int, **fields: Any) -> None:
        """Set bookkeeping fields (card timestamp, warning) without a state change."""
        unknown = set(fields) - _SETTABLE
        if unknown or not fields:
            raise ValueError(f"not settable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [_text(v) if isinstance(v, datetime) else v for v in fields.values()]
        self._database.db.execute(f"UPDATE pause_requests SET {assignments} WHERE id = ?", [*values, request_id])

    def in_states(self, states: Iterable[RequestState], *, team_id: str | None = None) -> list[PauseRequest]:
        values = [s.value for s in states]
        sql = f"SELECT {_COLUMNS} FROM pause_requests WHERE state IN ({', '.join('?' * len(values))})"
        params: list[Any] = values
        if team_id is not None:
            sql += " AND team_id = ?"
            params = [*values, team_id]
        rows = self._database.db.execute(sql + " ORDER BY id", params).fetchall()
        return [_request(row) for row in rows]

    def due_for_expiry(self, now: datetime) -> list[PauseRequest]:
        rows = self._database.db.execute(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state = ? AND expires_at <= ? ORDER BY id",
            [RequestState.PENDING.value, _text(now)],
        ).fetchall()
        return [_request(row) for row in rows]

    def due_for_resume(self, now: datetime) -> list[PauseRequest]:
        rows = self._database.db.execute(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state = ? AND resume_at <= ? ORDER BY resume_at",
            [RequestState.ACTIVE.value, _text(now)],
        ).fetchall()
        return [_request(row) for row in rows]

    def next_due(self) -> datetime | None:
        """The earliest moment the scheduler has something to do (an expiry or a resume)."""
        row = self._database.db.execute(
            "SELECT min(due) FROM (SELECT min(expires_at) AS due FROM pause_requests WHERE state = ? "
            "UNION ALL SELECT min(resume_at) FROM pause_requests WHERE state = ?)",
            [RequestState.PENDING.value, RequestState.ACTIVE.value],
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def open_for_target(self, team_id: str, target: str) -> list[PauseRequest]:
        open_states = [s.value for s in RequestState if s.is_open]
        rows = self._database.db.execute(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE team_id = ? AND target = ? AND state IN "
            f"({', '.join('?' * len(open_states))}) ORDER BY id",
            [team_id, target, *open_states],
        ).fetchall()
        return [_request(row) for row in rows]


def _text(moment: datetime) -> str:
    # Fixed-width UTC text sorts like time, so `expires_at <= ?` compares correctly as text.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _request(row: tuple[Any, ...]) -> PauseRequest:
    return PauseRequest(
        id=row[0],
        team_id=row[1],
        channel_id=row[2],
        requester_id=row[3],
        target=RecordingTarget(TargetKind(row[4]), row[5]),
        channels=Channels(row[6]),
        duration_seconds=row[7],
        reason=row[8],
        state=RequestState(row[9]),
        created_at=datetime.fromisoformat(row[10]),
        expires_at=datetime.fromisoformat(row[11]),
        decided_by=row[12],
        decided_at=_moment(row[13]),
        paused_at=_moment(row[14]),
        resume_at=_moment(row[15]),
        resumed_at=_moment(row[16]),
        resumed_by=row[17],
        message_ts=row[18],
        error=row[19],
        attempts=row[20] or 0,
        resume_attempts=row[21] or 0,
        warning=row[22],
    )
