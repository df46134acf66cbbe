"""The `/recording` commands as types: what each subcommand becomes, the bounds they hold, how each is
written (USAGE), and ParseError, the precise answer to text that cannot be read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.models import PauseAsk, RecordingTarget, Role

MAX_REASON_CHARS = 500
MAX_LINE_QUERY_CHARS = 200
MIN_PAUSE_SECONDS = 10
DEFAULT_AUDIT_ROWS = 20
MAX_AUDIT_ROWS = 200

# Subcommand → (usage, example). The order is the order `help` lists them in.
USAGE: dict[str, tuple[str, str]] = {
    "pause": (
        "pause <extension|call-id|me> [duration] [caller|callee|both] <reason…>  (or `pause` alone for a form)",
        "/recording pause 8856 5m customer is reading out a card number",
    ),
    "resume": ("resume <extension|call-id|me>", "/recording resume 8856"),
    "requests": ("requests [page P]", "/recording requests"),
    "cancel": ("cancel <request ID>", "/recording cancel 12"),
    "extend": (
        "extend <extension|call-id|#ID> <duration> <reason…>  (ask for more time on an active pause)",
        "/recording extend 8856 5m card details again",
    ),
    "breakglass": (
        "breakglass <extension|call-id> [duration] [caller|callee|both] <reason…>",
        "/recording breakglass 8856 5m customer reading out a card, no lead on the floor",
    ),
    "settings": ("settings <extension|+number|e-mail|name|Webex ID> [private]", "/recording settings 8856"),
    "set": (
        "set <line> <setting>=<value> … <reason…>  (approvers and admins; approved like a pause)",
        "/recording set 8856 mode=on-demand agents start recording themselves",
    ),
    "allow": ("allow @user <requester|approver|admin> [group|-]", "/recording allow @pat approver sales"),
    "revoke": ("revoke @user", "/recording revoke @pat"),
    "users": ("users [page P]", "/recording users"),
    "link": ("link [@user] <extension>", "/recording link 8856"),
    "unlink": ("unlink [@user]", "/recording unlink"),
    "group": (
        "group <name> [channel <#channel|->] [approvals <1|2>]",
        "/recording group sales channel #sales-approvals",
    ),
    "groups": ("groups [page P]", "/recording groups"),
    "audit": ("audit [N] [breakglass|changes]", "/recording audit 50"),
    "digest": (
        "digest [YYYY-MM-DD]  (admins: post that day's compliance digest here, now)",
        "/recording digest 2026-12-02",
    ),
    "help": ("help", "/recording help"),
}


class ParseError(Exception):
    """The text could not be read; `message` says what was wrong, `subcommand` picks the example."""

    def __init__(self, message: str, *, subcommand: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.subcommand = subcommand

    @property
    def example(self) -> str | None:
        return USAGE[self.subcommand][1] if self.subcommand in USAGE else None


@dataclass(frozen=True)
class Help:
    unknown_word: str | None = None
    # The subcommand the unknown word most likely mistypes (`paus` → `pause`), if any is close.
    suggestion: str | None = None


@dataclass(frozen=True)
class Resume:
    target: RecordingTarget


@dataclass(frozen=True)
class ListRequests:
    page: int = 1


@dataclass(frozen=True)
class ShowSettings:
    query: str
    private: bool


class NoGroup:
    """`allow @user role -`: take the user out of their group."""


NO_GROUP = NoGroup()


@dataclass(frozen=True)
class Allow:
    user_id: str
    role: Role
    # None: leave the user's group as it is; NO_GROUP: take them out of it.
    group: str | NoGroup | None = None


@dataclass(frozen=True)
class Revoke:
    user_id: str


@dataclass(frozen=True)
class ListUsers:
    page: int = 1


@dataclass(frozen=True)
class ShowAudit:
    rows: int
    breakglass_only: bool = False
    # Only settings changes (`/recording audit changes`).
    changes_only: bool = False


@dataclass(frozen=True)
class ShowDigest:
    """`digest [date]`: the digest of that day (None: the last one due), posted now."""

    day: date | None = None


@dataclass(frozen=True)
class Cancel:
    request_id: int


@dataclass(frozen=True)
class Extend:
    """More time on an active pause, named by its target or its request ID."""

    target: RecordingTarget | None
    request_id: int | None
    seconds: int
    reason: str


@dataclass(frozen=True)
class BreakGlass:
    ask: PauseAsk


@dataclass(frozen=True)
class ChooseSide:
    """`pause 8857 2m caller is reading a card`: `caller` may be the side to pause or the first word of the
    reason. Nothing is asked until the user picks one of the two readings (the rule: `side_word_opens_reason`)."""

    # "pause" or "breakglass": what the chosen reading then does.
    subcommand: str
    side_only: PauseAsk
    both_sides: PauseAsk


@dataclass(frozen=True)
class ShowGroup:
    name: str


@dataclass(frozen=True)
class ConfigureGroup:
    name: str
    # None: leave as it is; "" clears the channel.
    channel_id: str | None = None
    approvals: int | None = None


@dataclass(frozen=True)
class ListGroups:
    page: int = 1


@dataclass(frozen=True)
class OpenPauseForm:
    """`/recording pause` with nothing after it: the pause form (a modal)."""


@dataclass(frozen=True)
class Link:
    extension: str
    user_id: str | None = None


@dataclass(frozen=True)
class Unlink:
    user_id: str | None = None


@dataclass(frozen=True)
class SetLineSettings:
    """`set <line> <setting>=<value> … <reason…>`: ask to change a line's call-recording settings. `settings`
    holds (name, value) in the command's words, in the order typed (bot/models/changes.py)."""

    line: str
    settings: tuple[tuple[str, str], ...]
    reason: str


Command = (
    Help
    | PauseAsk
    | Resume
    | ListRequests
    | ShowSettings
    | Allow
    | Revoke
    | ListUsers
    | ShowAudit
    | ShowDigest
    | Cancel
    | Extend
    | BreakGlass
    | ChooseSide
    | ShowGroup
    | ConfigureGroup
    | ListGroups
    | OpenPauseForm
    | Link
    | Unlink
    | SetLineSettings
)
