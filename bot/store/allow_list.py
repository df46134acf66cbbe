"""The allow-list table: who may use the bot, and in which role."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import AllowListEntry, Role
from bot.store.database import Database


class LastAdminError(Exception):
    """The change would leave the workspace with no admin."""


class AllowListStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def role_of(self, team_id: str, user_id: str) -> Role | None:
        row = self._database.db.execute(
            "SELECT role FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id]
        ).fetchone()
        return Role(row[0]) if row else None

    def entries(self, team_id: str) -> list[AllowListEntry]:
        rows = self._database.db.execute(
            "SELECT team_id, user_id, role, added_by, added_at FROM allow_list WHERE team_id = ? "
            "ORDER BY added_at, user_id",
            [team_id],
        ).fetchall()
        return [_entry(row) for row in rows]

    def admins(self, team_id: str) -> list[str]:
        rows = self._database.db.execute(
            "SELECT user_id FROM allow_list WHERE team_id = ? AND role = ? ORDER BY added_at, user_id",
            [team_id, Role.ADMIN.value],
        ).fetchall()
        return [row[0] for row in rows]

    def put(self, team_id: str, user_id: str, role: Role, *, added_by: str) -> Role | None:
        """Add or change an entry; return the previous role. Demoting the last admin is refused."""
        with self._database.transaction() as db:
            previous = db.execute(
                "SELECT role FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id]
            ).fetchone()
            if previous and previous[0] == Role.ADMIN.value and role is not Role.ADMIN:
                self._refuse_if_last_admin(db, team_id)
            db.execute(
                "INSERT INTO allow_list (team_id, user_id, role, added_by, added_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role, "
                "added_by = excluded.added_by, added_at = excluded.added_at",
                [team_id, user_id, role.value, added_by, _now()],
            )
        return Role(previous[0]) if previous else None

    def add_if_absent(self, team_id: str, user_id: str, role: Role, *, added_by: str) -> bool:
        cursor = self._database.db.execute(
            "INSERT OR IGNORE INTO allow_list (team_id, user_id, role, added_by, added_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [team_id, user_id, role.value, added_by, _now()],
        )
        return cursor.rowcount > 0

    def remove(self, team_id: str, user_id: str) -> Role | None:
        """Remove an entry and return its role (None if absent). Removing the last admin is refused."""
        with self._database.transaction() as db:
            row = db.execute(
                "SELECT role FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id]
            ).fetchone()
            if row is None:
                return None
            if row[0] == Role.ADMIN.value:
                self._refuse_if_last_admin(db, team_id)
            db.execute("DELETE FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id])
        return Role(row[0])

    @staticmethod
    def _refuse_if_last_admin(db: object, team_id: str) -> None:
        count = db.execute(  # type: ignore[attr-defined]
            "SELECT count(*) FROM allow_list WHERE team_id = ? AND role = ?", [team_id, Role.ADMIN.value]
        ).fetchone()[0]
        if count <= 1:
            raise LastAdminError(team_id)


def _entry(row: tuple[str, str, str, str, str]) -> AllowListEntry:
    return AllowListEntry(
        team_id=row[0],
        user_id=row[1],
        role=Role(row[2]),
        added_by=row[3],
        added_at=datetime.fromisoformat(row[4]),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
