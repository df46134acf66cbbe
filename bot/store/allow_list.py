"""The allow_list table: who may use the bot, and in which role."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import AllowListEntry, Role
from bot.store.database import Database, Row, Statements


class LastAdminError(Exception):
    """The change would leave the workspace with no admin."""


class AllowListStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def role_of(self, team_id: str, user_id: str) -> Role | None:
        row = self._database.one("SELECT role FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id])
        return Role(row["role"]) if row else None

    def entries(self, team_id: str) -> list[AllowListEntry]:
        rows = self._database.all(
            "SELECT team_id, user_id, role, added_by, added_at FROM allow_list WHERE team_id = ? "
            "ORDER BY added_at, user_id",
            [team_id],
        )
        return [_entry(row) for row in rows]

    def admins(self, team_id: str) -> list[str]:
        rows = self._database.all(
            "SELECT user_id FROM allow_list WHERE team_id = ? AND role = ? ORDER BY added_at, user_id",
            [team_id, Role.ADMIN.value],
        )
        return [row["user_id"] for row in rows]

    def put(self, team_id: str, user_id: str, role: Role, *, added_by: str) -> Role | None:
        """Add or change an entry; return the previous role. Demoting the last admin is refused."""
        with self._database.transaction() as tx:
            previous = self._role_in(tx, team_id, user_id)
            if previous is Role.ADMIN and role is not Role.ADMIN:
                _refuse_if_last_admin(tx, team_id)
            tx.run(
                "INSERT INTO allow_list (team_id, user_id, role, added_by, added_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role, "
                "added_by = excluded.added_by, added_at = excluded.added_at",
                [team_id, user_id, role.value, added_by, _now()],
            )
        return previous

    def add_if_absent(self, team_id: str, user_id: str, role: Role, *, added_by: str) -> bool:
        changed = self._database.run(
            "INSERT INTO allow_list (team_id, user_id, role, added_by, added_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (team_id, user_id) DO NOTHING",
            [team_id, user_id, role.value, added_by, _now()],
        )
        return changed > 0

    def remove(self, team_id: str, user_id: str) -> Role | None:
        """Remove an entry and return its role (None if absent). Removing the last admin is refused."""
        with self._database.transaction() as tx:
            previous = self._role_in(tx, team_id, user_id)
            if previous is None:
                return None
            if previous is Role.ADMIN:
                _refuse_if_last_admin(tx, team_id)
            tx.run("DELETE FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id])
        return previous

    @staticmethod
    def _role_in(tx: Statements, team_id: str, user_id: str) -> Role | None:
        row = tx.one("SELECT role FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id])
        return Role(row["role"]) if row else None


def _refuse_if_last_admin(tx: Statements, team_id: str) -> None:
    row = tx.one(
        "SELECT count(*) AS admins FROM allow_list WHERE team_id = ? AND role = ?", [team_id, Role.ADMIN.value]
    )
    if row is None or int(row["admins"]) <= 1:
        raise LastAdminError(team_id)


def _entry(row: Row) -> AllowListEntry:
    return AllowListEntry(
        team_id=row["team_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        added_by=row["added_by"],
        added_at=datetime.fromisoformat(row["added_at"]),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
