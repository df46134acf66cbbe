"""Reading the audit log out for people: time filters, a terminal table, and CSV / JSON exports."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

from bot.blocks.audit_csv import FIELDS, write_csv
from bot.blocks.audit_csv import as_utc as _as_utc
from bot.blocks.audit_csv import audit_record as _record
from bot.models import AuditEntry

__all__ = ["FIELDS", "MOMENT_EXAMPLES", "parse_moment", "render_table", "write_csv", "write_json"]


MOMENT_EXAMPLES = "2026-11-01, 2026-11-01T09:30, 2026-11-01T09:30+01:00, 24h, 7d, 30m"

NO_ENTRIES = "no audit entries match"

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


DETAILS_WIDTH = 60
# Widest a column may grow before its values are cut; IDs fit, a runaway value does not push the rest off screen.
_MAX_WIDTH = {"user": 16, "channel": 14, "action": 28, "target": 24, "outcome": 9}


def parse_moment(text: str, *, now: datetime) -> datetime:
    """An ISO date or date-time (naive means UTC) or a span ago (`24h`, `7d`, `30m`) as an aware UTC datetime."""
    value = text.strip()
    if not value:
        raise ValueError(f"a moment is needed, e.g. {MOMENT_EXAMPLES}")
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        try:
            return _as_utc(now) - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before the year 1; try a smaller span, e.g. 30d") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        reason = str(error)
        # fromisoformat's own words are useful when the shape was right but a field was out of range.
        detail = "" if reason.startswith("Invalid isoformat") else f" ({reason})"
        raise ValueError(
            f"{text!r} is not a date, date-time or span ago{detail}; e.g. {MOMENT_EXAMPLES} (m = minutes)"
        ) from None
    return _as_utc(moment)


def render_table(entries: Sequence[AuditEntry]) -> str:
    """A fixed-width table for a terminal, one line per entry, in the order given."""
    if not entries:
        return NO_ENTRIES
    headers = ("time (UTC)", "user", "channel", "action", "target", "outcome", "details")
    rows = [
        (
            _as_utc(entry.at).strftime("%Y-%m-%d %H:%M:%S"),
            _cut(_printable(entry.user_id) or "-", _MAX_WIDTH["user"]),
            _cut(_printable(entry.channel_id) or "-", _MAX_WIDTH["channel"]),
            _cut(_printable(entry.action) or "-", _MAX_WIDTH["action"]),
            _cut(_printable(entry.target) or "-", _MAX_WIDTH["target"]),
            _cut(_printable(entry.outcome) or "-", _MAX_WIDTH["outcome"]),
            _cut(_printable(entry.details), DETAILS_WIDTH),
        )
        for entry in entries
    ]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=True)]
        # Details is last and often empty; stripping keeps lines free of trailing blanks.
        return "  ".join(padded).rstrip()

    rule = ["-" * width for width in widths]
    return "\n".join([line(headers), line(rule), *(line(row) for row in rows)])


def write_json(entries: Sequence[AuditEntry], stream: TextIO) -> None:
    """A JSON array of objects keyed like the CSV header; `details` as an object when it holds one."""
    records = []
    for entry in entries:
        record: dict[str, Any] = _record(entry)
        record["details"] = _details(entry.details)
        records.append(record)
    json.dump(records, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def _details(text: str) -> Any:
    # Only objects are unpacked: a details string that happens to read as a number or `true` stays
    # text, so consumers see one of two shapes, never a type that depends on the content.
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict) else text


def _printable(text: str) -> str:
    """One line with no control or bidi characters: command text is user input, and raw escapes would
    let it repaint the reviewer's terminal or reorder what they read."""
    cleaned = "".join(
        " " if char.isspace() else "?" if unicodedata.category(char) in ("Cc", "Cf") else char for char in text
    )
    return " ".join(cleaned.split())


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
