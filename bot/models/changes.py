"""Changes to a line's call-recording settings: the settings `/recording set` knows, their values in the
command's words, how today's Webex settings read in those words, and the change request as stored.

A setting's value is always held in the command's words (`on`, `pause-resume`, `30s`): the request's
before and after, the card and the audit say the same thing, and the Webex client alone turns them into
Webex's JSON (clients/webex/writes.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bot.models.lines import CallRecordingSettings, LineKind, RecordMode
from bot.models.pauses import Approval

# Setting name → what a person may type for it (in the order `set`'s help lists them).
MODE_WORDS: dict[str, str] = {
    "always": RecordMode.ALWAYS.value,
    "never": RecordMode.NEVER.value,
    "pause-resume": RecordMode.ALWAYS_WITH_PAUSE_RESUME.value,
    "on-demand": RecordMode.ON_DEMAND.value,
}
NOTIFICATION_WORDS: dict[str, str | None] = {"none": None, "beep": "Beep", "announcement": "Play Announcement"}
ON_OFF = ("on", "off")
MIN_REPEAT_SECONDS = 10
MAX_REPEAT_SECONDS = 1800

SETTINGS: dict[str, str] = {
    "record": "on|off",
    "mode": "|".join(MODE_WORDS),
    "notification": "|".join(NOTIFICATION_WORDS),
    "notification-to": "on|off",
    "repeat-beep": f"off|<{MIN_REPEAT_SECONDS}–{MAX_REPEAT_SECONDS}>s",
    "announce-internal": "on|off",
    "announce-pstn": "on|off",
}

# How each setting is called on a card.
SETTING_LABELS: dict[str, str] = {
    "record": "Recording",
    "mode": "Mode",
    "notification": "Pause/resume notification",
    "notification-to": "Notification played",
    "repeat-beep": "Repeating beep",
    "announce-internal": "Start/stop announcement, internal calls",
    "announce-pstn": "Start/stop announcement, PSTN calls",
}

UNKNOWN = "unknown"


def _on_off(value: bool | None) -> str:
    return UNKNOWN if value is None else ("on" if value else "off")


def current_value(settings: CallRecordingSettings, name: str) -> str:
    """What Webex's settings say for one setting, in the command's words (`unknown` when Webex did not say)."""
    if name == "record":
        return _on_off(settings.enabled)
    if name == "mode":
        by_mode = {mode: word for word, mode in MODE_WORDS.items()}
        return by_mode.get(settings.record or "", settings.record or UNKNOWN)
    notification = settings.notification
    if name == "notification":
        if notification is None:
            return UNKNOWN
        if notification.enabled is False or notification.type in (None, "None"):
            return "none"
        by_type = {webex: word for word, webex in NOTIFICATION_WORDS.items() if webex}
        return by_type.get(notification.type, notification.type)
    if name == "notification-to":
        return _on_off(notification.enabled if notification else None)
    if name == "repeat-beep":
        repeat = settings.repeat
        if repeat is None or repeat.enabled is None:
            return UNKNOWN
        return f"{repeat.interval}s" if repeat.enabled and repeat.interval is not None else "off"
    announcement = settings.start_stop_announcement
    if name == "announce-internal":
        return _on_off(announcement.internal_calls_enabled if announcement else None)
    if name == "announce-pstn":
        return _on_off(announcement.pstn_calls_enabled if announcement else None)
    raise KeyError(name)


KIND_LABELS: dict[LineKind, str] = {
    LineKind.PERSON: "Person",
    LineKind.WORKSPACE: "Workspace",
    LineKind.VIRTUAL_LINE: "Virtual line",
}


@dataclass(frozen=True)
class SettingChange:
    """One setting to change: its name, its value when the change was asked for, and the value asked."""

    name: str
    before: str
    after: str

    @property
    def drastic(self) -> bool:
        """Turning recording off, or to Never: always two approvals."""
        return (self.name, self.after) in {("record", "off"), ("mode", "never")}


class ChangeState(enum.StrEnum):
    """A change request's lifecycle.

    pending → executing → changed | stale (the line changed meanwhile: nothing written) | failed
    failed → (retry) executing | abandoned;  pending → denied | expired | cancelled
    """

    PENDING = "pending"
    EXECUTING = "executing"
    CHANGED = "changed"
    STALE = "stale"
    FAILED = "failed"
    DENIED = "denied"
    EXPIRED = "expired"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ChangeRequest:
    """One request to change a line's call-recording settings, as stored."""

    id: int
    team_id: str
    channel_id: str
    requester_id: str
    line_kind: LineKind
    line_id: str
    line_name: str
    changes: tuple[SettingChange, ...]
    reason: str
    state: ChangeState
    created_at: datetime
    expires_at: datetime
    group_name: str | None = None
    approvals_needed: int = 1
    approvals: tuple[Approval, ...] = ()
    card_channel_id: str | None = None
    message_ts: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    error: str | None = None
    attempts: int = 0
    # What Webex answered, in order: {"call": "GET"|"PUT", "status": …, "trackingid": …, "error": …}.
    answers: tuple[dict[str, object], ...] = ()
    # After approval: each changed setting as Webex read it afterwards; for a stale request, as found.
    found: tuple[SettingChange, ...] = ()
    # The change this one puts back (an Undo), and the request that undoes this one.
    undoes_id: int | None = None
    undone_by_id: int | None = None

    @property
    def card_channel(self) -> str:
        return self.card_channel_id or self.channel_id

    @property
    def drastic(self) -> bool:
        return any(change.drastic for change in self.changes)

    def approved_by(self, user_id: str) -> bool:
        return any(approval.approver_id == user_id for approval in self.approvals)

    @property
    def line_label(self) -> str:
        """`Virtual line: Front desk`."""
        return f"{KIND_LABELS[self.line_kind]}: {self.line_name}"
