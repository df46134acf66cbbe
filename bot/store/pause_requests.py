"""The pause_requests table: every request, its decision and its pause window, changed only atomically."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.models import OPEN_STATES, Channels, PauseRequest, RecordingTarget, RequestState, TargetKind
from bot.store.database import Database, Row, moment_text, placeholders

_COLUMNS = (
    "id, team_id, channel_id, requester_id, target_kind, target, channels, duration_seconds, reason, state, "
    "created_at, expires_at, decided_by, decided_at, paused_at, resume_at, resumed_at, resumed_by, message_ts, "
    "error, attempts, resume_attempts, warning, claimed_by"
)

# Columns a state change may set besides `state` (guards against typos reaching SQL).
_SETTABLE = frozenset(
    {
        "decided_by", "decided_at", "paused_at", "resume_at", "resumed_at", "resumed_by", "message_ts",
        "error", "warning", "claimed_by",
    }
)  # fmt: skip

_OPEN = sorted(state.value for state in OPEN_STATES)


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
        warning: str | None = None,
    ) -> PauseRequest | None:
        """Insert a pending request, unless the target already has an open one (then None).

        A unique index on the open requests' targets decides: of two people asking at once for the same
        extension, on one instance or two, exactly one gets a request.
        """
        row = self._database.one(
            "INSERT INTO pause_requests (team_id, channel_id, requester_id, target_kind, target, channels, "
            "duration_seconds, reason, state, created_at, expires_at, updated_at, attempts, resume_attempts, "
            "warning) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?) "
            f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            [
                team_id, channel_id, requester_id, target.kind.value, target.value, channels.value,
                duration_seconds, reason, RequestState.PENDING.value, _text(created_at), _text(expires_at),
                _text(created_at), warning,
            ],
        )  # fmt: skip
        return _request(row) if row else None

    def get(self, request_id: int) -> PauseRequest | None:
        row = self._database.one(f"SELECT {_COLUMNS} FROM pause_requests WHERE id = ?", [request_id])
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
        expect_claim: str | None = None,
        **fields: Any,
    ) -> PauseRequest | None:
        """Move a request to `to_state` only if it is in one of `from_states` (and, with `expect_claim`, still
        claimed by that instance): one UPDATE, so exactly one of several racing callers wins. Returns the
        updated request for the winner, None for the others."""
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
        condition = f"id = ? AND state IN ({placeholders(sources)})"
        conditions: list[Any] = [request_id, *sources]
        if expect_claim is not None:
            condition += " AND COALESCE(claimed_by, '') = ?"
            conditions.append(expect_claim)
        row = self._database.one(
            f"UPDATE pause_requests SET {', '.join(assignments)} WHERE {condition} RETURNING {_COLUMNS}",
            [*params, *conditions],
        )
        return _request(row) if row else None

    def update_fields(self, request_id: int, **fields: Any) -> PauseRequest | None:
        """Set bookkeeping fields (the card's timestamp) without a state change; the request as it is now."""
        unknown = set(fields) - _SETTABLE
        if unknown or not fields:
            raise ValueError(f"not settable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [_text(v) if isinstance(v, datetime) else v for v in fields.values()]
        row = self._database.one(
            f"UPDATE pause_requests SET {assignments} WHERE id = ? RETURNING {_COLUMNS}", [*values, request_id]
        )
        return _request(row) if row else None

    def in_states(self, states: Iterable[RequestState], *, team_id: str | None = None) -> list[PauseRequest]:
        values = [s.value for s in states]
        sql = f"SELECT {_COLUMNS} FROM pause_requests WHERE state IN ({placeholders(values)})"
        params: list[Any] = values
        if team_id is not None:
            sql += " AND team_id = ?"
            params = [*values, team_id]
        return [_request(row) for row in self._database.all(sql + " ORDER BY id", params)]

    def due_for_expiry(self, now: datetime) -> list[PauseRequest]:
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state = ? AND expires_at <= ? ORDER BY id",
            [RequestState.PENDING.value, _text(now)],
        )
        return [_request(row) for row in rows]

    def due_for_resume(self, now: datetime) -> list[PauseRequest]:
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state = ? AND resume_at <= ? ORDER BY resume_at",
            [RequestState.ACTIVE.value, _text(now)],
        )
        return [_request(row) for row in rows]

    def next_due(self) -> datetime | None:
        """The earliest moment the scheduler has something to do (an expiry or a resume)."""
        row = self._database.one(
            "SELECT min(due) AS due FROM (SELECT min(expires_at) AS due FROM pause_requests WHERE state = ? "
            "UNION ALL SELECT min(resume_at) AS due FROM pause_requests WHERE state = ?) AS deadlines",
            [RequestState.PENDING.value, RequestState.ACTIVE.value],
        )
        return datetime.fromisoformat(row["due"]) if row and row["due"] else None

    def orphaned(self, states: Iterable[RequestState], *, live_instances: list[str]) -> list[PauseRequest]:
        """Requests in these (in-flight) states whose claiming instance is not among the live ones."""
        values = [s.value for s in states]
        live = live_instances or ["(no live instance)"]
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state IN ({placeholders(values)}) "
            f"AND COALESCE(claimed_by, '') NOT IN ({placeholders(live)}) ORDER BY id",
            [*values, *live],
        )
        return [_request(row) for row in rows]

    def open_for_target(self, team_id: str, target: str) -> list[PauseRequest]:
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE team_id = ? AND target = ? AND state IN "
            f"({placeholders(_OPEN)}) ORDER BY id",
            [team_id, target, *_OPEN],
        )
        return [_request(row) for row in rows]


_text = moment_text


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _request(row: Row) -> PauseRequest:
    return PauseRequest(
        id=int(row["id"]),
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        requester_id=row["requester_id"],
        target=RecordingTarget(TargetKind(row["target_kind"]), row["target"]),
        channels=Channels(row["channels"]),
        duration_seconds=int(row["duration_seconds"]),
        reason=row["reason"],
        state=RequestState(row["state"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        decided_by=row["decided_by"],
        decided_at=_moment(row["decided_at"]),
        paused_at=_moment(row["paused_at"]),
        resume_at=_moment(row["resume_at"]),
        resumed_at=_moment(row["resumed_at"]),
        resumed_by=row["resumed_by"],
        message_ts=row["message_ts"],
        error=row["error"],
        attempts=int(row["attempts"] or 0),
        resume_attempts=int(row["resume_attempts"] or 0),
        warning=row["warning"],
        claimed_by=row["claimed_by"],
    )
