"""Webex lines (people, workspaces, virtual lines) and their call-recording settings, as Webex sends them, and
what they mean for a pause.

Pydantic models: the Webex client validates answers into them, the services and Block Kit builders read them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


class _WebexModel(BaseModel):
    # Webex adds fields in newer API versions and omits unset ones: ignore the unknown, default the rest.
    # Frozen because the client hands the same cached objects to several threads.
    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=True,
        coerce_numbers_to_str=True,
    )


class RecordMode(enum.StrEnum):
    """The `record` values Webex documents; the model keeps any other (newer) value as a plain string."""

    ALWAYS = "Always"
    NEVER = "Never"
    ALWAYS_WITH_PAUSE_RESUME = "Always with Pause/Resume"
    ON_DEMAND = "On Demand with User Initiated Start"


PAUSABLE_MODES = frozenset({RecordMode.ALWAYS_WITH_PAUSE_RESUME, RecordMode.ON_DEMAND})


class LineNumber(_WebexModel):
    """`number` of a virtual line. Webex sends `primary` as a boolean; a string is kept too (see docs)."""

    extension: str | None = None
    external: str | None = None
    primary: bool | str | None = None
    esn: str | None = None


class LineLocation(_WebexModel):
    id: str | None = None
    name: str | None = None


class VirtualLine(_WebexModel):
    """One entry of `GET /telephony/config/virtualLines`."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    number: LineNumber | None = None
    location: LineLocation | None = None

    @property
    def name(self) -> str:
        """What people call the line: the display name, else "First Last", else a placeholder."""
        if self.display_name and self.display_name.strip():
            return self.display_name.strip()
        full = " ".join(part.strip() for part in (self.first_name, self.last_name) if part and part.strip())
        return full or "unnamed virtual line"

    @property
    def extension(self) -> str | None:
        return self.number.extension if self.number else None

    @property
    def phone_number(self) -> str | None:
        """The E.164 number, if the line has one."""
        if self.number is None:
            return None
        if self.number.external:
            return self.number.external
        return self.number.primary if isinstance(self.number.primary, str) else None

    @property
    def location_name(self) -> str | None:
        return self.location.name if self.location else None


class LineKind(enum.StrEnum):
    """What a line is in Webex: a licensed user, a shared room or desk phone, or a virtual line."""

    PERSON = "person"
    WORKSPACE = "workspace"
    VIRTUAL_LINE = "virtual_line"


@dataclass(frozen=True)
class Line:
    """One line whose calls Webex records, whatever its kind: what the bot shows and where its settings are."""

    kind: LineKind
    id: str
    name: str
    extension: str | None = None
    phone_numbers: tuple[str, ...] = ()
    location_name: str | None = None
    email: str | None = None
    esn: str | None = None

    @property
    def phone_number(self) -> str | None:
        """The (first) E.164 number, if the line has one."""
        return self.phone_numbers[0] if self.phone_numbers else None

    @property
    def names(self) -> frozenset[str]:
        """Every name a pause target may give this line: its extension, its ESN, and its E.164 numbers with and
        without "+" (a long run of digits is read as a number typed without its "+")."""
        names = {name for name in (self.extension, self.esn) if name}
        for number in self.phone_numbers:
            names |= {number, number.removeprefix("+")}
        return frozenset(names)

    @classmethod
    def of_virtual_line(cls, line: VirtualLine) -> Line:
        number = line.number
        numbers = [n for n in (number.external if number else None, line.phone_number) if n]
        return cls(
            kind=LineKind.VIRTUAL_LINE,
            id=line.id,
            name=line.name,
            extension=line.extension,
            phone_numbers=tuple(dict.fromkeys(_PHONE_PUNCTUATION.sub("", n) for n in numbers)),
            location_name=line.location_name,
            esn=number.esn if number else None,
        )


class PersonPhoneNumber(_WebexModel):
    type: str | None = None
    value: str | None = None
    primary: bool | None = None


class WebexPerson(_WebexModel):
    """One entry of `GET /people` (with `callingData=true`: `extension`, `phoneNumbers`, `locationId`)."""

    id: str
    emails: list[str] = []
    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    extension: str | None = None
    phone_numbers: list[PersonPhoneNumber] = []
    location_id: str | None = None

    @property
    def name(self) -> str:
        if self.display_name and self.display_name.strip():
            return self.display_name.strip()
        full = " ".join(part.strip() for part in (self.first_name, self.last_name) if part and part.strip())
        return full or (self.emails[0] if self.emails else "unnamed person")


