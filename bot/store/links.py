"""The user_links table: which extension belongs to which Slack user (what `me` means in a command)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.store.database import Database, Row


@dataclass(frozen=True)
class UserLink:
    team_id: str
    user_id: str
    extension: str
    source: str
    linked_by: str
    linked_at: datetime


class ExtensionHeld(Exception):
    """The extension is linked to someone else (`holder`): one person per extension and workspace."""

    def __init__(self, holder: UserLink) -> None:
        super().__init__(holder.extension)
        self.holder = holder


@dataclass(frozen=True)
class Linked:
    """What a new link replaced: the user's own earlier link, and the link of whoever held the extension."""

    previous: UserLink | None = None
    taken_from: UserLink | None = None


class LinkStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def of_user(self, team_id: str, user_id: str) -> UserLink | None:
        row = self._database.one(
            "SELECT team_id, user_id, extension, source, linked_by, linked_at FROM user_links "
            "WHERE team_id = ? AND user_id = ?",
            [team_id, user_id],
        )
        return _link(row) if row else None

    def of_extension(self, team_id: str, extension: str) -> UserLink | None:
        row = self._database.one(
            "SELECT team_id, user_id, extension, source, linked_by, linked_at FROM user_links "
            "WHERE team_id = ? AND extension = ? ORDER BY linked_at DESC LIMIT 1",
            [team_id, extension],
        )
        return _link(row) if row else None

    def all(self, team_id: str) -> list[UserLink]:
        rows = self._database.all(
            "SELECT team_id, user_id, extension, source, linked_by, linked_at FROM user_links WHERE team_id = ? "
            "ORDER BY user_id",
            [team_id],
        )
        return [_link(row) for row in rows]

    def put(
        self, team_id: str, user_id: str, extension: str, *, source: str, linked_by: str, take: bool = False
    ) -> Linked:
        """Link the user to the extension. Held by someone else, it is refused (ExtensionHeld), unless `take`:
        then that person's link is removed in the same transaction."""
        with self._database.transaction() as tx:
            # Two people linking one extension at once take turns (the unique index would refuse the second).
            tx.lock(f"links:{team_id}")
            before = tx.one(
                "SELECT team_id, user_id, extension, source, linked_by, linked_at FROM user_links "
                "WHERE team_id = ? AND user_id = ?",
                [team_id, user_id],
            )
            holder = tx.one(
                "SELECT team_id, user_id, extension, source, linked_by, linked_at FROM user_links "
                "WHERE team_id = ? AND extension = ? AND user_id <> ?",
                [team_id, extension, user_id],
            )
            if holder is not None:
                if not take:
                    raise ExtensionHeld(_link(holder))
                tx.run("DELETE FROM user_links WHERE team_id = ? AND user_id = ?", [team_id, holder["user_id"]])
            tx.run(
                "INSERT INTO user_links (team_id, user_id, extension, source, linked_by, linked_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (team_id, user_id) DO UPDATE SET "
                "extension = excluded.extension, source = excluded.source, linked_by = excluded.linked_by, "
                "linked_at = excluded.linked_at",
                [team_id, user_id, extension, source, linked_by, datetime.now(UTC).isoformat(timespec="seconds")],
            )
        return Linked(previous=_link(before) if before else None, taken_from=_link(holder) if holder else None)

    def remove(self, team_id: str, user_id: str) -> UserLink | None:
        row = self._database.one(
            "DELETE FROM user_links WHERE team_id = ? AND user_id = ? "
            "RETURNING team_id, user_id, extension, source, linked_by, linked_at",
            [team_id, user_id],
        )
        return _link(row) if row else None


class SeenEvents:
    """Events API deliveries already handled (`slack_events`): the first claim of an event ID wins."""

    def __init__(self, *, database: Database) -> None:
        self._database = database

    def first_time(self, event_id: str, now: datetime) -> bool:
        return (
            self._database.run(
                "INSERT INTO slack_events (event_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [event_id, now.astimezone(UTC).isoformat(timespec="seconds")],
            )
            > 0
        )

    def forget_before(self, moment: datetime) -> int:
        return self._database.run(
            "DELETE FROM slack_events WHERE seen_at < ?", [moment.astimezone(UTC).isoformat(timespec="seconds")]
        )


def _link(row: Row) -> UserLink:
    return UserLink(
        team_id=row["team_id"],
        user_id=row["user_id"],
        extension=row["extension"],
        source=row["source"] or "",
        linked_by=row["linked_by"] or "",
        linked_at=datetime.fromisoformat(row["linked_at"]),
    )
