"""The daily compliance digest as values: its period, its figures, its chart's series and the chain heads it
anchors. Built by services/digest.py, worded by blocks/digest.py, drawn by chart/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bot.models.changes import ChangeRequest


@dataclass(frozen=True)
class DigestPeriod:
    """The 24 hours a digest covers: [start, end) in UTC, named by `day`, the local date of its end (the day
    it is posted, like a morning paper), in the IANA zone `zone`."""

    day: date
    start: datetime
    end: datetime
    zone: str


@dataclass(frozen=True)
class Overrun:
    """A pause that outlived its window: paused until `resumed_at` (None: still paused at the period's end)
    instead of `resume_at`, `by` longer than it was allowed."""

    request_id: int
    team_id: str
    target: str
    group: str
    requester_id: str
    resume_at: datetime
    resumed_at: datetime | None
    by: timedelta


@dataclass(frozen=True)
class GroupFigures:
    """Pauses of one approver group (`""`: requests of nobody's group) within the period: how many, how long
    in all, and the longest (paused time inside the period)."""

    group: str
    count: int
    total: timedelta
    longest: timedelta


@dataclass(frozen=True)
class BreakGlassPause:
    request_id: int
    team_id: str
    target: str
    group: str
    user_id: str
    reason: str
    paused_at: datetime | None
    paused_for: timedelta


@dataclass(frozen=True)
class Decision:
    """A four-eyes decision: a request that needed two approvals, approved (by `deciders`) or denied."""

    request_id: int
    target: str
    group: str
    approved: bool
    deciders: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Ending:
    """A request that ended without pausing anything: denied, expired, cancelled or failed (abandoned)."""

    request_id: int
    target: str
    group: str
    outcome: str  # "denied", "expired", "cancelled" or "failed"
    requester_id: str
    by: str  # who denied or cancelled it; "" when nobody did (expired, failed)
    error: str
    at: datetime


@dataclass(frozen=True)
class ChartSeries:
    """What the chart draws: paused minutes per hour of the period (24 values per group, first hour first,
    labelled by its local hour), and the hours in which a break-glass pause began."""

    title: str
    hour_labels: tuple[str, ...]
    minutes_by_group: dict[str, tuple[float, ...]]
    breakglass_hours: tuple[int, ...]


@dataclass(frozen=True)
class ChainHead:
    """One workspace's audit chain head at the end of the period, as `TEAM:SEQ:HASH`."""

    team_id: str
    seq: int
    row_hash: str

    @property
    def anchor(self) -> str:
        return f"{self.team_id}:{self.seq}:{self.row_hash}"


@dataclass(frozen=True)
class Digest:
    period: DigestPeriod
    overruns: tuple[Overrun, ...]
    groups: tuple[GroupFigures, ...]
    breakglass: tuple[BreakGlassPause, ...]
    decisions: tuple[Decision, ...]
    endings: tuple[Ending, ...]
    heads: tuple[ChainHead, ...]
    chart: ChartSeries
    audit_rows: int
    # Posted after its time because the bot was not running then: how late.
    late_by: timedelta | None = None
    # Requests to change a line's call-recording settings asked or decided in the period (`/recording set`).
    settings_changes: tuple[ChangeRequest, ...] = field(default=())

    @property
    def quiet(self) -> bool:
        """Nothing happened: no pause, no decision, no request ended."""
        return not (self.overruns or self.groups or self.breakglass or self.decisions or self.endings
                    or self.settings_changes)  # fmt: skip


@dataclass(frozen=True)
class DigestDelivery:
    """How posting a digest went: where it is, and what did not work (each in a few words, for the message)."""

    channel: str
    ts: str
    problems: tuple[str, ...] = ()
