"""The audit log's values: an outcome, one stored entry, and the filters for reading entries back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class Outcome:
    """How a command, click or upstream call ended, as the audit log records it."""

    OK = "ok"
    REFUSED = "refused"
    ERROR = "error"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    request_id: str
    team_id: str
    user_id: str
    channel_id: str
    action: str
    command: str
    target: str
    outcome: str
    details: str


@dataclass(frozen=True)
class AuditQuery:
    """Filters for reading the audit log back (all optional)."""

    since: datetime | None = None
    until: datetime | None = None
    user_id: str | None = None
    target: str | None = None
    limit: int | None = None
