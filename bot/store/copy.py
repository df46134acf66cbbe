"""Copying every table the bot keeps from one database into another, empty one (SQLite → PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.database import Database, placeholders

# Table → the columns that order its rows (its primary key). Instances and migrations are not copied:
# the target has its own schema_migrations, and no instance serves it yet.
COPIED_TABLES: dict[str, str] = {
    "allow_list": "team_id, user_id",
    "approver_groups": "team_id, name",
    "pause_requests": "id",
    "request_approvals": "request_id, approver_id",
    "request_notices": "request_id, kind, user_id",
    "audit": "id",
    "audit_verifications": "id",
    "webex_tokens": "id",
    "user_links": "team_id, user_id",
    "change_requests": "id",
    # Tokens are copied as stored, still encrypted: the target is read with the same TOKEN_ENCRYPTION_KEY.
    "slack_installations": "enterprise_id, team_id",
    # The digests posted (and the day each schedule began), so the target owes none of them again.
    "digests": "day",
    "installation_digests": "scope, day",
}
_BATCH = 500


class TargetNotEmpty(Exception):
    """The target already holds rows; copying would mix two histories."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    target_rows: int

    @property
    def complete(self) -> bool:
        return self.source_rows == self.target_rows


def count_rows(database: Database, table: str) -> int:
    row = database.one(f"SELECT count(*) AS n FROM {table}")
    return int(row["n"]) if row else 0


def copy_database(source: Database, target: Database) -> list[TableCopy]:
    """Copy every table in one transaction on the target, then count both sides. The source must not change
    meanwhile (stop the bot first); both schemas are brought up to date before anything is copied."""
    source.migrate()
    target.migrate()
    occupied = [table for table in COPIED_TABLES if count_rows(target, table)]
    if occupied:
        raise TargetNotEmpty(", ".join(occupied))
    with target.transaction() as tx:
        for table, order in COPIED_TABLES.items():
            offset = 0
            while True:
                rows = source.all(f"SELECT * FROM {table} ORDER BY {order} LIMIT ? OFFSET ?", [_BATCH, offset])
                for row in rows:
                    columns = list(row)
                    tx.run(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders(columns)})",
                        [row[column] for column in columns],
                    )
                if len(rows) < _BATCH:
                    break
                offset += _BATCH
            if order == "id":
                target.continue_ids_after_copy(tx, table)
    return [TableCopy(table, count_rows(source, table), count_rows(target, table)) for table in COPIED_TABLES]
