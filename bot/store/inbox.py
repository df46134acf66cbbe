"""The inbox table: Slack requests acknowledged and not yet finished, so that a killed bot's are not lost.

A row is written when a command, click or form submission is handed over for its work after the ack, and
deleted when that work has ended, whatever its outcome. What is left belongs to a process that died
first (a SIGKILL, an out-of-memory kill): another start, or another instance, claims it and finishes it.
The body is Slack's own payload, kept as Slack sent it; it holds a response_url, which is a secret for logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.store.database import Database, Row, moment_text, placeholders


@dataclass(frozen=True)
class InboxRow:
    id: int
    instance_id: str
    received_at: datetime
    body: str
    content_type: str
    # How many times the row was claimed from a dead instance (a second claim: the first claimer died too).
    takeovers: int


class InboxStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def add(self, instance_id: str, *, body: str, content_type: str, now: datetime) -> int:
        """Store one request just received; its ID."""
        row = self._database.one(
            "INSERT INTO inbox (instance_id, received_at, body, content_type) VALUES (?, ?, ?, ?) RETURNING id",
            [instance_id, moment_text(now), body, content_type],
        )
        assert row is not None
        return int(row["id"])

    def remove(self, entry_id: int) -> None:
        self._database.run("DELETE FROM inbox WHERE id = ?", [entry_id])

    def claim_orphans(self, instance_id: str, live: Sequence[str]) -> list[InboxRow]:
        """Take every row of an instance that is not live for `instance_id`: one conditional UPDATE, so that
        of two instances claiming together each row goes to one (PostgreSQL re-checks the condition on a row
        another transaction changed first)."""
        alive = list(live) or [instance_id]
        rows = self._database.all(
            f"UPDATE inbox SET instance_id = ?, takeovers = takeovers + 1 "
            f"WHERE instance_id NOT IN ({placeholders(alive)}) "
            "RETURNING id, instance_id, received_at, body, content_type, takeovers",
            [instance_id, *alive],
        )
        return sorted((_row(row) for row in rows), key=lambda row: row.id)

    def count(self) -> int:
        row = self._database.one("SELECT COUNT(*) AS n FROM inbox")
        return int(row["n"]) if row else 0


def _row(row: Row) -> InboxRow:
    return InboxRow(
        id=int(row["id"]),
        instance_id=str(row["instance_id"]),
        received_at=datetime.fromisoformat(row["received_at"]),
        body=str(row["body"]),
        content_type=str(row["content_type"] or ""),
        takeovers=int(row["takeovers"] or 0),
    )
