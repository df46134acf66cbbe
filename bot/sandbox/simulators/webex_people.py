"""The simulated Webex's people, workspaces and numbers: their seed data, and the answers of their routes.

Shapes follow the protocol notes (webex-people-workspaces.md in the project's reference): `GET /people`
(`email` exact, `displayName` prefix, `callingData=true` adds `extension`, `phoneNumbers`, `locationId`),
`GET /people/{id}`, `GET /people/{id}/features/callRecording`, `GET /workspaces` (`displayName` prefix),
`GET /workspaces/{id}`, `GET /telephony/config/workspaces/{id}/features/callRecordings` (plural) and
`GET /telephony/config/numbers` (every number and extension with its owner). Lists page with `start`/`max`
and a `Link: rel="next"` header, as the virtual lines do.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bot.sandbox.simulators.base import RecordedRequest, Reply
from bot.sandbox.simulators.webex_lines import SimulatedLine, location_id, recording

_NAMESPACE = uuid.UUID("0c3e51a2-7b44-4f0e-8d7a-3b1f6e9d2c40")

PEOPLE_READ = "spark-admin:people_read"
WORKSPACES_READ = "spark-admin:workspaces_read"
TELEPHONY_READ = "spark-admin:telephony_config_read"
# What an org admin's token carries in the demo (writes too, for the settings changes built on this).
DEFAULT_SCOPES = frozenset(
    {PEOPLE_READ, WORKSPACES_READ, TELEPHONY_READ, "spark-admin:people_write", "spark-admin:telephony_config_write"}
)


def person_id(key: str, *, region: str = "us") -> str:
    """A stable Webex-style person ID: unpadded base64 of `ciscospark://us/PEOPLE/<uuid>`."""
    return _webex_id("PEOPLE", key, region)


def workspace_id(key: str, *, region: str = "us") -> str:
    """A stable Webex-style workspace ID: unpadded base64 of `ciscospark://us/PLACE/<uuid>`."""
    return _webex_id("PLACE", key, region)


def _webex_id(kind: str, key: str, region: str) -> str:
    raw = f"ciscospark://{region}/{kind}/{uuid.uuid5(_NAMESPACE, kind + ':' + key)}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@dataclass
class SimulatedPerson:
    """A licensed user: the People API's entry and their call-recording settings, as Webex sends them."""

    id: str
    emails: list[str]
    display_name: str
    first_name: str | None = None
    last_name: str | None = None
    extension: str | None = None
    phone_number: str | None = None
    location_name: str | None = None
    call_recording: dict[str, Any] = field(default_factory=dict)

    def entry(self, *, calling_data: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "emails": list(self.emails),
            "displayName": self.display_name,
            "type": "person",
            "created": "2024-05-02T09:12:44.001Z",
        }
        if self.first_name is not None:
            entry["firstName"] = self.first_name
        if self.last_name is not None:
            entry["lastName"] = self.last_name
        if calling_data:
            if self.extension is not None:
                entry["extension"] = self.extension
            if self.phone_number is not None:
                entry["phoneNumbers"] = [{"type": "work", "value": self.phone_number, "primary": True}]
            if self.location_name is not None:
                entry["locationId"] = location_id(self.location_name)
        return entry


@dataclass
class SimulatedWorkspace:
    """A shared room or desk phone: the Workspaces API's entry and its call-recording settings."""

    id: str
    display_name: str
    calling_type: str = "webexCalling"
    extension: str | None = None
    phone_number: str | None = None
    location_name: str | None = None
    call_recording: dict[str, Any] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "displayName": self.display_name,
            "type": "desk",
            "calling": {"type": self.calling_type},
            "supportedDevices": "phones",
        }
        if self.location_name is not None:
            entry["locationId"] = location_id(self.location_name)
        return entry


