"""The simulated Webex's virtual lines: their IDs, as Webex forms them, and the demo's default set.

Webex's settings shapes are those of the protocol notes (webex-calling-api.md in the project's reference).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

_NAMESPACE = uuid.UUID("6f1f7f4e-9a53-4c39-9e43-52f5c0a1d001")


def virtual_line_id(key: str, *, region: str = "us") -> str:
    """A stable Webex-style ID: unpadded base64 of `ciscospark://us/VIRTUAL_LINE/<uuid>`."""
    raw = f"ciscospark://{region}/VIRTUAL_LINE/{uuid.uuid5(_NAMESPACE, key)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@dataclass
class SimulatedLine:
    """One virtual line: its list entry and its call-recording settings, both as Webex sends them."""

    id: str
    first_name: str | None
    last_name: str | None
    extension: str | None = None
    external: str | None = None
    location_name: str | None = None
    location_id: str | None = None
    call_recording: dict[str, Any] = field(default_factory=dict)
    # Extra keys merged into the list entry (e.g. fields a newer API version adds).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def owner_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def list_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": self.id}
        if self.first_name is not None:
            entry["firstName"] = self.first_name
        if self.last_name is not None:
            entry["lastName"] = self.last_name
        number: dict[str, Any] = {"primary": True}
        if self.extension is not None:
            number["extension"] = self.extension
        if self.external is not None:
            number["external"] = self.external
        entry["number"] = number
        if self.location_name is not None:
            entry["location"] = {
                "id": self.location_id or location_id(self.location_name),
                "name": self.location_name,
            }
        entry["numberOfDevicesAssigned"] = 1
        entry["billingPlan"] = "BCOCP1"
        entry.update(self.extra)
        return entry


def location_id(name: str) -> str:
    raw = f"ciscospark://us/LOCATION/{uuid.uuid5(_NAMESPACE, 'location:' + name)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def recording(
    record: str,
    *,
    enabled: bool = True,
    voicemail: bool = False,
    notification: tuple[str, bool] = ("None", False),
    repeat: tuple[int, bool] = (15, False),
    announce: tuple[bool, bool] = (False, False),
    group: str = "WSWYZ25455L31161",
    identifier: str = "a34iidrh5o@64941297.int10.bcld.webex.com",
) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "record": record,
        "recordVoicemailEnabled": voicemail,
        "notification": {"type": notification[0], "enabled": notification[1]},
        "repeat": {"interval": repeat[0], "enabled": repeat[1]},
        "serviceProvider": "WSWYZ25455",
        "externalGroup": group,
        "externalIdentifier": identifier,
        "startStopAnnouncement": {"internalCallsEnabled": announce[0], "pstnCallsEnabled": announce[1]},
    }


def default_lines() -> list[SimulatedLine]:
    """The seed: nine lines in three locations.

    - ext 1000 "Main Reception" is a plain Always line;
    - ext 1001 exists twice (San Jose "Front Desk", London "Lobby Phone"): an ambiguous extension;
    - "Help Desk" owns two lines (London 2001, Austin 3001): an ambiguous name;
    - modes: Always (1000, 1001 SJ), Always with Pause/Resume (1002, 2001), On Demand (1003), Never (1004),
      disabled (3001);
    - 1003 has `selectiveCallRecordingSettings`; 2001 has a field this API version does not know;
      1001 London omits most optional fields and has no E.164 number;
    - "R&D <Lab>" (1006) has text that must be escaped in Slack.
    """
    return [
        SimulatedLine(
            id=virtual_line_id("main-reception"),
            first_name="Main",
            last_name="Reception",
            extension="1000",
            external="+14085550100",
            location_name="San Jose HQ",
            call_recording=recording("Always", voicemail=True),
        ),
        SimulatedLine(
            id=virtual_line_id("front-desk-sj"),
            first_name="Front",
            last_name="Desk",
            extension="1001",
            external="+14085550101",
            location_name="San Jose HQ",
            call_recording=recording("Always", repeat=(30, True), announce=(True, True)),
        ),
        SimulatedLine(
            id=virtual_line_id("sales-queue"),
            first_name="Sales",
            last_name="Queue",
            extension="1002",
            external="+14085550102",
            location_name="San Jose HQ",
            call_recording=recording(
                "Always with Pause/Resume",
                voicemail=True,
                notification=("Beep", True),
                repeat=(15, True),
                announce=(False, True),
            ),
        ),
        SimulatedLine(
            id=virtual_line_id("support-line"),
            first_name="Support",
            last_name="Line",
            extension="1003",
            external="+14085550103",
            location_name="San Jose HQ",
            call_recording={
                **recording("On Demand with User Initiated Start", notification=("Play Announcement", True)),
                "selectiveCallRecordingSettings": {
                    "recordInboundInternalCallsEnabled": False,
                    "recordOutboundInternalCallsEnabled": False,
                    "recordInboundExternalCallsEnabled": True,
                    "recordOutboundExternalCallsEnabled": True,
                },
            },
        ),
        SimulatedLine(
            id=virtual_line_id("billing-desk"),
            first_name="Billing",
            last_name="Desk",
            extension="1004",
            external="+14085550104",
            location_name="San Jose HQ",
            call_recording=recording("Never"),
        ),
        SimulatedLine(
            id=virtual_line_id("help-desk-london"),
            first_name="Help",
            last_name="Desk",
            extension="2001",
            external="+442071838750",
            location_name="London Office",
            call_recording={
                **recording("Always with Pause/Resume", notification=("Play Announcement", True)),
                "callRecordingAccessSettings": {
                    "viewAndPlayRecordingsEnabled": True,
                    "downloadRecordingsEnabled": False,
                    "deleteRecordingsEnabled": False,
                    "shareRecordingsEnabled": True,
                },
            },
        ),
        SimulatedLine(
            id=virtual_line_id("help-desk-austin"),
            first_name="Help",
            last_name="Desk",
            extension="3001",
            external="+15125550131",
            location_name="Austin Branch",
            call_recording=recording("Always", enabled=False),
        ),
        SimulatedLine(
            id=virtual_line_id("lobby-london"),
            first_name="Lobby",
            last_name="Phone",
            extension="1001",
            external=None,
            location_name="London Office",
            call_recording={"enabled": True, "record": "Always with Pause/Resume"},
        ),
        SimulatedLine(
            id=virtual_line_id("rnd-lab"),
            first_name="R&D",
            last_name="<Lab> <!channel>",
            extension="1006",
            external="+14085550106",
            location_name="San Jose HQ",
            call_recording=recording("Always with Pause/Resume", group="<!here> & co"),
        ),
    ]
