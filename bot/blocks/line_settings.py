"""Messages for `/recording settings`: a line's call-recording settings (a person's, a workspace's or a virtual
line's), and lookup outcomes."""

from __future__ import annotations

from collections.abc import Sequence

from bot.action_ids import ACTION_SETTINGS_PICK
from bot.blocks.kit import MAX_BLOCKS, Block, button, context, fields, section
from bot.blocks.text import escape
from bot.models import (
    CallRecordingSettings,
    Line,
    LineKind,
    PauseBlocker,
    PersonRecordingSettings,
    RecordingAccess,
    RecordMode,
    pause_blocker,
)
from bot.words import format_duration

NOT_SET = "not set in Webex"

# Upstream strings are cut before escaping, so a cut never splits an `&amp;` entity, and so the longest
# section built here stays far below Slack's 3000 characters (2000 per field).
_MAX_VALUE_CHARS = 200
# One section per listed line plus the heading and the "more" note stays well inside 50 blocks.
MAX_LISTED_LINES = 20
# Slack's limit on a button's value (a Webex line ID is about 80 characters).
_MAX_BUTTON_VALUE = 2000

_MODE_MEANING = {
    RecordMode.ALWAYS: "calls are always recorded and nobody has controls — pause/resume is *not available*",
    RecordMode.NEVER: "calls are not recorded — there is nothing to pause or resume",
    RecordMode.ALWAYS_WITH_PAUSE_RESUME: (
        "calls are always recorded; users *can pause and resume* the recording, but not stop it"
    ),
    RecordMode.ON_DEMAND: ("recording starts only when the user dials `*44`; users *can pause, resume* and stop it"),
}

# The modes in a team lead's words (Webex's own name follows in the explanation below the fields).
_MODE_NAMES = {
    RecordMode.ALWAYS: "Always — every call, no controls",
    RecordMode.NEVER: "Never — calls are not recorded",
    RecordMode.ALWAYS_WITH_PAUSE_RESUME: "Always, with pause and resume",
    RecordMode.ON_DEMAND: "On demand — the user starts it with `*44`",
}

# What the people on the call hear when the recording is paused or resumed.
_NOTIFICATION_SOUNDS = {"None": "", "Beep": "a beep", "Play Announcement": "an announcement"}

# What a line is, as the card says it: "Person: Jane Doe".
KIND_LABELS = {LineKind.PERSON: "Person", LineKind.WORKSPACE: "Workspace", LineKind.VIRTUAL_LINE: "Virtual line"}

_ACCESS_LABELS = (
    ("view_and_play_recordings_enabled", "View and play"),
    ("download_recordings_enabled", "Download"),
    ("delete_recordings_enabled", "Delete"),
    ("share_recordings_enabled", "Share"),
)

_SELECTIVE_LABELS = (
    ("record_inbound_internal_calls_enabled", "Inbound internal calls"),
    ("record_outbound_internal_calls_enabled", "Outbound internal calls"),
    ("record_inbound_external_calls_enabled", "Inbound external calls"),
    ("record_outbound_external_calls_enabled", "Outbound external calls"),
)


# -- public builders -----------------------------------------------------------------------------


def settings_message(line: Line, settings: CallRecordingSettings) -> tuple[str, list[Block]]:
    """(plain-text fallback, blocks) describing one line's call-recording settings."""
    title = _line_title(line)
    blocks: list[Block] = [
        section(f"*Call recording — {title}*"),
        fields(
            [
                ("Recording", _recording_text(settings.enabled, settings.record)),
                ("Mode", _mode_text(settings.record)),
                ("Pause and resume", _pause_text(settings)),
                ("Voicemail", _recorded(settings.record_voicemail_enabled)),
                ("When paused or resumed", _notification_text(settings)),
                ("Reminder tone", _repeat_text(settings)),
                ("Recording starts or stops", _announcement_text(settings)),
            ]
        ),
        section(_meaning_text(settings)),
    ]
    selective = settings.selective_call_recording_settings
    if selective is not None:
        blocks.append(section("*Selective recording*"))
        blocks.append(
            fields([(label, _recorded(getattr(selective, attribute))) for attribute, label in _SELECTIVE_LABELS])
        )
    blocks.append(
        fields(
            [
                ("Recording provider", _value(settings.service_provider)),
                ("Provider's group", _value(settings.external_group)),
                ("Provider's ID for this line", _value(settings.external_identifier)),
            ]
        )
    )
    access = settings.call_recording_access_settings if isinstance(settings, PersonRecordingSettings) else None
    if access is not None:
        blocks.extend(_access_blocks(access))
    blocks.append(context(f"{KIND_LABELS[line.kind]} ID {_code(line.id)}"))

    fallback = (
        f"Call recording for {escape(_plain_title(line))}: recording {_switch_with_mode(settings)}; "
        f"mode {escape(_clip(settings.record)) if settings.record else NOT_SET}; "
        f"pause and resume {_pause_words(settings)}."
    )
    return fallback, blocks