def default_people() -> list[SimulatedPerson]:
    """Jane Doe (ext 4001, Always with Pause/Resume, with recording-access settings) and Raj Patel (ext 4002,
    Always: a pause on his line cannot work)."""
    jane = recording("Always with Pause/Resume", notification=("Beep", True), announce=(True, True))
    jane["callRecordingAccessSettings"] = {
        "viewAndPlayRecordingsEnabled": True,
        "downloadRecordingsEnabled": True,
        "deleteRecordingsEnabled": False,
        "shareRecordingsEnabled": False,
    }
    jane["startStopAnnouncementEnabled"] = True
    return [
        SimulatedPerson(
            id=person_id("jane-doe"), emails=["jane.doe@example.com"], display_name="Jane Doe", first_name="Jane",
            last_name="Doe", extension="4001", phone_number="+14085554001", location_name="San Jose HQ",
            call_recording=jane,
        ),
        SimulatedPerson(
            id=person_id("raj-patel"), emails=["raj.patel@example.com"], display_name="Raj Patel", first_name="Raj",
            last_name="Patel", extension="4002", phone_number="+14085554002", location_name="San Jose HQ",
            call_recording=recording("Always"),
        ),
    ]  # fmt: skip


def default_workspaces() -> list[SimulatedWorkspace]:
    """ "Trading room 3" (ext 5003, Always), "Front Desk" in Austin (ext 3100: the name a virtual line has
    too) and "Boardroom" (no Webex Calling, so no line)."""
    return [
        SimulatedWorkspace(
            id=workspace_id("trading-room-3"), display_name="Trading room 3", extension="5003",
            phone_number="+14085555003", location_name="San Jose HQ", call_recording=recording("Always"),
        ),
        SimulatedWorkspace(
            id=workspace_id("front-desk-austin"), display_name="Front Desk", extension="3100",
            location_name="Austin Branch", call_recording=recording("Always with Pause/Resume"),
        ),
        SimulatedWorkspace(id=workspace_id("boardroom"), display_name="Boardroom", calling_type="none"),
    ]  # fmt: skip


# A hunt group's number: an owner with no call-recording settings of its own.
_HUNT_GROUP_OWNER = {"id": _webex_id("HUNT_GROUP", "sales-hunt", "us"), "type": "HUNT_GROUP", "firstName": "Sales Hunt"}


def number_entries(
    people: Sequence[SimulatedPerson], workspaces: Sequence[SimulatedWorkspace], lines: Sequence[SimulatedLine]
) -> list[dict[str, Any]]:
    """`GET /telephony/config/numbers`'s items: every number or extension, with its owner."""
    rows: list[tuple[str | None, str | None, str | None, dict[str, Any]]] = []
    for person in people:
        owner = {"id": person.id, "type": "PEOPLE", "firstName": person.first_name, "lastName": person.last_name}
        rows.append((person.phone_number, person.extension, person.location_name, owner))
    for place in workspaces:
        if place.calling_type == "webexCalling":
            owner = {"id": place.id, "type": "PLACE", "firstName": place.display_name}
            rows.append((place.phone_number, place.extension, place.location_name, owner))
    for line in lines:
        owner = {"id": line.id, "type": "VIRTUAL_LINE", "firstName": line.first_name, "lastName": line.last_name}
        rows.append((line.external, line.extension, line.location_name, owner))
    rows.append(("+14085556000", "6000", "San Jose HQ", dict(_HUNT_GROUP_OWNER)))
    entries = []
    for phone, extension, location, owner in rows:
        if phone is None and extension is None:
            continue
        entry: dict[str, Any] = {"state": "ACTIVE", "mainNumber": False, "tollFreeNumber": False}
        if phone is not None:
            entry["phoneNumber"] = phone
        if extension is not None:
            entry["extension"] = extension
        if location is not None:
            entry["location"] = {"id": location_id(location), "name": location}
        entry["owner"] = {key: value for key, value in owner.items() if value is not None}
        entries.append(entry)
    return entries


# -- answers -------------------------------------------------------------------------------------


ErrorReply = Callable[[int, str], Reply]


def paged(request: RecordedRequest, items: list[dict[str, Any]], key: str, server_url: str, error: ErrorReply) -> Reply:
    """One page of `items` under `key`, with a `Link: rel="next"` header while more follow."""
    try:
        start = int(request.query.get("start", "0"))
        size = int(request.query.get("max", "100"))
    except ValueError:
        return error(400, "start and max must be integers.")
    if start < 0 or size < 1:
        return error(400, "start must be >= 0 and max >= 1.")
    page = items[start : start + size]
    headers: dict[str, str] = {}
    if start + size < len(items):
        params = {k: v for k, v in request.query.items() if k not in ("start", "max")}
        params.update({"start": str(start + size), "max": str(size)})
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        headers["Link"] = f'<{server_url}{request.path}?{query}>; rel="next"'
    return Reply(status=200, body=json.dumps({key: page}), headers=headers)


