"""What a person typed to name a line, and Webex's people, workspaces and numbers as lines (no I/O).

A query is one of: an extension or E.164 number (asked of the numbers API, whose `owner` says whose it is),
an e-mail address (a person), a Webex ID (its decoded form says its kind), the bare UUID Control Hub shows
(virtual lines), or a name (people, workspaces and virtual lines alike).
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass

from bot.models import Line, LineKind, NumberEntry, WebexPerson, WebexWorkspace

_WEBEX_ID = re.compile(r"^[A-Za-z0-9+/=_-]{40,}$")
_WEBEX_ID_PREFIX = "Y2lzY29"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_EMAIL = re.compile(r"^[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
# Slack turns what looks like a phone number or an address into a link: <tel:+1415…|…>, <mailto:a@b|a@b>.
_SLACK_TEL_LINK = re.compile(r"^<tel:([^|>]+)(?:\|[^>]*)?>$")
_SLACK_MAILTO_LINK = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")

# The numbers API's owner types that have call-recording settings of their own.
_OWNER_KINDS = {"PEOPLE": LineKind.PERSON, "PLACE": LineKind.WORKSPACE, "VIRTUAL_LINE": LineKind.VIRTUAL_LINE}
# The kind a Webex ID's decoded path names (`ciscospark://us/PEOPLE/<uuid>`).
_ID_KINDS = {"PEOPLE": LineKind.PERSON, "PLACE": LineKind.WORKSPACE, "VIRTUAL_LINE": LineKind.VIRTUAL_LINE}


class QueryKind(enum.Enum):
    NUMBER = "number"  # an E.164 number: `phoneNumber`
    DIGITS = "digits"  # an extension, or (long) a number typed without its "+"
    EMAIL = "email"
    WEBEX_ID = "webex_id"
    UUID = "uuid"
    NAME = "name"


@dataclass(frozen=True)
class Query:
    kind: QueryKind
    text: str

    @property
    def id_kind(self) -> LineKind | None:
        """The kind a Webex ID names (None: not an ID, or not one of a line)."""
        return kind_of_id(self.text) if self.kind is QueryKind.WEBEX_ID else None


def classify(query: str) -> Query | None:
    """What `query` is (None: nothing at all was typed)."""
    text = query.strip().strip("`'\"“”").strip()
    for link in (_SLACK_TEL_LINK, _SLACK_MAILTO_LINK):
        matched = link.match(text)
        if matched:
            text = matched.group(1).strip()
    if not text:
        return None
    phone = _PHONE_PUNCTUATION.sub("", text)
    if text.startswith("+") and _E164.match(phone):
        return Query(QueryKind.NUMBER, phone)
    if _DIGITS.match(phone) and (text == phone or len(phone) > 6):
        return Query(QueryKind.DIGITS, phone)
    if _EMAIL.match(text):
        return Query(QueryKind.EMAIL, text)
    if _UUID.match(text):
        return Query(QueryKind.UUID, text.lower())
    if text.startswith(_WEBEX_ID_PREFIX) or _WEBEX_ID.match(text):
        return Query(QueryKind.WEBEX_ID, text)
    return Query(QueryKind.NAME, " ".join(text.split()))


def kind_of_id(webex_id: str) -> LineKind | None:
    decoded = decoded_id(webex_id) or ""
    parts = decoded.split("/")
    return _ID_KINDS.get(parts[-2]) if decoded.startswith("ciscospark://") and len(parts) >= 2 else None


def decoded_id(webex_id: str) -> str | None:
    padded = webex_id + "=" * (-len(webex_id) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return decode(padded).decode("utf-8")
        except (binascii.Error, ValueError):
            continue
    return None


def fold(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def lines_of_numbers(entries: list[NumberEntry]) -> list[Line]:
    """The lines that own these numbers, one per owner (a person's number and extension are one line);
    owners without call-recording settings of their own (hunt groups, call queues…) are left out."""
    lines: dict[str, Line] = {}
    for entry in entries:
        owner = entry.owner
        kind = _OWNER_KINDS.get(owner.type or "") if owner is not None else None
        if owner is None or kind is None or not owner.id:
            continue
        name = " ".join(part.strip() for part in (owner.first_name, owner.last_name) if part and part.strip())
        numbers = (_PHONE_PUNCTUATION.sub("", entry.phone_number),) if entry.phone_number else ()
        known = lines.get(owner.id)
        if known is None:
            lines[owner.id] = Line(
                kind=kind,
                id=owner.id,
                name=name or _UNNAMED[kind],
                extension=entry.extension,
                phone_numbers=numbers,
                location_name=entry.location.name if entry.location else None,
                esn=entry.esn,
            )
        else:
            lines[owner.id] = Line(
                kind=kind,
                id=known.id,
                name=known.name,
                extension=known.extension or entry.extension,
                phone_numbers=tuple(dict.fromkeys((*known.phone_numbers, *numbers))),
                location_name=known.location_name or (entry.location.name if entry.location else None),
                esn=known.esn or entry.esn,
            )
    return list(lines.values())


_UNNAMED = {
    LineKind.PERSON: "unnamed person",
    LineKind.WORKSPACE: "unnamed workspace",
    LineKind.VIRTUAL_LINE: "unnamed virtual line",
}


def line_of_person(person: WebexPerson, *, email: str | None = None) -> Line:
    numbers = [n.value for n in sorted(person.phone_numbers, key=lambda n: not n.primary) if n.value]
    return Line(
        kind=LineKind.PERSON,
        id=person.id,
        name=person.name,
        extension=(person.extension or "").strip() or None,
        phone_numbers=tuple(dict.fromkeys(_PHONE_PUNCTUATION.sub("", n) for n in numbers if n.startswith("+"))),
        email=email or (person.emails[0] if person.emails else None),
    )


def line_of_workspace(workspace: WebexWorkspace, numbers: list[Line]) -> Line:
    """A workspace, with the extension, numbers and location the numbers API gives for it (`numbers`)."""
    own = next((line for line in numbers if line.id == workspace.id), None)
    return Line(
        kind=LineKind.WORKSPACE,
        id=workspace.id,
        name=(workspace.display_name or "").strip() or _UNNAMED[LineKind.WORKSPACE],
        extension=own.extension if own else None,
        phone_numbers=own.phone_numbers if own else (),
        location_name=own.location_name if own else None,
    )


def person_named(person: WebexPerson, wanted: str) -> bool:
    """Whether a person's name is `wanted` (folded): the display name or "First Last"; one word: the first or
    the last name alone."""
    full = {fold(person.display_name), fold(f"{person.first_name or ''} {person.last_name or ''}")}
    if " " in wanted:
        return wanted in full
    return wanted in full | {fold(person.first_name), fold(person.last_name)}


def has_email(person: WebexPerson, wanted: str) -> bool:
    """Exactly this address, ignoring case: Webex's search may also answer with an alias or a partial match."""
    folded = wanted.strip().casefold()
    return any(isinstance(e, str) and e.strip().casefold() == folded for e in person.emails)
