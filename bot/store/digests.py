"""The digests tables: which day's digest was claimed, by which instance, and where it was posted — so that
however many instances run, each day's digest is posted once, and a day missed while none ran is owed.

`digests` holds the one digest of SLACK_BOT_TOKEN's workspace; `installation_digests` (installable mode) one
per installation, keyed by its scope (a workspace's team ID, or an organisation's enterprise ID). The SQL is
the same on both: a scoped store adds `scope = ?` to every statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.store.database import Database, Row, moment_text

_LOCK = "digests"


@dataclass(frozen=True)
class DigestRecord:
    day: date
    status: str  # "start" (the day the bot first ran: nothing before it is owed), "claimed" or "posted"
    claimed_by: str | None
    posted_at: datetime | None
    channel_id: str | None
    message_ts: str | None
    problems: str


class DigestStore:
    def __init__(self, *, database: Database, scope: str | None = None) -> None:
        self._database = database
        self.scope = scope
        self._table = "digests" if scope is None else "installation_digests"
        # The condition and its parameter that keep every statement to this store's scope.
        self._and = "" if scope is None else " AND scope = ?"
        self._key: list[Any] = [] if scope is None else [scope]

    def for_scope(self, scope: str) -> DigestStore:
        """The digests of one installation (installable mode)."""
        return DigestStore(database=self._database, scope=scope)

    def last_settled(self, *, first_day: date) -> date:
        """The newest day posted (or the day the schedule started); on the first call ever, `first_day`
        becomes the schedule's start, so that days before the bot ever ran are not owed."""
        table, scoped, key = self._table, self._and, self._key
        with self._database.transaction() as tx:
            tx.lock(_LOCK)
            row = tx.one(f"SELECT max(day) AS day FROM {table} WHERE status IN ('start', 'posted'){scoped}", key)
            if row is not None and row["day"] is not None:
                return date.fromisoformat(row["day"])
            any_row = tx.one(f"SELECT min(day) AS day FROM {table} WHERE 1 = 1{scoped}", key)
            if any_row is not None and any_row["day"] is not None:
                # Only claims, none posted yet: the day before the oldest claim is where the schedule began.
                return date.fromordinal(date.fromisoformat(any_row["day"]).toordinal() - 1)
            if self.scope is None:
                tx.run("INSERT INTO digests (day, status) VALUES (?, 'start')", [first_day.isoformat()])
            else:
                tx.run(
                    "INSERT INTO installation_digests (scope, day, status) VALUES (?, ?, 'start')",
                    [self.scope, first_day.isoformat()],
                )
        return first_day

    def unposted_claims(self, *, since: date) -> list[date]:
        """Days from `since` on that an instance claimed and never posted (it died, or Slack refused)."""
        rows = self._database.all(
            f"SELECT day FROM {self._table} WHERE status = 'claimed' AND day >= ?{self._and} ORDER BY day",
            [since.isoformat(), *self._key],
        )
        return [date.fromisoformat(row["day"]) for row in rows]

    def claim(
        self, day: date, *, instance_id: str, now: datetime, stale_before: datetime, start: datetime, end: datetime
    ) -> bool:
        """Claim `day`'s digest for this instance: first claim wins; a claim older than `stale_before` that
        never became a post (its instance died, or Slack refused) may be taken again. One statement."""
        values = [day.isoformat(), moment_text(start), moment_text(end), instance_id, moment_text(now)]
        if self.scope is None:
            insert = "INSERT INTO digests (day, status, period_start, period_end, claimed_by, claimed_at) "
            insert += "VALUES (?, 'claimed', ?, ?, ?, ?) ON CONFLICT (day)"
        else:
            insert = "INSERT INTO installation_digests (scope, day, status, period_start, period_end, claimed_by, "
            insert += "claimed_at) VALUES (?, ?, 'claimed', ?, ?, ?, ?) ON CONFLICT (scope, day)"
            values = [self.scope, *values]
        row = self._database.one(
            f"{insert} DO UPDATE SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at "
            f"WHERE {self._table}.status = 'claimed' AND {self._table}.claimed_at < ? RETURNING day",
            [*values, moment_text(stale_before)],
        )
        return row is not None

    def mark_posted(
        self, day: date, *, instance_id: str, now: datetime, channel_id: str, ts: str, problems: str
    ) -> None:
        self._database.run(
            f"UPDATE {self._table} SET status = 'posted', posted_at = ?, channel_id = ?, message_ts = ?, problems = ? "
            f"WHERE day = ? AND claimed_by = ?{self._and}",
            [moment_text(now), channel_id, ts, problems, day.isoformat(), instance_id, *self._key],
        )

    def get(self, day: date) -> DigestRecord | None:
        row = self._database.one(f"SELECT * FROM {self._table} WHERE day = ?{self._and}", [day.isoformat(), *self._key])
        return _record(row) if row else None

    def all(self) -> list[DigestRecord]:
        rows = self._database.all(f"SELECT * FROM {self._table} WHERE 1 = 1{self._and} ORDER BY day", self._key)
        return [_record(row) for row in rows]


def _record(row: Row) -> DigestRecord:
    return DigestRecord(
        day=date.fromisoformat(row["day"]),
        status=row["status"],
        claimed_by=row["claimed_by"],
        posted_at=datetime.fromisoformat(row["posted_at"]) if row["posted_at"] else None,
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
        problems=row["problems"] or "",
    )