def people_list(
    request: RecordedRequest, people: Sequence[SimulatedPerson], server_url: str, error: ErrorReply
) -> Reply:
    """`GET /people`: by exact `email`, by `displayName` prefix, by `id` list, or (an admin) everyone."""
    query = request.query
    calling = query.get("callingData") == "true"
    email = query.get("email", "").casefold()
    name = query.get("displayName", "").casefold()
    wanted_ids = {part for part in query.get("id", "").split(",") if part}
    found = [
        person.entry(calling_data=calling)
        for person in people
        if (not email or email in (e.casefold() for e in person.emails))
        and (not name or person.display_name.casefold().startswith(name))
        and (not wanted_ids or person.id in wanted_ids)
    ]
    return paged(request, found, "items", server_url, error)


def workspaces_list(
    request: RecordedRequest, workspaces: Sequence[SimulatedWorkspace], server_url: str, error: ErrorReply
) -> Reply:
    """`GET /workspaces`: by `displayName` prefix (and `calling` type), or all."""
    name = request.query.get("displayName", "").casefold()
    calling = request.query.get("calling", "")
    found = [
        place.entry()
        for place in workspaces
        if (not name or place.display_name.casefold().startswith(name))
        and (not calling or place.calling_type == calling)
    ]
    return paged(request, found, "items", server_url, error)


def numbers_list(request: RecordedRequest, entries: list[dict[str, Any]], server_url: str, error: ErrorReply) -> Reply:
    """`GET /telephony/config/numbers` with the `phoneNumber`, `extension`, `ownerId`, `ownerType` filters."""
    query = request.query
    phone = query.get("phoneNumber", "")
    extension = query.get("extension", "")
    owner_id = query.get("ownerId", "")
    owner_type = query.get("ownerType", "")
    found = [
        entry
        for entry in entries
        if (not phone or entry.get("phoneNumber") == phone)
        and (not extension or entry.get("extension") == extension)
        and (not owner_id or entry["owner"].get("id") == owner_id)
        and (not owner_type or entry["owner"].get("type") == owner_type)
    ]
    return paged(request, found, "phoneNumbers", server_url, error)


def answer_people(
    request: RecordedRequest,
    path: str,
    *,
    people: Sequence[SimulatedPerson],
    workspaces: Sequence[SimulatedWorkspace],
    lines: Sequence[SimulatedLine],
    server_url: str,
    error: ErrorReply,
) -> Reply:
    """The answer of a people, workspace or numbers route (`path` without `/v1`); 404 for any other path."""
    parts = path.strip("/").split("/")
    calling = request.query.get("callingData") == "true"
    if path == "/people":
        return people_list(request, people, server_url, error)
    if path == "/workspaces":
        return workspaces_list(request, workspaces, server_url, error)
    if path == "/telephony/config/numbers":
        return numbers_list(request, number_entries(people, workspaces, lines), server_url, error)
    if parts[0] == "people" and len(parts) in (2, 4):
        person = next((p for p in people if p.id == parts[1]), None)
        if person is None:
            return error(404, "Person not found.")
        if len(parts) == 2:
            return Reply(status=200, body=json.dumps(person.entry(calling_data=calling)))
        if parts[2:] == ["features", "callRecording"]:
            return Reply(status=200, body=json.dumps(person.call_recording))
    if parts[0] == "workspaces" and len(parts) == 2:
        place = next((w for w in workspaces if w.id == parts[1]), None)
        return Reply(status=200, body=json.dumps(place.entry())) if place else error(404, "Workspace not found.")
    if parts[:3] == ["telephony", "config", "workspaces"] and parts[4:] == ["features", "callRecordings"]:
        place = next((w for w in workspaces if w.id == parts[3] and w.calling_type == "webexCalling"), None)
        if place is None:
            return error(404, "Workspace not found, or it has no Webex Calling.")
        return Reply(status=200, body=json.dumps(place.call_recording))
    return error(404, "Resource not found.")
