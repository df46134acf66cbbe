"""`recording-bot digest [--date D] [--out DIR]`: a day's compliance digest written as files (its text, its
chart as PNG, its audit rows as CSV) for a compliance archive; Slack is not needed."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from bot.blocks.audit_csv import audit_csv
from bot.blocks.digest import digest_text
from bot.chart import ChartFailed, draw_chart
from bot.config import Config
from bot.services.digest import DigestBuilder, DigestSchedule
from bot.store.audit import AuditStore
from bot.store.changes import ChangeRequestStore
from bot.store.connect import open_database
from bot.store.pauses import PauseRequestStore

EXIT_USAGE = 2
EXIT_FAILED = 1
# Owner-only, like the database and the audit exports: a digest names people and what they did.
FILE_MODE = 0o600

_EPILOG = """\
A digest is named by the day it is posted: the digest of D covers the 24 hours that end at DIGEST_TIME
(in DIGEST_TIMEZONE) on D. Without --date: the latest one that has ended.

examples:
  recording-bot digest
  recording-bot digest --date 2026-12-02 --out /srv/compliance/digests
"""


def add_digest_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    digest = subparsers.add_parser(
        "digest",
        help="write a day's compliance digest (text, chart PNG, audit CSV) to files",
        description="Write the compliance digest of one day as files: its text, its chart (PNG) and the "
        "period's audit rows (CSV).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    digest.add_argument("--date", metavar="YYYY-MM-DD", help="the digest of this day (default: the latest ended)")
    digest.add_argument("--out", metavar="DIR", default=".", help="the folder to write into (default: here)")
    digest.set_defaults(func=run_digest)
    return digest


def run_digest(config: Config, args: argparse.Namespace) -> int:
    schedule = DigestSchedule.parse(config.digest_time, config.digest_timezone)
    now = datetime.now(UTC)
    if args.date is None:
        period = schedule.last_ended(now)
    else:
        try:
            day = date.fromisoformat(args.date.strip())
        except ValueError:
            print(f"recording-bot digest: --date {args.date!r} is not a date: give YYYY-MM-DD, e.g. --date "
                  f"{schedule.last_ended(now).day.isoformat()}", file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        period = schedule.period_of(day)
        if period.end > now:
            print(f"recording-bot digest: the digest of {day} covers the 24 hours up to {period.end:%Y-%m-%d %H:%M} "
                  "UTC, which have not ended yet; give an earlier --date", file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
    if config.database_url is None and not config.database_path.exists():
        print(f"recording-bot digest: no database at {config.database_path}: check DATABASE_PATH", file=sys.stderr)
        return EXIT_USAGE
    database = open_database(config)
    try:
        database.migrate()
        builder = DigestBuilder(
            pauses=PauseRequestStore(database=database), audit=AuditStore(database=database),
            changes=ChangeRequestStore(database=database),
        )  # fmt: skip
        digest, rows = builder.build(period)
    finally:
        database.close()
    problems: list[str] = []
    files: dict[str, bytes] = {}
    stem = period.day.isoformat()
    try:
        files[f"digest-{stem}.png"] = draw_chart(digest.chart)
    except ChartFailed as error:
        problems.append(f"The chart was not drawn: {error}.")
    files[f"audit-{stem}.csv"] = audit_csv(rows)
    files = {f"digest-{stem}.txt": digest_text(digest, problems=problems).encode("utf-8"), **files}
    folder = Path(args.out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            _write(folder / name, content)
    except OSError as error:
        print(f"recording-bot digest: cannot write into {folder}: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILED
    for name in files:
        print(f"wrote {folder / name}")
    for problem in problems:
        print(f"recording-bot digest: {problem}", file=sys.stderr)
    return EXIT_FAILED if problems else 0


def _write(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with open(descriptor, "wb") as stream:
        os.fchmod(descriptor, FILE_MODE)
        stream.write(content)
