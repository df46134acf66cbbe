"""The change_requests table: requests to change a line's call-recording settings, each state change one
conditional UPDATE, approvals counted under the request's lock (as a pause's are)."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.models import Access, Approval, Role
from bot.models.changes import ChangeRequest, ChangeState, SettingChange
from bot.models.lines import LineKind
from bot.store.database import Database, Row, Statements, moment_text, placeholders

_COLUMNS = (
    "id, team_id, channel_id, requester_id, line_kind, line_id, line_name, changes, reason, state, created_at, "
    "expires_at, group_name, approvals_needed, approvals, card_channel_id, message_ts, decided_by, decided_at, "
    "error, attempts, answers, found, undoes_id, undone_by_id"
)
_SETTABLE = frozenset({"message_ts", "decided_by", "decided_at", "error", "answers", "found", "undone_by_id"})


class ChangeApproval(enum.Enum):
    COUNTED = "counted"
    APPROVED = "approved"
    ALREADY_APPROVED_BY_THEM = "already approved by them"
    NOT_PENDING = "not pending"


@dataclass(frozen=True)
class ChangeApproved:
    result: ChangeApproval
    request: ChangeRequest


# Whether a stored vote still counts: (the request, the voter, their allow-list access or None if unlisted).
ChangeVoteCheck = Callable[[ChangeRequest, str, Access | None], bool]


class ChangeRequestStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def create(
        self, *, team_id: str, channel_id: str, requester_id: str, line_kind: LineKind, line_id: str, line_name: str,
        changes: Iterable[SettingChange], reason: str, created_at: datetime, expires_at: datetime,
        group_name: str | None, approvals_needed: int, card_channel_id: str | None, undoes_id: int | None = None,
    ) -> ChangeRequest | None:  # fmt: skip
        """Insert a pending request, unless the line already has an open one (then None: the unique index
        decides between two people asking at once)."""
        row = self._database.one(
            "INSERT INTO change_requests (team_id, channel_id, requester_id, line_kind, line_id, line_name, changes, "
            "reason, state, created_at, expires_at, updated_at, group_name, approvals_needed, approvals, "
            "card_channel_id, attempts, answers, found, undoes_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, 0, '[]', '[]', ?) "
            f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            [
                team_id, channel_id, requester_id, line_kind.value, line_id, line_name, _changes_json(changes), reason,
                ChangeState.PENDING.value, moment_text(created_at), moment_text(expires_at), moment_text(created_at),
                group_name, approvals_needed, card_channel_id, undoes_id,
            ],
        )  # fmt: skip
        return _request(row) if row else None

    def get(self, request_id: int) -> ChangeRequest | None:
        row = self._database.one(f"SELECT {_COLUMNS} FROM change_requests WHERE id = ?", [request_id])
        return _request(row) if row else None

    def open_on_line(self, line_id: str) -> ChangeRequest | None:
        row = self._database.one(
            f"SELECT {_COLUMNS} FROM change_requests WHERE line_id = ? AND state IN (?, ?, ?) ORDER BY id LIMIT 1",
            [line_id, ChangeState.PENDING.value, ChangeState.EXECUTING.value, ChangeState.FAILED.value],
        )
        return _request(row) if row else None

    def transition(
        self, request_id: int, *, from_states: Iterable[ChangeState], to_state: ChangeState, now: datetime,
        count_attempt: bool = False, **fields: Any,
    ) -> ChangeRequest | None:  # fmt: skip
        """Move to `to_state` only from one of `from_states`: one UPDATE, so one of several racing callers wins."""
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise ValueError(f"not settable: {sorted(unknown)}")
        sources = [s.value for s in from_states]
        assignments = ["state = ?", "updated_at = ?"]
        params: list[Any] = [to_state.value, moment_text(now)]
        for name, value in fields.items():
            assignments.append(f"{name} = ?")
            params.append(_column_value(value))
        if count_attempt:
            assignments.append("attempts = attempts + 1")
        row = self._database.one(
            f"UPDATE change_requests SET {', '.join(assignments)} WHERE id = ? AND state IN ({placeholders(sources)}) "
            f"RETURNING {_COLUMNS}",
            [*params, request_id, *sources],
        )
        return _request(row) if row else None

    def update_fields(self, request_id: int, **fields: Any) -> ChangeRequest | None:
        unknown = set(fields) - _SETTABLE
        if unknown or not fields:
            raise ValueError(f"not settable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        row = self._database.one(
            f"UPDATE change_requests SET {assignments} WHERE id = ? RETURNING {_COLUMNS}",
            [*(_column_value(v) for v in fields.values()), request_id],
        )
        return _request(row) if row else None

    def approve(self, request_id: int, *, approver_id: str, now: datetime, counts: ChangeVoteCheck) -> ChangeApproved:
        """Count one approval; the last one needed moves the request pending → executing. One transaction
        under the request's lock; when the count would complete, every vote is checked again with `counts`
        against the allow-list as it is in this transaction (a vote that no longer counts is dropped)."""
        with self._database.transaction() as tx:
            tx.lock(f"change:{request_id}")
            row = tx.one(f"SELECT {_COLUMNS} FROM change_requests WHERE id = ?", [request_id])
            if row is None:
                raise LookupError(request_id)
            current = _request(row)
            if current.state is not ChangeState.PENDING:
                return ChangeApproved(ChangeApproval.NOT_PENDING, current)
            if current.approved_by(approver_id):
                return ChangeApproved(ChangeApproval.ALREADY_APPROVED_BY_THEM, current)
            votes = [*current.approvals, Approval(approver_id=approver_id, at=now)]
            if len(votes) >= current.approvals_needed:
                access = _accesses_in(tx, current.team_id, [v.approver_id for v in votes])
                votes = [v for v in votes if counts(current, v.approver_id, access.get(v.approver_id))]
            if len(votes) >= current.approvals_needed:
                decided = tx.one(
                    "UPDATE change_requests SET state = ?, updated_at = ?, decided_by = ?, decided_at = ?, "
                    f"approvals = ? WHERE id = ? AND state = ? RETURNING {_COLUMNS}",
                    [ChangeState.EXECUTING.value, moment_text(now), approver_id, moment_text(now),
                     _approvals_json(votes), request_id, ChangeState.PENDING.value],
                )  # fmt: skip
                assert decided is not None
                return ChangeApproved(ChangeApproval.APPROVED, _request(decided))
            waiting = tx.one(
                f"UPDATE change_requests SET approvals = ?, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}",
                [_approvals_json(votes), moment_text(now), request_id],
            )
            assert waiting is not None
            return ChangeApproved(ChangeApproval.COUNTED, _request(waiting))

    def due_for_expiry(self, now: datetime) -> list[ChangeRequest]:
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM change_requests WHERE state = ? AND expires_at <= ? ORDER BY id",
            [ChangeState.PENDING.value, moment_text(now)],
        )
        return [_request(row) for row in rows]

    def executing_since(self, before: datetime) -> list[ChangeRequest]:
        """Requests still being written that last changed before `before` (their writer stopped)."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM change_requests WHERE state = ? AND updated_at <= ? ORDER BY id",
            [ChangeState.EXECUTING.value, moment_text(before)],
        )
        return [_request(row) for row in rows]

    def touching(self, start: datetime, end: datetime) -> list[ChangeRequest]:
        """Every request asked or last changed in [start, end), oldest first (the digest's period)."""
        low, high = moment_text(start), moment_text(end)
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM change_requests WHERE (created_at >= ? AND created_at < ?) "
            "OR (updated_at >= ? AND updated_at < ?) ORDER BY id",
            [low, high, low, high],
        )
        return [_request(row) for row in rows]

    def recent(self, team_id: str, limit: int) -> list[ChangeRequest]:
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM change_requests WHERE team_id = ? ORDER BY id DESC LIMIT ?", [team_id, limit]
        )
        return [_request(row) for row in rows]


