"""The daily compliance digest: which 24 hours it covers, what happened in them, and posting it once a day
however many instances run (the scheduler calls `post_due` on every pass; one claim in the database wins).

A digest is named by the local date its period ends on (the day it is posted): the digest of 3 December
with DIGEST_TIME 08:00 covers 2 December 08:00 to 3 December 08:00 in DIGEST_TIMEZONE. A day missed while
no instance ran is posted when one comes back (at most CATCH_UP_DAYS of them), marked late; days before the
bot first ran with a digest channel are not owed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.clock import Clock, utc_now
from bot.models import AuditEntry, AuditQuery, Invocation, Outcome, PauseRequest, RequestKind, RequestState, Role
from bot.models.changes import ChangeRequest
from bot.models.digest import (
    BreakGlassPause,
    ChainHead,
    ChartSeries,
    Decision,
    Digest,
    DigestDelivery,
    DigestPeriod,
    Ending,
    GroupFigures,
    Overrun,
)
from bot.models.refusals import DigestNotEnded, DigestNotPosted
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.store.audit import AuditStore
from bot.store.changes import ChangeRequestStore
from bot.store.digests import DigestStore
from bot.store.pauses import PauseRequestStore

logger = logging.getLogger(__name__)

# A pause resumed more than this after its window's end outlived it (an automatic resume takes a moment).
OVERRUN_GRACE = timedelta(seconds=30)
# A digest posted more than this after its period ended is marked late (the bot was not running at its time).
LATE_AFTER = timedelta(minutes=15)
# At most this many missed days are posted when the bot comes back; older ones are left to the CLI.
CATCH_UP_DAYS = 7
# A claim that did not become a post in this long (its instance died, Slack refused) may be taken again.
CLAIM_LEASE = timedelta(minutes=5)
# After a digest could not be posted, look again this soon.
RETRY_AFTER = timedelta(minutes=1)

_ENDED = {
    RequestState.DENIED: "denied",
    RequestState.EXPIRED: "expired",
    RequestState.CANCELLED: "cancelled",
    RequestState.FAILED: "failed",
    RequestState.ABANDONED: "failed",
}


class DigestPublisher(Protocol):
    """Posts a digest to Slack: its text, then its chart and its audit rows as files (listeners/digest.py).
    Raises DigestNotPosted when the text itself was not taken; a chart or file problem is in the delivery."""

    def publish(self, digest: Digest, rows: list[AuditEntry], *, channel: str, scope: str = "") -> DigestDelivery:
        """`scope`: whose token posts it (installable mode: that installation's; else the one token)."""
        ...


class DigestInstallations(Protocol):
    """Installable mode: the installations the digest is posted for, each with its own channel."""

    def __call__(self) -> Iterable[tuple[str, str | None]]:
        """(scope, its digest channel or None) of every installation that has its tokens now."""
        ...


@dataclass(frozen=True)
class DigestSchedule:
    """When digests are due: `at` local time in `zone` every day."""

    at: time
    zone: str

    @classmethod
    def parse(cls, at: str, zone: str) -> DigestSchedule:
        hours, minutes = at.split(":")
        return cls(at=time(int(hours), int(minutes)), zone=zone)

    def period_of(self, day: date) -> DigestPeriod:
        """The period of the digest of `day`: from its time the day before to its time on `day`."""
        zone = ZoneInfo(self.zone)
        end = datetime.combine(day, self.at, tzinfo=zone).astimezone(UTC)
        start = datetime.combine(day - timedelta(days=1), self.at, tzinfo=zone).astimezone(UTC)
        return DigestPeriod(day=day, start=start, end=end, zone=self.zone)

    def last_ended(self, now: datetime) -> DigestPeriod:
        """The newest period that has ended by `now`."""
        today = now.astimezone(ZoneInfo(self.zone)).date()
        period = self.period_of(today)
        return period if period.end <= now else self.period_of(today - timedelta(days=1))

    def next_end(self, now: datetime) -> datetime:
        return self.period_of(self.last_ended(now).day + timedelta(days=1)).end


class DigestBuilder:
    """Reads what the digest says from the store: no roles, no Slack (the CLI builds digests too)."""

    def __init__(
        self, *, pauses: PauseRequestStore, audit: AuditStore, changes: ChangeRequestStore | None = None
    ) -> None:
        self._pauses = pauses
        self._audit = audit
        self._changes = changes

    def build(
        self, period: DigestPeriod, *, team_id: str | None = None, late_by: timedelta | None = None
    ) -> tuple[Digest, list[AuditEntry]]:
        """The digest of `period` (of one workspace, or every one), and the period's audit rows."""
        touched = [
            (request, updated)
            for request, updated in self._pauses.touching(period.start, period.end)
            if team_id is None or request.team_id == team_id
        ]
        spans = [(request, span) for request, updated in touched if (span := _paused_span(request, updated, period))]
        rows = self._audit.query(AuditQuery(since=period.start, until=period.end, team_id=team_id))
        heads = self._audit.heads_before(period.end)
        digest = Digest(
            period=period,
            overruns=tuple(_overruns(touched, period)),
            groups=tuple(_groups(spans, period)),
            breakglass=tuple(_breakglass(touched, spans, period)),
            decisions=tuple(_decisions(touched, period)),
            endings=tuple(_endings(touched, period)),
            heads=tuple(
                ChainHead(team, seq, digest)
                for team, (seq, digest) in sorted(heads.items())
                if team_id is None or team == team_id
            ),
            chart=_chart(spans, period),
            audit_rows=len(rows),
            late_by=late_by,
            settings_changes=self._settings_changes(period, team_id=team_id),
        )
        return digest, rows

    def _settings_changes(self, period: DigestPeriod, *, team_id: str | None) -> tuple[ChangeRequest, ...]:
        """The requests to change a line's call-recording settings asked or decided in the period."""
        if self._changes is None:
            return ()
        return tuple(
            request for request in self._changes.touching(period.start, period.end)
            if team_id is None or request.team_id == team_id
        )  # fmt: skip


class DigestService:
    """The daily digest: posted at its time into DIGEST_CHANNEL by the scheduler, or now by an admin.

    With SLACK_BOT_TOKEN, one digest a day covers the database (every scope in it). In installable mode
    (`installations` given), each installation has its own: its scope's rows and chain head, into its own
    channel, with its own token, claimed once a day per scope."""

    def __init__(
        self,
        *,
        builder: DigestBuilder,
        store: DigestStore,
        schedule: DigestSchedule,
        authorizer: Authorizer,
        audit: AuditTrail,
        instance_id: str,
        channel: str | None,
        clock: Clock = utc_now,
        installations: DigestInstallations | None = None,
    ) -> None:
        self._builder = builder
        self._store = store
        self.schedule = schedule
        self._authorizer = authorizer
        self._audit = audit
        self._instance_id = instance_id
        self.channel = channel
        self._clock = clock
        self._installations = installations
        self._publisher: DigestPublisher | None = None
        self._next_look: datetime | None = None

    def begin(self, scope: str) -> None:
        """An installation was added (installable mode): its schedule begins with the last period that ended,
        so its first digest is the next one due, and no day before it is owed."""
        self._store.for_scope(scope).last_settled(first_day=self.schedule.last_ended(self._clock()).day)
        self._next_look = None

    def use_publisher(self, publisher: DigestPublisher) -> None:
        self._publisher = publisher

    def post_due(self) -> int:
        """Post every digest that is due and not posted by any instance (a scheduler step); how many."""
        if self._publisher is None or (self.channel is None and self._installations is None):
            return 0
        now = self._clock()
        if self._next_look is not None and now < self._next_look:
            return 0
        if self._installations is None:
            assert self.channel is not None
            posted, unsettled = self._post_owed(self._store, channel=self.channel, scope=None, now=now)
        else:
            posted, unsettled = 0, False
            for scope, channel in self._installations():
                if channel is None:
                    continue
                done, open_ = self._post_owed(self._store.for_scope(scope), channel=channel, scope=scope, now=now)
                posted, unsettled = posted + done, unsettled or open_
        self._next_look = now + RETRY_AFTER if unsettled else self.schedule.next_end(now)
        return posted

    def _post_owed(self, store: DigestStore, *, channel: str, scope: str | None, now: datetime) -> tuple[int, bool]:
        """The digests of one schedule (the database's, or one installation's) that are owed and that this
        instance claims: (how many were posted, whether any is left for later)."""
        last = self.schedule.last_ended(now)
        settled = store.last_settled(first_day=last.day)
        owed = [settled + timedelta(days=n) for n in range(1, (last.day - settled).days + 1)][-CATCH_UP_DAYS:]
        # A day claimed but never posted before a later day was posted is owed too.
        since = last.day - timedelta(days=CATCH_UP_DAYS - 1)
        owed = sorted({*owed, *(day for day in store.unposted_claims(since=since) if day <= last.day)})
        posted, unsettled = 0, False
        for day in owed:
            period = self.schedule.period_of(day)
            claimed = store.claim(
                day, instance_id=self._instance_id, now=now, stale_before=now - CLAIM_LEASE,
                start=period.start, end=period.end,
            )  # fmt: skip
            # Not ours (another instance has it), or not posted: look again soon, in case that one dies.
            unsettled = unsettled or not claimed
            if not claimed:
                continue
            late = now - period.end
            where = f"the digest of {day}" + (f" for {scope}" if scope else "")
            try:
                self._post(period, channel=channel, team_id=scope, late_by=late if late > LATE_AFTER else None,
                           store=store)  # fmt: skip
            except DigestNotPosted as error:
                logger.warning("%s was not posted: %s; trying again later", where, error.why)
                unsettled = True
                continue
            except Exception:
                logger.exception("%s was not posted; trying again later", where)
                unsettled = True
                continue
            posted += 1
        return posted, unsettled

    def post_now(self, invocation: Invocation, day: date | None) -> DigestDelivery:
        """An admin's `/recording digest [date]`: that day's digest of their workspace, posted where they typed
        the command (the digest channel keeps one digest a day)."""
        self._authorizer.require(invocation.user, Role.ADMIN, action="digest")
        now = self._clock()
        period = self.schedule.last_ended(now) if day is None else self.schedule.period_of(day)
        if period.end > now:
            raise DigestNotEnded(period.day, period.end)
        return self._post(period, channel=invocation.channel_id, team_id=invocation.team_id, invocation=invocation)

    def _post(
        self,
        period: DigestPeriod,
        *,
        channel: str,
        team_id: str | None = None,
        late_by: timedelta | None = None,
        store: DigestStore | None = None,
        invocation: Invocation | None = None,
    ) -> DigestDelivery:
        """Build and post one digest; `store`: the schedule it is posted for (None: posted by hand)."""
        assert self._publisher is not None
        scheduled = store is not None
        digest, rows = self._builder.build(period, team_id=team_id, late_by=late_by)
        delivery = self._publisher.publish(digest, rows, channel=channel, scope=team_id or "")
        if store is not None:
            store.mark_posted(
                period.day, instance_id=self._instance_id, now=self._clock(), channel_id=delivery.channel,
                ts=delivery.ts, problems="; ".join(delivery.problems),
            )  # fmt: skip
        self._audit.record(
            invocation, action="digest.posted", outcome=Outcome.ERROR if delivery.problems else Outcome.OK,
            target=period.day.isoformat(), team_id=team_id if team_id is not None else "",
            details={"channel": delivery.channel, "scheduled": scheduled, "late": late_by is not None,
                     "problems": list(delivery.problems), "heads": [head.anchor for head in digest.heads]},
        )  # fmt: skip
        return delivery


# -- the figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def _paused_span(request: PauseRequest, updated: datetime | None, period: DigestPeriod) -> _Span | None:
    """The part of the period in which `request` kept its recording paused."""
    if request.kind is RequestKind.EXTENSION or request.paused_at is None:
        return None
    if request.resumed_at is not None:
        until = request.resumed_at
    elif request.state in (RequestState.ACTIVE, RequestState.RESUMING):
        until = period.end
    else:
        until = updated or request.paused_at
    start, end = max(request.paused_at, period.start), min(until, period.end)
    if end < start or (end == start and not period.start <= request.paused_at < period.end):
        return None
    return _Span(start, end)


def _overruns(touched: Iterable[tuple[PauseRequest, datetime | None]], period: DigestPeriod) -> list[Overrun]:
    found = []
    for request, _updated in touched:
        if request.kind is RequestKind.EXTENSION or request.paused_at is None or request.resume_at is None:
            continue
        if request.resumed_at is None and request.state not in (RequestState.ACTIVE, RequestState.RESUMING):
            continue
        ended = request.resumed_at if request.resumed_at is not None else period.end
        # Counted in the period its window ended in, or while it is still paused past it.
        if not (period.start <= request.resume_at < period.end or request.resumed_at is None):
            continue
        by = min(ended, period.end) - request.resume_at
        if by > OVERRUN_GRACE:
            found.append(
                Overrun(
                    request_id=request.id, team_id=request.team_id, target=request.target.value,
                    group=request.group_name or "", requester_id=request.requester_id, resume_at=request.resume_at,
                    resumed_at=request.resumed_at if request.resumed_at and request.resumed_at < period.end else None,
                    by=by,
                )
            )  # fmt: skip
    return sorted(found, key=lambda overrun: overrun.by, reverse=True)


def _groups(spans: list[tuple[PauseRequest, _Span]], period: DigestPeriod) -> list[GroupFigures]:
    by_group: dict[str, list[timedelta]] = {}
    for request, span in spans:
        by_group.setdefault(request.group_name or "", []).append(span.length)
    return [
        GroupFigures(group=group, count=len(lengths), total=sum(lengths, timedelta()), longest=max(lengths))
        for group, lengths in sorted(by_group.items())
    ]


def _breakglass(
    touched: list[tuple[PauseRequest, datetime | None]], spans: list[tuple[PauseRequest, _Span]], period: DigestPeriod
) -> list[BreakGlassPause]:
    lengths = {request.id: span.length for request, span in spans}
    found = []
    for request, _updated in touched:
        if request.kind is not RequestKind.BREAKGLASS:
            continue
        if request.id not in lengths and not period.start <= request.created_at < period.end:
            continue
        found.append(
            BreakGlassPause(
                request_id=request.id, team_id=request.team_id, target=request.target.value,
                group=request.group_name or "", user_id=request.requester_id, reason=request.reason,
                paused_at=request.paused_at, paused_for=lengths.get(request.id, timedelta()),
            )
        )  # fmt: skip
    return found


def _decisions(touched: Iterable[tuple[PauseRequest, datetime | None]], period: DigestPeriod) -> list[Decision]:
    found = []
    for request, _updated in touched:
        if request.approvals_needed < 2 or request.decided_at is None:
            continue
        if not period.start <= request.decided_at < period.end or request.state is RequestState.PENDING:
            continue
        denied = request.state is RequestState.DENIED
        deciders = (request.decided_by or "",) if denied else tuple(a.approver_id for a in request.approvals)
        found.append(
            Decision(
                request_id=request.id, target=request.target.value, group=request.group_name or "",
                approved=not denied, deciders=deciders, at=request.decided_at,
            )
        )  # fmt: skip
    return found


def _endings(touched: Iterable[tuple[PauseRequest, datetime | None]], period: DigestPeriod) -> list[Ending]:
    found = []
    for request, updated in touched:
        outcome = _ENDED.get(request.state)
        at = updated or request.decided_at or request.created_at
        if outcome is None or not period.start <= at < period.end:
            continue
        by = request.decided_by if request.state is RequestState.DENIED else request.cancelled_by
        found.append(
            Ending(
                request_id=request.id, target=request.target.value, group=request.group_name or "", outcome=outcome,
                requester_id=request.requester_id, by=by or "", error=request.error or "", at=at,
            )
        )  # fmt: skip
    return found


def _chart(spans: list[tuple[PauseRequest, _Span]], period: DigestPeriod) -> ChartSeries:
    zone = ZoneInfo(period.zone)
    hours = [period.start + timedelta(hours=n) for n in range(24)]
    minutes: dict[str, list[float]] = {}
    marked: set[int] = set()
    for request, span in spans:
        row = minutes.setdefault(request.group_name or "no group", [0.0] * 24)
        for n, hour in enumerate(hours):
            overlap = min(span.end, hour + timedelta(hours=1)) - max(span.start, hour)
            if overlap > timedelta():
                row[n] += overlap.total_seconds() / 60
        if request.kind is RequestKind.BREAKGLASS:
            marked.add(min(23, max(0, int((span.start - period.start).total_seconds() // 3600))))
    return ChartSeries(
        title=f"Paused minutes per hour, {period.start.astimezone(zone):%d %b %H:%M} – "
        f"{period.end.astimezone(zone):%d %b %H:%M} {period.zone}",
        hour_labels=tuple(f"{hour.astimezone(zone):%H}" for hour in hours),
        minutes_by_group={group: tuple(row) for group, row in sorted(minutes.items())},
        breakglass_hours=tuple(sorted(marked)),
    )
