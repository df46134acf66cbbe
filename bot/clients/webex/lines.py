"""Finding virtual lines in the list Webex returns: what a person typed, matched against an index of the list
(by name, Webex ID or UUID; extensions and numbers of every kind of line go to the numbers API, owners.py).

Webex has no extension filter, so the bot reads the whole list once (cached) and indexes it here; a lookup
costs a dict access, not a scan.
"""

from __future__ import annotations

import re

from bot.clients.webex.owners import decoded_id, fold
from bot.models import VirtualLine

# Webex IDs are unpadded base64 of "ciscospark://<region>/VIRTUAL_LINE/<uuid>", about 80 characters.
_WEBEX_ID = re.compile(r"^[A-Za-z0-9+/=_-]{40,}$")
_WEBEX_ID_PREFIX = "Y2lzY29"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
# Slack turns phone numbers typed in messages into <tel:+1415…|+1 415 …> links.
_SLACK_TEL_LINK = re.compile(r"^<tel:([^|>]+)(?:\|[^>]*)?>$")


class LineIndex:
    """The line list with lookup tables, built once per fetch."""

    def __init__(self, lines: tuple[VirtualLine, ...]) -> None:
        self.lines = lines
        self._extension: dict[str, list[VirtualLine]] = {}
        self._number: dict[str, list[VirtualLine]] = {}
        self._id: dict[str, list[VirtualLine]] = {}
        self._uuid: dict[str, list[VirtualLine]] = {}
        self._full_name: dict[str, list[VirtualLine]] = {}
        self._any_name: dict[str, list[VirtualLine]] = {}
        for line in lines:
            self._id.setdefault(line.id, []).append(line)
            decoded = (decoded_id(line.id) or "").lower()
            if "/" in decoded:
                self._uuid.setdefault(decoded.rsplit("/", 1)[1], []).append(line)
            if line.number is not None:
                for extension in {line.number.extension, line.number.esn} - {None}:
                    self._extension.setdefault(str(extension), []).append(line)
            for number in numbers_of(line):
                self._number.setdefault(number, []).append(line)
            full_names = {fold(f"{line.first_name or ''} {line.last_name or ''}"), fold(line.display_name)}
            for name in full_names:
                self._full_name.setdefault(name, []).append(line)
            for name in full_names | {fold(line.first_name), fold(line.last_name)}:
                self._any_name.setdefault(name, []).append(line)

    def find(self, query: str) -> list[VirtualLine]:
        """Lines matching a Webex ID, an extension, an E.164 number or an owner name ("First Last")."""
        text = query.strip().strip("`'\"“”").strip()
        tel = _SLACK_TEL_LINK.match(text)
        if tel:
            text = tel.group(1).strip()
        if not text:
            return []
        phone = _PHONE_PUNCTUATION.sub("", text)
        if text.startswith("+") and _E164.match(phone):
            return list(self._number.get(phone, ()))
        if _DIGITS.match(phone) and (text == phone or len(phone) > 6):
            # An extension; a long run of digits may also be an E.164 number typed without its "+".
            return _unique([*self._extension.get(phone, ()), *self._number.get(f"+{phone}", ())])
        if _UUID.match(text):
            # Control Hub shows the bare UUID that the opaque ID encodes.
            return list(self._uuid.get(text.lower(), ()))
        if text.startswith(_WEBEX_ID_PREFIX) or _WEBEX_ID.match(text):
            return list(self._id.get(text, ()))
        wanted = fold(text)
        return _unique(self._full_name.get(wanted, []) if " " in wanted else self._any_name.get(wanted, []))


def numbers_of(line: VirtualLine) -> set[str]:
    """The line's E.164 numbers, without punctuation."""
    if line.number is None:
        return set()
    numbers = {line.number.external} if line.number.external else set()
    if isinstance(line.number.primary, str) and line.number.primary:
        numbers.add(line.number.primary)
    return {_PHONE_PUNCTUATION.sub("", number) for number in numbers}


def _unique(lines: list[VirtualLine]) -> list[VirtualLine]:
    """Keep list order, drop repeats (a line can match by more than one key)."""
    unique: list[VirtualLine] = []
    for line in lines:
        if not any(line is kept for kept in unique):
            unique.append(line)
    return unique
