"""Value types shared by the layers (no I/O, no framework imports beyond pydantic)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime


class Role(enum.StrEnum):
    """Allow-list roles, each including the powers of the ones before it."""

    REQUESTER = "requester"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.REQUESTER: 1, Role.APPROVER: 2, Role.ADMIN: 3}


class TargetKind(enum.StrEnum):
    EXTENSION = "extension"
    CALL_ID = "call_id"


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
        """Read a target from user input; None when it is neither an extension nor a call ID."""
        if _EXTENSION.match(word) and len(word) <= 20:
            return cls(TargetKind.EXTENSION, word)
        if _GUID.match(word):
            return cls(TargetKind.CALL_ID, word.strip("{}").lower())
        return None

    def __str__(self) -> str:
        return self.value


class Channels(enum.StrEnum):
    """Which side(s) of the call a pause silences in the recording."""

    BOTH = "both"
    CALLER = "caller"
    CALLEE = "callee"


@dataclass(frozen=True)
class SlackUser:
    """A Slack identity: authorization always uses team + user ID, never a display name."""

    team_id: str
    user_id: str


@dataclass(frozen=True)
class AllowListEntry:
    team_id: str
    user_id: str
    role: Role
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class Invocation:
    """Who asked for something, where, and the request ID that ties logs, audit rows and upstream calls."""

    user: SlackUser
    channel_id: str
    request_id: str
    text: str = ""

    @property
    def team_id(self) -> str:
        return self.user.team_id

    @property
    def user_id(self) -> str:
        return self.user.user_id


class RequestState(enum.StrEnum):
    """A pause request's lifecycle.

    pending → approved → executing → active → resuming → resumed
    pending → denied | expired;  executing → failed → (retry) executing | abandoned
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

    @property
    def is_open(self) -> bool:
        """Still waiting for a decision, or the recording may be paused right now."""
        return self in _OPEN_STATES


_OPEN_STATES = frozenset(
    {RequestState.PENDING, RequestState.APPROVED, RequestState.EXECUTING, RequestState.ACTIVE, RequestState.RESUMING}
)


@dataclass(frozen=True)
class PauseRequest:
    """One pause request as stored: the request itself, its decision, and the pause window."""

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


@dataclass(frozen=True)
class WebexTokens:
    """A Webex access token with the refresh token that renews it; `expires_at` is in UTC."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
