"""The digests table: which day's digest was claimed, by which instance, and where it was posted — so that
however many instances run, each day's digest is posted once, and a day missed while none ran is owed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

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
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def last_settled(self, *, first_day: date) -> date:
        """The newest day posted (or the day the schedule started); on the first call ever, `first_day`
        becomes the schedule's start, so that days before the bot ever ran are not owed."""
        with self._database.transaction() as tx:
            tx.lock(_LOCK)
            row = tx.one("SELECT max(day) AS day FROM digests WHERE status IN ('start', 'posted')")
            if row is not None and row["day"] is not None:
                return date.fromisoformat(row["day"])
            any_row = tx.one("SELECT min(day) AS day FROM digests")
            if any_row is not None and any_row["day"] is not None:
                # Only claims, none posted yet: the day before the oldest claim is where the schedule began.
                return date.fromordinal(date.fromisoformat(any_row["day"]).toordinal() - 1)
            tx.run("INSERT INTO digests (day, status) VALUES (?, 'start')", [first_day.isoformat()])
        return first_day

    def unposted_claims(self, *, since: date) -> list[date]:
        """Days from `since` on that an instance claimed and never posted (it died, or Slack refused)."""
        rows = self._database.all(
            "SELECT day FROM digests WHERE status = 'claimed' AND day >= ? ORDER BY day", [since.isoformat()]
        )
        return [date.fromisoformat(row["day"]) for row in rows]

    def claim(
        self, day: date, *, instance_id: str, now: datetime, stale_before: datetime, start: datetime, end: datetime
    ) -> bool:
        """Claim `day`'s digest for this instance: first claim wins; a claim older than `stale_before` that
        never became a post (its instance died, or Slack refused) may be taken again. One statement."""
        row = self._database.one(
            "INSERT INTO digests (day, status, period_start, period_end, claimed_by, claimed_at) "
            "VALUES (?, 'claimed', ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET claimed_by = excluded.claimed_by, "
            "claimed_at = excluded.claimed_at WHERE digests.status = 'claimed' AND digests.claimed_at < ? "
            "RETURNING day",
            [day.isoformat(), moment_text(start), moment_text(end), instance_id, moment_text(now),
             moment_text(stale_before)],
        )  # fmt: skip
        return row is not None

    def mark_posted(
        self, day: date, *, instance_id: str, now: datetime, channel_id: str, ts: str, problems: str
    ) -> None:
        self._database.run(
            "UPDATE digests SET status = 'posted', posted_at = ?, channel_id = ?, message_ts = ?, problems = ? "
            "WHERE day = ? AND claimed_by = ?",
            [moment_text(now), channel_id, ts, problems, day.isoformat(), instance_id],
        )

    def get(self, day: date) -> DigestRecord | None:
        row = self._database.one("SELECT * FROM digests WHERE day = ?", [day.isoformat()])
        return _record(row) if row else None

    def all(self) -> list[DigestRecord]:
        return [_record(row) for row in self._database.all("SELECT * FROM digests ORDER BY day")]


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