class WorkspaceCalling(_WebexModel):
    type: str | None = None


class WebexWorkspace(_WebexModel):
    """One entry of `GET /workspaces`; only `calling.type == "webexCalling"` ones have a line."""

    id: str
    display_name: str | None = None
    calling: WorkspaceCalling | None = None
    location_id: str | None = None

    @property
    def has_calling(self) -> bool:
        return self.calling is not None and self.calling.type == "webexCalling"


class NumberOwner(_WebexModel):
    id: str | None = None
    type: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class NumberEntry(_WebexModel):
    """One entry of `GET /telephony/config/numbers`: a number or extension and who owns it."""

    phone_number: str | None = None
    extension: str | None = None
    esn: str | None = None
    location: LineLocation | None = None
    owner: NumberOwner | None = None


class RecordingNotification(_WebexModel):
    """Pause/resume notification: `type` is None, Beep or Play Announcement."""

    type: str | None = None
    enabled: bool | None = None


class RecordingRepeat(_WebexModel):
    """The periodic "this call is recorded" tone."""

    interval: int | None = None
    enabled: bool | None = None


class StartStopAnnouncement(_WebexModel):
    internal_calls_enabled: bool | None = None
    pstn_calls_enabled: bool | None = None


class SelectiveCallRecording(_WebexModel):
    record_inbound_internal_calls_enabled: bool | None = None
    record_outbound_internal_calls_enabled: bool | None = None
    record_inbound_external_calls_enabled: bool | None = None
    record_outbound_external_calls_enabled: bool | None = None


class CallRecordingSettings(_WebexModel):
    """`GET /telephony/config/virtualLines/{id}/callRecording`; None means Webex did not send it."""

    enabled: bool | None = None
    record: str | None = None
    record_voicemail_enabled: bool | None = None
    notification: RecordingNotification | None = None
    repeat: RecordingRepeat | None = None
    service_provider: str | None = None
    external_group: str | None = None
    external_identifier: str | None = None
    start_stop_announcement: StartStopAnnouncement | None = None
    selective_call_recording_settings: SelectiveCallRecording | None = None

    @property
    def pause_available(self) -> bool | None:
        """Whether a user can pause and resume recordings on this line; None when the settings don't say."""
        if pause_blocker(self) is not None:
            return False
        return True if self.record in PAUSABLE_MODES else None


class RecordingAccess(_WebexModel):
    """`callRecordingAccessSettings` of a person: what they may do with their own recordings."""

    view_and_play_recordings_enabled: bool | None = None
    download_recordings_enabled: bool | None = None
    delete_recordings_enabled: bool | None = None
    share_recordings_enabled: bool | None = None


class PersonRecordingSettings(CallRecordingSettings):
    """`GET /people/{personId}/features/callRecording`: the same settings, and what Webex adds for people."""

    call_recording_access_settings: RecordingAccess | None = None
    start_stop_announcement_enabled: bool | None = None


class PauseBlocker(enum.StrEnum):
    """Why a line's settings rule out pausing its recordings (stored on a request's card as its warning)."""

    RECORDING_DISABLED = "recording_disabled"
    MODE_ALWAYS = "mode_always"
    MODE_NEVER = "mode_never"


def pause_blocker(settings: CallRecordingSettings) -> PauseBlocker | None:
    """The one place that decides whether these settings rule out pause/resume; None when they do not."""
    if settings.enabled is False:
        return PauseBlocker.RECORDING_DISABLED
    if settings.record == RecordMode.ALWAYS:
        return PauseBlocker.MODE_ALWAYS
    if settings.record == RecordMode.NEVER:
        return PauseBlocker.MODE_NEVER
    return None


@dataclass(frozen=True)
class LineNames:
    """The Webex virtual line(s) an extension or number names, and every name they go by (extension, ESN,
    E.164 numbers with and without "+"): two names of one line are one pause target."""

    line_ids: tuple[str, ...]
    names: frozenset[str]

    @property
    def line_id(self) -> str | None:
        """The line, when the name belongs to exactly one."""
        return self.line_ids[0] if len(self.line_ids) == 1 else None