def _accesses_in(tx: Statements, team_id: str, user_ids: list[str]) -> dict[str, Access]:
    rows = tx.all(
        f"SELECT user_id, role, group_name FROM allow_list WHERE team_id = ? AND user_id IN ({placeholders(user_ids)})",
        [team_id, *user_ids],
    )
    return {row["user_id"]: Access(role=Role(row["role"]), group_name=row["group_name"]) for row in rows}


def _column_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return moment_text(value)
    if isinstance(value, tuple | list):
        return json.dumps([_change_item(v) if isinstance(v, SettingChange) else v for v in value])
    return value


def _change_item(change: SettingChange) -> dict[str, str]:
    return {"name": change.name, "before": change.before, "after": change.after}


def _changes_json(changes: Iterable[SettingChange]) -> str:
    return json.dumps([_change_item(c) for c in changes])


def _parse_changes(text: str | None) -> tuple[SettingChange, ...]:
    return tuple(SettingChange(str(i["name"]), str(i["before"]), str(i["after"])) for i in json.loads(text or "[]"))


def _approvals_json(votes: list[Approval]) -> str:
    return json.dumps([{"by": v.approver_id, "at": moment_text(v.at)} for v in votes])


def _parse_approvals(text: str | None) -> tuple[Approval, ...]:
    return tuple(
        Approval(approver_id=item["by"], at=datetime.fromisoformat(item["at"])) for item in json.loads(text or "[]")
    )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _request(row: Row) -> ChangeRequest:
    return ChangeRequest(
        id=int(row["id"]),
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        requester_id=row["requester_id"],
        line_kind=LineKind(row["line_kind"]),
        line_id=row["line_id"],
        line_name=row["line_name"] or "",
        changes=_parse_changes(row["changes"]),
        reason=row["reason"] or "",
        state=ChangeState(row["state"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        group_name=row["group_name"],
        approvals_needed=int(row["approvals_needed"] or 1),
        approvals=_parse_approvals(row["approvals"]),
        card_channel_id=row["card_channel_id"],
        message_ts=row["message_ts"],
        decided_by=row["decided_by"],
        decided_at=_moment(row["decided_at"]),
        error=row["error"],
        attempts=int(row["attempts"] or 0),
        answers=tuple(json.loads(row["answers"] or "[]")),
        found=_parse_changes(row["found"]),
        undoes_id=int(row["undoes_id"]) if row["undoes_id"] is not None else None,
        undone_by_id=int(row["undone_by_id"]) if row["undone_by_id"] is not None else None,
    )
