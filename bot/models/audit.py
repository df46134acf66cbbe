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
    team_id: str | None = None
    user_id: str | None = None
    target: str | None = None
    group_name: str | None = None
    action: str | None = None
    limit: int | None = None
    # Actions that begin so (`change.`: the settings changes).
    action_prefix: str | None = None


@dataclass(frozen=True)
class ChainProblem:
    """The first place where the audit log's chain does not hold, in words for a reviewer. `team_id` is the
    row's workspace: "" for the bot's own rows, None for a row of no workspace (which the bot never writes)."""

    team_id: str | None
    audit_id: int
    kind: str  # "changed", "inserted" or "deleted"
    description: str


@dataclass(frozen=True)
class ChainReport:
    """What a walk of the audit chain found: chained rows checked, older rows (written before the chain
    began, fixed in its first row), the first problem (None when intact), the head of each intact workspace's
    chain (its last sequence number and hash), to keep somewhere else, and how many workspaces were walked."""

    rows_checked: int
    unchained_rows: int
    problem: ChainProblem | None
    heads: dict[str, tuple[int, str]]
    workspaces: int = 0

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ChainVerification:
    """A stored record of one verification run."""

    at: datetime
    rows_checked: int
    intact: bool
    first_problem: str


@dataclass(frozen=True)
class Anchor:
    """A chain head kept outside the database (a digest, a note): workspace, sequence number and hash."""

    team_id: str
    seq: int
    row_hash: str

    @property
    def text(self) -> str:
        return f"{self.team_id}:{self.seq}:{self.row_hash}"


@dataclass(frozen=True)
class AnchorProblem:
    """An anchored head the chain no longer leads to. `kind` "missing": links from `first_seq` on were cut off
    (`audit_id` is the last row still there, None when none is); "altered": a row from link `first_seq`
    (audit row `audit_id`) up to the anchored one was changed and the chain rewritten over it."""

    anchor: Anchor
    kind: str
    first_seq: int
    audit_id: int | None
