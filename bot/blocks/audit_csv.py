"""The audit log's rows as CSV (RFC 4180, spreadsheet-safe): the export of `recording-bot audit --format csv` and
the file every daily digest carries."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.models import AuditEntry

FIELDS: tuple[str, ...] = (
    "id",
    "at",
    "request_id",
    "team_id",
    # Where team_id is an organisation (an org-wide install): the workspace the row came from; else empty.
    "workspace_id",
    "user_id",
    "channel_id",
    "action",
    "command",
    "target",
    "outcome",
    "details",
)

# Spreadsheets run a cell starting with one of these as a formula; tab and CR are on OWASP's list
# too because some importers strip them and then see the formula behind them.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_csv(entries: Sequence[AuditEntry], stream: TextIO) -> None:
    """RFC 4180 CSV with a header row; open files with newline="" so the csv module controls line ends."""
    writer = csv.writer(stream)
    writer.writerow(FIELDS)
    for entry in entries:
        record = audit_record(entry)
        writer.writerow([_defuse(record[field]) for field in FIELDS])


def audit_record(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "request_id": entry.request_id,
        "team_id": entry.team_id,
        "workspace_id": entry.workspace_id,
        "user_id": entry.user_id,
        "channel_id": entry.channel_id,
        "action": entry.action,
        "command": entry.command,
        "target": entry.target,
        "outcome": entry.outcome,
        "details": entry.details,
    }


def _defuse(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def audit_csv(entries: Sequence[AuditEntry]) -> bytes:
    """The CSV as UTF-8 bytes, for a file upload."""
    stream = io.StringIO(newline="")
    write_csv(entries, stream)
    return stream.getvalue().encode("utf-8")