def ambiguous_lines_message(query: str, lines: Sequence[Line]) -> tuple[str, list[Block]]:
    """(fallback, blocks) listing the lines (each labelled with its kind) that matched `query`, asking the user
    to pick one."""
    shown = list(lines[:MAX_LISTED_LINES])
    hidden = len(lines) - len(shown)
    blocks: list[Block] = [
        section(
            f":mag: *{len(lines)} {_lines_word(lines)} match* “{escape(_clip(query))}”. "
            + escape("Press Show beside one (or type `/recording settings <ID>`).")
        )
    ]
    for line in shown:
        details = [
            f"ext. {escape(_clip(line.extension))}" if line.extension else "no extension",
            escape(_clip(line.phone_number)) if line.phone_number else "no number",
            escape(_clip(line.location_name)) if line.location_name else "location not set",
        ]
        block = section(f"*{_kind_and_name(line)}* · {' · '.join(details)}\nID {_code(line.id)}")
        if len(line.id) <= _MAX_BUTTON_VALUE:
            block["accessory"] = button("Show", ACTION_SETTINGS_PICK, line.id)
        blocks.append(block)
    if hidden > 0:
        blocks.append(context(f"…and {hidden} more. Search by ID, extension or +number to narrow it down."))
    fallback = f"{len(lines)} {_lines_word(lines)} match “{_clip(query)}”: " + "; ".join(
        f"{KIND_LABELS[line.kind]}: {_clip(line.name)} (ext. {line.extension or '-'}, ID {line.id})" for line in shown
    )
    if hidden > 0:
        fallback += f"; and {hidden} more"
    return escape(fallback), blocks[:MAX_BLOCKS]


def no_line_message(query: str) -> tuple[str, list[Block]]:
    """(fallback, blocks) saying nothing matched `query`, with the ways a line can be found."""
    shown = escape(_clip(query))
    how = (
        "Search by the extension (`1001`), the number in E.164 form (`+14155550100`), a person's e-mail "
        "address (`jane.doe@example.com`), a person's, workspace's or virtual line's name (`Jane Doe`), "
        "or the Webex ID (`Y2lzY29…`)."
    )
    blocks = [section(f":grey_question: No person, workspace or virtual line matches “{shown}”.\n{how}")]
    fallback = f"No person, workspace or virtual line matches “{_clip(query)}”. {how.replace('`', '')}"
    return escape(fallback), blocks


_BLOCKER_WORDS = {
    PauseBlocker.RECORDING_DISABLED: "call recording is disabled on this line — there is nothing to pause",
    PauseBlocker.MODE_ALWAYS: "recording mode is Always — pause/resume is not available on this line",
    PauseBlocker.MODE_NEVER: (
        "recording mode is Never — calls on this line are not recorded, so there is nothing to pause"
    ),
}


def pause_warning_text(settings: CallRecordingSettings) -> str | None:
    """Why pausing cannot work on a line with these settings; None when pause/resume is available."""
    blocker = pause_blocker(settings)
    return _BLOCKER_WORDS[blocker] if blocker else None


def stored_warning_text(warning: str) -> str:
    """A request's stored warning in words (requests stored before warnings were codes hold the words)."""
    try:
        return _BLOCKER_WORDS[PauseBlocker(warning)]
    except ValueError:
        return warning


# -- pieces --------------------------------------------------------------------------------------


def _kind_and_name(line: Line) -> str:
    return f"{KIND_LABELS[line.kind]}: {escape(_clip(line.name))}"


def _lines_word(lines: Sequence[Line]) -> str:
    """The word for these lines: "virtual lines" when all are, "people", "workspaces", else "lines"."""
    kinds = {line.kind for line in lines}
    if kinds == {LineKind.VIRTUAL_LINE}:
        return "virtual lines"
    if kinds == {LineKind.PERSON}:
        return "people"
    if kinds == {LineKind.WORKSPACE}:
        return "workspaces"
    return "lines"


def _access_blocks(access: RecordingAccess) -> list[Block]:
    """What the person may do with their own recordings (Webex sends this for people only)."""
    return [
        section("*What this person may do with their recordings*"),
        fields([(label, _allowed(getattr(access, attribute))) for attribute, label in _ACCESS_LABELS]),
    ]


def _allowed(value: bool | None) -> str:
    if value is None:
        return NOT_SET
    return "Allowed" if value else "Not allowed"


