"""Value types shared by the layers: no I/O; imported by everything above, importing nothing of the bot."""

from bot.models.access import AllowListEntry, Invocation, Role, SlackUser
from bot.models.audit import AuditEntry, AuditQuery, ChainProblem, ChainReport, ChainVerification, Outcome
from bot.models.lines import (
    PAUSABLE_MODES,
    CallRecordingSettings,
    LineLocation,
    LineNumber,
    PauseBlocker,
    RecordingNotification,
    RecordingRepeat,
    RecordMode,
    SelectiveCallRecording,
    StartStopAnnouncement,
    VirtualLine,
    pause_blocker,
)
from bot.models.requests import (
    OPEN_STATES,
    Channels,
    PauseAsk,
    PauseLimits,
    PauseRequest,
    RecordingTarget,
    RequestState,
    TargetKind,
)
from bot.models.tokens import WebexTokens

__all__ = [
    "OPEN_STATES",
    "PAUSABLE_MODES",
    "AllowListEntry",
    "AuditEntry",
    "AuditQuery",
    "CallRecordingSettings",
    "ChainProblem",
    "ChainReport",
    "ChainVerification",
    "Channels",
    "Invocation",
    "LineLocation",
    "LineNumber",
    "Outcome",
    "PauseAsk",
    "PauseBlocker",
    "PauseLimits",
    "PauseRequest",
    "RecordMode",
    "RecordingNotification",
    "RecordingRepeat",
    "RecordingTarget",
    "RequestState",
    "Role",
    "SelectiveCallRecording",
    "SlackUser",
    "StartStopAnnouncement",
    "TargetKind",
    "VirtualLine",
    "WebexTokens",
    "pause_blocker",
]
