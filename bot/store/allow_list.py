"""The allow_list and approver_groups tables: who may use the bot, in which role and group, and each group's
approvals channel and rule."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Literal

from bot.models import Access, AllowListEntry, ApproverGroup, Role
from bot.models.refusals import LastAdmin
from bot.store.database import Database, Row, Statements


class Keep(enum.Enum):
    """Leave the user's group as it is (`allow @user role` without a group)."""

    GROUP = "keep"


KEEP_GROUP: Literal[Keep.GROUP] = Keep.GROUP
GroupChange = str | None | Literal[Keep.GROUP]

_ENTRY = "team_id, user_id, role, added_by, added_at, group_name, workspace_id"


class AllowListStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def role_of(self, team_id: str, user_id: str) -> Role | None:
        access = self.access_of(team_id, user_id)
        return access.role if access else None

    def access_of(self, team_id: str, user_id: str) -> Access | None:
        row = self._database.one(
            "SELECT role, group_name, workspace_id FROM allow_list WHERE team_id = ? AND user_id = ?",
            [team_id, user_id],
        )
        if row is None:
            return None
        return Access(role=Role(row["role"]), group_name=row["group_name"], workspace_id=row["workspace_id"] or None)

    def note_workspace(self, team_id: str, user_id: str, workspace_id: str) -> None:
        """The workspace an organisation's person used the bot from (shown by `users`, `groups`)."""
        self._database.run(
            "UPDATE allow_list SET workspace_id = ? WHERE team_id = ? AND user_id = ?", [workspace_id, team_id, user_id]
        )

    def entries(self, team_id: str) -> list[AllowListEntry]:
        rows = self._database.all(
            f"SELECT {_ENTRY} FROM allow_list WHERE team_id = ? ORDER BY added_at, user_id", [team_id]
        )
        return [_entry(row) for row in rows]

    def admins(self, team_id: str) -> list[str]:
        rows = self._database.all(
            "SELECT user_id FROM allow_list WHERE team_id = ? AND role = ? ORDER BY added_at, user_id",
            [team_id, Role.ADMIN.value],
        )
        return [row["user_id"] for row in rows]

    def put(
        self, team_id: str, user_id: str, role: Role, *, added_by: str, group: GroupChange = KEEP_GROUP,
        workspace_id: str | None = None,
    ) -> AllowListEntry | None:  # fmt: skip
        """Add or change an entry; return the previous one. Demoting the last admin is refused.
        `workspace_id`: the person's workspace where the scope is an organisation (None: keep what is known)."""
        with self._database.transaction() as tx:
            tx.lock(f"allow-list:{team_id}")
            previous = _entry_in(tx, team_id, user_id)
            if previous is not None and previous.role is Role.ADMIN and role is not Role.ADMIN:
                _refuse_if_last_admin(tx, team_id)
            group_name = (previous.group_name if previous else None) if group is KEEP_GROUP else group
            if previous is not None and (previous.role, previous.group_name) == (role, group_name):
                # Nothing changes: keep who added them and when, rather than claim a change that did not happen.
                if workspace_id and previous.workspace_id != workspace_id:
                    tx.run(
                        "UPDATE allow_list SET workspace_id = ? WHERE team_id = ? AND user_id = ?",
                        [workspace_id, team_id, user_id],
                    )
                return previous
            tx.run(
                "INSERT INTO allow_list (team_id, user_id, role, added_by, added_at, group_name, workspace_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role, "
                "added_by = excluded.added_by, added_at = excluded.added_at, group_name = excluded.group_name, "
                "workspace_id = COALESCE(excluded.workspace_id, allow_list.workspace_id)",
                [team_id, user_id, role.value, added_by, _now(), group_name, workspace_id or None],
            )
            if group_name:
                _ensure_group(tx, team_id, group_name, by=added_by)
        return previous

    def add_if_absent(
        self, team_id: str, user_id: str, role: Role, *, added_by: str, workspace_id: str | None = None
    ) -> bool:
        changed = self._database.run(
            "INSERT INTO allow_list (team_id, user_id, role, added_by, added_at, workspace_id) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (team_id, user_id) DO NOTHING",
            [team_id, user_id, role.value, added_by, _now(), workspace_id or None],
        )
        return changed > 0

    def remove(self, team_id: str, user_id: str) -> AllowListEntry | None:
        """Remove an entry and return it (None if absent). Removing the last admin is refused."""
        with self._database.transaction() as tx:
            tx.lock(f"allow-list:{team_id}")
            previous = _entry_in(tx, team_id, user_id)
            if previous is None:
                return None
            if previous.role is Role.ADMIN:
                _refuse_if_last_admin(tx, team_id)
            tx.run("DELETE FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id])
        return previous

    # -- groups ----------------------------------------------------------------------------------

    def group(self, team_id: str, name: str) -> ApproverGroup | None:
        row = self._database.one(
            "SELECT team_id, name, channel_id, approvals FROM approver_groups WHERE team_id = ? AND name = ?",
            [team_id, name],
        )
        return _group(row) if row else None

    def groups(self, team_id: str) -> list[ApproverGroup]:
        rows = self._database.all(
            "SELECT team_id, name, channel_id, approvals FROM approver_groups WHERE team_id = ? ORDER BY name",
            [team_id],
        )
        return [_group(row) for row in rows]

    def configure_group(
        self, team_id: str, name: str, *, by: str, channel_id: str | Literal[Keep.GROUP] | None = KEEP_GROUP,
        approvals: int | None = None,
    ) -> tuple[ApproverGroup | None, ApproverGroup]:  # fmt: skip
        """Create the group if needed and change its channel and/or approvals; (before, after)."""
        with self._database.transaction() as tx:
            before_row = tx.one(
                "SELECT team_id, name, channel_id, approvals FROM approver_groups WHERE team_id = ? AND name = ?",
                [team_id, name],
            )
            _ensure_group(tx, team_id, name, by=by)
            if channel_id is not KEEP_GROUP:
                tx.run(
                    "UPDATE approver_groups SET channel_id = ?, updated_by = ?, updated_at = ? "
                    "WHERE team_id = ? AND name = ?",
                    [channel_id, by, _now(), team_id, name],
                )
            if approvals is not None:
                tx.run(
                    "UPDATE approver_groups SET approvals = ?, updated_by = ?, updated_at = ? "
                    "WHERE team_id = ? AND name = ?",
                    [approvals, by, _now(), team_id, name],
                )
            after_row = tx.one(
                "SELECT team_id, name, channel_id, approvals FROM approver_groups WHERE team_id = ? AND name = ?",
                [team_id, name],
            )
        assert after_row is not None
        return (_group(before_row) if before_row else None), _group(after_row)


def _ensure_group(tx: Statements, team_id: str, name: str, *, by: str) -> None:
    tx.run(
        "INSERT INTO approver_groups (team_id, name, approvals, updated_by, updated_at) VALUES (?, ?, 1, ?, ?) "
        "ON CONFLICT (team_id, name) DO NOTHING",
        [team_id, name, by, _now()],
    )


def _entry_in(tx: Statements, team_id: str, user_id: str) -> AllowListEntry | None:
    row = tx.one(f"SELECT {_ENTRY} FROM allow_list WHERE team_id = ? AND user_id = ?", [team_id, user_id])
    return _entry(row) if row else None


def _refuse_if_last_admin(tx: Statements, team_id: str) -> None:
    row = tx.one(
        "SELECT count(*) AS admins FROM allow_list WHERE team_id = ? AND role = ?", [team_id, Role.ADMIN.value]
    )
    if row is None or int(row["admins"]) <= 1:
        raise LastAdmin(team_id)


def _entry(row: Row) -> AllowListEntry:
    return AllowListEntry(
        team_id=row["team_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        added_by=row["added_by"],
        added_at=datetime.fromisoformat(row["added_at"]),
        group_name=row["group_name"],
        workspace_id=row.get("workspace_id") or None,
    )


def _group(row: Row) -> ApproverGroup:
    return ApproverGroup(
        team_id=row["team_id"],
        name=row["name"],
        channel_id=row["channel_id"],
        approvals=int(row["approvals"] or 1),
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
