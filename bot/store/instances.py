"""The instances table: which bot processes serve this database now, each with its last heartbeat."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.store.database import Database, Row, moment_text


@dataclass(frozen=True)
class InstanceRow:
    instance_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime


class InstanceStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def register(
        self,
        instance_id: str,
        *,
        host: str,
        pid: int,
        now: datetime,
        sole: Callable[[InstanceRow], bool] | None = None,
    ) -> list[InstanceRow]:
        """Add this instance and return []. With `sole` (which says whether another instance is alive), add
        it only if no other is: then the live ones are returned and nothing is added. One transaction, so
        two instances starting together cannot both find themselves alone."""
        with self._database.transaction() as tx:
            if sole is not None:
                rows = tx.all("SELECT * FROM instances WHERE instance_id <> ?", [instance_id])
                others = [_instance(row) for row in rows]
                alive = [other for other in others if sole(other)]
                if alive:
                    return alive
                tx.run("DELETE FROM instances WHERE instance_id <> ?", [instance_id])
            tx.run(
                "INSERT INTO instances (instance_id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
                [instance_id, host, pid, moment_text(now), moment_text(now)],
            )
        return []

    def beat(self, instance_id: str, now: datetime) -> bool:
        """Record a heartbeat; False when the row is gone (removed as dead by another instance)."""
        changed = self._database.run(
            "UPDATE instances SET heartbeat_at = ? WHERE instance_id = ?", [moment_text(now), instance_id]
        )
        return changed > 0

    def remove(self, instance_id: str) -> None:
        self._database.run("DELETE FROM instances WHERE instance_id = ?", [instance_id])

    def live_ids(self, alive_since: datetime) -> list[str]:
        """Instances whose last heartbeat is at or after `alive_since`."""
        rows = self._database.all(
            "SELECT instance_id FROM instances WHERE heartbeat_at >= ? ORDER BY instance_id",
            [moment_text(alive_since)],
        )
        return [row["instance_id"] for row in rows]


def _instance(row: Row) -> InstanceRow:
    return InstanceRow(
        instance_id=row["instance_id"],
        host=row["host"] or "",
        pid=int(row["pid"] or 0),
        started_at=datetime.fromisoformat(row["started_at"]),
        heartbeat_at=datetime.fromisoformat(row["heartbeat_at"]),
    )
