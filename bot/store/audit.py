"""The audit table: one row per command, click, decision, state change and upstream call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.store.database import Database


class Outcome:
    OK = "ok"
    REFUSED = "refused"
    ERROR = "error"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    request_id: str
    team_id: str
    user_id: str
    channel_id: str
    action: str
    command: str
    target: str
    outcome: str
    details: str


@dataclass(frozen=True)
class AuditQuery:
    """Filters for reading the audit log back (all optional)."""

    since: datetime | None = None
    until: datetime | None = None
    user_id: str | None = None
    target: str | None = None
    limit: int | None = None


class AuditStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def record(
        self,
        *,
        action: str,
        outcome: str,
        request_id: str = "",
        team_id: str = "",
        user_id: str = "",
        channel_id: str = "",
        command: str = "",
        target: str = "",
        details: str | dict[str, Any] = "",
    ) -> int:
        text = details if isinstance(details, str) else json.dumps(details, sort_keys=True, default=str)
        cursor = self._database.db.execute(
            "INSERT INTO audit (at, request_id, team_id, user_id, channel_id, action, command, target, "
            "outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                datetime.now(UTC).isoformat(timespec="milliseconds"),
                request_id,
                team_id,
                user_id,
                channel_id,
                action,
                command,
                target,
                outcome,
                text,
            ],
        )
        return int(cursor.lastrowid or 0)

    def recent(self, limit: int) -> list[AuditEntry]:
        """The newest `limit` entries, newest first."""
        return self.query(AuditQuery(limit=limit), newest_first=True)

    def query(self, filters: AuditQuery, *, newest_first: bool = False) -> list[AuditEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.since is not None:
            clauses.append("at >= ?")
            params.append(_utc_text(filters.since))
        if filters.until is not None:
            clauses.append("at < ?")
            params.append(_utc_text(filters.until))
        if filters.user_id:
            clauses.append("user_id = ?")
            params.append(filters.user_id)
        if filters.target:
            clauses.append("target = ?")
            params.append(filters.target)
        sql = "SELECT id, at, request_id, team_id, user_id, channel_id, action, command, target, outcome, details "
        sql += "FROM audit"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if filters.limit is not None:
            sql += " LIMIT ?"
            params.append(filters.limit)
        rows = self._database.db.execute(sql, params).fetchall()
        return [
            AuditEntry(
                id=row[0],
                at=datetime.fromisoformat(row[1]),
                request_id=row[2] or "",
                team_id=row[3] or "",
                user_id=row[4] or "",
                channel_id=row[5] or "",
                action=row[6] or "",
                command=row[7] or "",
                target=row[8] or "",
                outcome=row[9] or "",
                details=row[10] or "",
            )
            for row in rows
        ]


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
