"""The audit table: one row per command, click, decision, state change and upstream call. Rows are only added."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.models import AuditEntry, AuditQuery
from bot.store.database import Database, Row

_COLUMNS = "id, at, request_id, team_id, user_id, channel_id, action, command, target, outcome, details"


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
        row = self._database.one(
            "INSERT INTO audit (at, request_id, team_id, user_id, channel_id, action, command, target, "
            "outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        return int(row["id"]) if row else 0

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
        sql = f"SELECT {_COLUMNS} FROM audit"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if filters.limit is not None:
            sql += " LIMIT ?"
            params.append(filters.limit)
        return [_entry(row) for row in self._database.all(sql, params)]


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=datetime.fromisoformat(row["at"]),
        request_id=row["request_id"] or "",
        team_id=row["team_id"] or "",
        user_id=row["user_id"] or "",
        channel_id=row["channel_id"] or "",
        action=row["action"] or "",
        command=row["command"] or "",
        target=row["target"] or "",
        outcome=row["outcome"] or "",
        details=row["details"] or "",
    )


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