def _line_title(line: Line) -> str:
    parts = [_kind_and_name(line)]
    extras = []
    if line.extension:
        extras.append(f"ext. {escape(_clip(line.extension))}")
    if line.phone_number:
        extras.append(escape(_clip(line.phone_number)))
    if line.location_name:
        extras.append(escape(_clip(line.location_name)))
    if extras:
        parts.append(f"({', '.join(extras)})")
    return " ".join(parts)


def _plain_title(line: Line) -> str:
    name = f"{KIND_LABELS[line.kind]}: {_clip(line.name)}"
    return f"{name} (ext. {_clip(line.extension)})" if line.extension else name


def _switch(value: bool | None) -> str:
    if value is None:
        return NOT_SET
    return "on" if value else "off"


def _switch_with_mode(settings: CallRecordingSettings) -> str:
    if settings.enabled and settings.record == RecordMode.NEVER:
        return "never (turned on, but the mode is Never)"
    return _switch(settings.enabled)


def _recording_text(enabled: bool | None, record: str | None) -> str:
    """The switch read together with the mode, so the two lines never contradict each other."""
    if enabled is None:
        return NOT_SET
    if not enabled:
        return "Off — calls on this line are not recorded"
    if record == RecordMode.NEVER:
        return "Never — turned on, but the mode is Never: calls on this line are not recorded"
    return "On — calls on this line are recorded as the mode below says"


def _recorded(value: bool | None) -> str:
    if value is None:
        return NOT_SET
    return "Recorded" if value else "Not recorded"


def _value(text: str | None) -> str:
    return escape(_clip(text)) if text else NOT_SET


def _mode_text(record: str | None) -> str:
    if not record:
        return NOT_SET
    if record in _MODE_NAMES:
        return _MODE_NAMES[RecordMode(record)]
    return f"{escape(_clip(record))} (a mode this bot does not know)"


def _pause_words(settings: CallRecordingSettings) -> str:
    available = settings.pause_available
    if available is None:
        return "unknown"
    return "allowed" if available else "not available"


def _pause_text(settings: CallRecordingSettings) -> str:
    available = settings.pause_available
    if available is None:
        return "Unknown — the bot cannot tell from these settings"
    if available:
        return "Available — the recording can be paused and resumed (through the bot, with a team lead's approval)"
    return "*Not available* on this line"


def _meaning_text(settings: CallRecordingSettings) -> str:
    record = settings.record
    if record is None:
        meaning = "The recording mode is not set, so the bot cannot tell whether pause/resume works."
    elif record in _MODE_MEANING:
        mode = RecordMode(record)
        meaning = f"*{escape(mode.value)}*: {_MODE_MEANING[mode]}."
    else:
        meaning = (
            f"*{escape(_clip(record))}* is a mode this bot does not know, so it cannot tell whether pause/resume works."
        )
    if settings.enabled is False:
        meaning = "Call recording is *turned off* for this line: nothing is recorded, whatever the mode.\n" + (meaning)
    return meaning


def _notification_text(settings: CallRecordingSettings) -> str:
    """What the people on the call hear when the recording is paused or resumed."""
    notification = settings.notification
    if notification is None:
        return NOT_SET
    kind = notification.type
    sound = _NOTIFICATION_SOUNDS.get(kind, f"“{escape(_clip(kind))}”") if kind else None
    if notification.enabled is False or sound == "":
        return "Nothing — the people on the call are not told"
    if sound is None:
        return "A notification is on, but its kind is not set in Webex"
    if notification.enabled is None:
        return f"{sound.capitalize()} (whether it is on is not set in Webex)"
    return f"The people on the call hear {sound}"


def _repeat_text(settings: CallRecordingSettings) -> str:
    """The periodic tone that reminds everyone on the call that it is recorded."""
    repeat = settings.repeat
    if repeat is None:
        return NOT_SET
    every = f"every {format_duration(repeat.interval)}" if repeat.interval is not None else "at an interval not set"
    if repeat.enabled is False:
        return "Off — no reminder tone during the call"
    if repeat.enabled is None:
        return f"A tone {every} (whether it is on is not set in Webex)"
    return f"On — a tone {every} reminds everyone the call is recorded"


def _announcement_text(settings: CallRecordingSettings) -> str:
    """Whether the start and the stop of recording are announced, on internal and on outside calls."""
    announcement = settings.start_stop_announcement
    if announcement is None:
        return NOT_SET
    return (
        f"Calls inside the company: {_announced(announcement.internal_calls_enabled)}\n"
        f"Calls from or to outside numbers: {_announced(announcement.pstn_calls_enabled)}"
    )


def _announced(value: bool | None) -> str:
    if value is None:
        return NOT_SET
    return "announced" if value else "not announced"


def _clip(text: str | None, limit: int = _MAX_VALUE_CHARS) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str) -> str:
    # Backticks would end the code span early; IDs never contain them, user text might.
    return "`" + escape(_clip(text).replace("`", "'")) + "`"
