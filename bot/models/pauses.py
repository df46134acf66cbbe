"""Pause requests: what a pause acts on, what was asked, and the request as stored through its lifecycle."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime


class TargetKind(enum.StrEnum):
    EXTENSION = "extension"
    CALL_ID = "call_id"
    # "me": the asker's linked extension; resolved by the services before anything is stored or sent.
    MINE = "mine"


_EXTENSION = re.compile(r"^\+?[0-9]{2,20}$")
_GUID = re.compile(
    r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$"
)


@dataclass(frozen=True)
class RecordingTarget:
    """What a pause or resume acts on: a phone number/extension taking part in a call, or a call ID."""

    kind: TargetKind
    value: str

    @classmethod
    def parse(cls, word: str) -> RecordingTarget | None:
        """Read a target from user input; None when it is neither an extension, a call ID, nor `me`."""
        if word.lower() == "me":
            return MY_CALL
        if _EXTENSION.match(word) and len(word) <= 20:
            return cls(TargetKind.EXTENSION, word)
        if _GUID.match(word):
            return cls(TargetKind.CALL_ID, word.strip("{}").lower())
        return None

    def __str__(self) -> str:
        return self.value

    @property
    def is_mine(self) -> bool:
        return self.kind is TargetKind.MINE


MY_CALL = RecordingTarget(TargetKind.MINE, "me")


class Channels(enum.StrEnum):
    """Which side(s) of the call a pause silences in the recording."""

    BOTH = "both"
    CALLER = "caller"
    CALLEE = "callee"


@dataclass(frozen=True)
class PauseLimits:
    """How long a pause may last, and how long it lasts when nobody says."""

    default_seconds: int
    max_seconds: int


@dataclass(frozen=True)
class PauseAsk:
    """What someone asked to pause, for how long and why (from a typed command or a form)."""

    target: RecordingTarget
    duration_seconds: int
    channels: Channels
    reason: str


class RequestKind(enum.StrEnum):
    """What a request asks for: a pause, more time on an active pause, or a pause without approval."""

    PAUSE = "pause"
    EXTENSION = "extension"
    BREAKGLASS = "breakglass"


class RequestState(enum.StrEnum):
    """A request's lifecycle.

    pause:       pending → approved → executing → active → resuming → resumed
                 pending → denied | expired | cancelled;  executing → failed → (retry) executing | abandoned
                 | cancelled (by the requester) | abandoned (no retry in time)
    break-glass: executing → active → … as a pause (no approval)
    extension:   pending → approved → extended, or denied | expired (also when its pause ends first) | cancelled
    `resuming` is held only while the resume call is in flight, so one resume claims it.
    """

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    ACTIVE = "active"
    RESUMING = "resuming"
    RESUMED = "resumed"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"
    EXTENDED = "extended"

    @property
    def is_open(self) -> bool:
        """Still waiting for a decision, or the recording may be paused right now."""
        return self in OPEN_STATES


OPEN_STATES = frozenset(
    {RequestState.PENDING, RequestState.APPROVED, RequestState.EXECUTING, RequestState.ACTIVE, RequestState.RESUMING}
)


@dataclass(frozen=True)
class Approval:
    """One approver's approval of a request (a four-eyes request needs two, by different people)."""

    approver_id: str
    at: datetime


@dataclass(frozen=True)
class SameCall:
    """Another open request on the same call or Webex line: two pauses of one recording that would disagree
    about its state. `certain` is False when the name fits several lines (an extension used in two locations)."""

    target: str
    # None for a request of another workspace: its number means nothing here.
    request_id: int | None
    certain: bool = True


@dataclass(frozen=True)
class PauseRequest:
    """One request as stored: what was asked, who decided, and the pause window."""

    id: int
    team_id: str
    channel_id: str
    requester_id: str
    target: RecordingTarget
    channels: Channels
    duration_seconds: int
    reason: str
    state: RequestState
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    paused_at: datetime | None = None
    resume_at: datetime | None = None
    resumed_at: datetime | None = None
    resumed_by: str | None = None
    message_ts: str | None = None
    error: str | None = None
    attempts: int = 0
    resume_attempts: int = 0
    warning: str | None = None
    # The instance that holds the request while it is in flight (approved, executing, resuming).
    claimed_by: str | None = None
    kind: RequestKind = RequestKind.PAUSE
    # The requester's approver group when the request was made, and how many approvals it needs.
    group_name: str | None = None
    approvals_needed: int = 1
    approvals: tuple[Approval, ...] = ()
    # Votes given by people who could no longer decide the request when the count would have completed (revoked,
    # made a requester, moved to another group): stored, shown struck through, not counted.
    dropped_approvals: tuple[Approval, ...] = ()
    # Where the card is (a group's approvals channel, or where the command was typed).
    card_channel_id: str | None = None
    # For an extension: the pause it extends, and that pause's requester (who may not decide it either).
    extends_id: int | None = None
    pause_requester_id: str | None = None
    cancelled_by: str | None = None
    remind_at: datetime | None = None
    reminded_at: datetime | None = None
    # The Slack user the target extension is linked to, when there is one (shown on the card).
    target_user_id: str | None = None
    # The Webex line the target names, when Webex knew exactly one: its other names are the same target.
    line_id: str | None = None
    # Other open requests that named the same call or line when this one was made, for its approvers.
    same_call: tuple[SameCall, ...] = ()

    @property
    def card_channel(self) -> str:
        return self.card_channel_id or self.channel_id

    def approved_by(self, user_id: str) -> bool:
        return any(approval.approver_id == user_id for approval in self.approvals)
