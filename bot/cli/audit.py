"""`recording-bot audit`: the audit log as a table for a terminal, or a CSV / JSON export for compliance reviews."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.cli.anchors import anchors_from_slack
from bot.cli.audit_export import MOMENT_EXAMPLES, parse_moment, render_table, write_csv, write_json
from bot.commands.parser import read_user_id
from bot.config import Config
from bot.models import Anchor, AnchorProblem, AuditQuery
from bot.store.audit import AuditStore
from bot.store.connect import open_database

__all__ = ["EXIT_USAGE", "TABLE_LIMIT", "add_audit_parser", "run_audit"]

# Same code argparse uses for a bad argument, so scripts can tell "asked wrongly" from "failed".
EXIT_USAGE = 2
EXIT_FAILED = 1
TABLE_LIMIT = 50
EXPORT_MODE = 0o600

_EPILOG = f"""\
moments (--since, --until): an ISO date or date-time, or a span ago:
  {MOMENT_EXAMPLES}
  A date-time without a zone is UTC; a date means its midnight UTC, so --until 2026-12-01 ends with
  November 30. Spans count back from now: s seconds, m minutes, h hours, d days, w weeks.
  --since includes the moment, --until excludes it.

examples:
  recording-bot audit --since 24h
  recording-bot audit --user U012ABCDEF --since 2026-11-01 --until 2026-12-01
  recording-bot audit --target 8856 --format csv --output audit-8856.csv
"""


class _BadArgument(ValueError):
    """An option's value cannot be used; the message is one line naming the option, with an example."""


def add_audit_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `audit` on the command line's subcommands; returns its parser."""
    audit = subparsers.add_parser(
        "audit",
        help="print or export the audit log (compliance reviews)",
        description="Print the audit log as a table, or export it as CSV or JSON. All times are UTC.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Values stay strings here and are checked in run_audit: spans are measured from when the command
    # runs, and a bad value gets one line with an example instead of argparse's usage dump.
    audit.add_argument("--since", metavar="MOMENT", help="entries at or after this moment, e.g. 2026-11-01 or 7d")
    audit.add_argument("--until", metavar="MOMENT", help="entries before this moment, e.g. 2026-12-01 or 1h")
    audit.add_argument(
        "--user",
        metavar="USER_ID",
        help="only this actor's entries: a Slack user (U012ABCDEF or @U012ABCDEF), or cli:<login> for the users CLI",
    )
    audit.add_argument("--target", help="only entries about this target (extension, user, request), e.g. 8856")
    audit.add_argument("--group", metavar="NAME", help="only entries about this approver group's requests and members")
    audit.add_argument(
        "--breakglass", action="store_true", help="only break-glass pauses (pauses made without approval)"
    )
    audit.add_argument("--changes", action="store_true", help="only settings changes (`/recording set`)")
    audit.add_argument(
        "--limit",
        metavar="N",
        help=f"at most the N newest entries (table default {TABLE_LIMIT}; csv and json default: all)",
    )
    audit.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default) for reading; csv or json for exports, oldest first",
    )
    audit.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    audit.add_argument(
        "--verify",
        action="store_true",
        help="check every audit row against the hash chain; report the first row changed, inserted, deleted or "
        "re-numbered (exit 1 if any)",
    )
    audit.add_argument(
        "--head",
        action="append",
        default=[],
        metavar="TEAM:SEQ:HASH",
        help="with --verify: a chain head kept earlier (printed by --verify and logged daily); it must still be there",
    )
    audit.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="TEAM:SEQ:HASH",
        help="with --verify: a chain head a daily digest posted; fails naming the first missing or altered row when "
        "rows up to it were cut off or rewritten (repeatable)",
    )
    audit.add_argument(
        "--anchors-from-slack",
        action="store_true",
        help="with --verify: check every chain head the digests in DIGEST_CHANNEL name (reads the channel's history "
        "with SLACK_BOT_TOKEN; in installable mode each installation's channel, with its token from the database)",
    )
    audit.set_defaults(func=run_audit)
    return audit


def run_audit(config: Config, args: argparse.Namespace) -> int:
    if args.verify:
        return _verify(config, args.head, anchors=args.anchor, from_slack=args.anchors_from_slack)
    if args.anchor or args.anchors_from_slack or args.head:
        print("recording-bot audit: --head, --anchor and --anchors-from-slack go with --verify", file=sys.stderr)
        return EXIT_USAGE
    try:
        query = _query(args, now=datetime.now(UTC))
    except _BadArgument as error:
        print(f"recording-bot audit: {error}", file=sys.stderr)
        return EXIT_USAGE

    table = args.format == "table"
    limit = query.limit if query.limit is not None else (TABLE_LIMIT if table else None)
    cut = False
    if _missing_database(config):
        return EXIT_USAGE
    database = open_database(config)
    try:
        database.migrate()
        store = AuditStore(database=database)
        if limit is None:
            entries = store.query(query)
        else:
            # Newest first so the limit keeps the most recent; one extra row tells the table it was cut.
            newest = store.query(replace(query, limit=limit + 1 if table else limit), newest_first=True)
            entries = list(reversed(newest[:limit]))
            cut = len(newest) > limit
    finally:
        database.close()

    def write(stream: TextIO) -> None:
        if table:
            text = render_table(entries)
            if cut:
                text += f"\n(the {limit} newest shown; raise --limit or narrow with --since/--until for older ones)"
            stream.write(text + "\n")
        else:
            (write_csv if args.format == "csv" else write_json)(entries, stream)

    return _deliver(write, args.output, count=len(entries))


def _missing_database(config: Config) -> bool:
    if config.database_url is None and not config.database_path.exists():
        # Creating an empty database here would answer "no entries" for a mistyped path.
        print(f"recording-bot audit: no database at {config.database_path}: check DATABASE_PATH", file=sys.stderr)
        return True
    return False


def _verify(config: Config, kept_heads: list[str], *, anchors: list[str], from_slack: bool) -> int:
    expected: list[tuple[str, int, str]] = []
    for option, text in [*(("--head", head) for head in kept_heads), *(("--anchor", anchor) for anchor in anchors)]:
        parsed = _anchor(text)
        if parsed is None:
            print(
                f"recording-bot audit: {option} {text!r} is not TEAM:SEQ:HASH (as --verify prints it and every "
                "digest ends with)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        expected.append((parsed.team_id, parsed.seq, parsed.row_hash))
    anchored = [_anchor(text) for text in anchors]
    if from_slack:
        found = anchors_from_slack(config)
        if found is None:
            return EXIT_FAILED
        anchored += [_anchor(text) for text in found]
    checked = [anchor for anchor in anchored if anchor is not None]
    if _missing_database(config):
        return EXIT_USAGE
    database = open_database(config)
    try:
        database.migrate()
        store = AuditStore(database=database)
        report = store.verify_chain()
        anchor_problems = store.check_anchors(checked)
        lost = [(team, seq, digest) for team, seq, digest in expected if not store.has_link(team, seq, digest)]
        store.record_verification(
            report, at=datetime.now(UTC), lost_heads=[f"{team}:{seq}:{digest[:12]}…" for team, seq, digest in lost]
        )
    finally:
        database.close()
    older = report.unchained_rows
    print(
        f"audit chain: {report.rows_checked} chained row(s) checked in {report.workspaces} workspace(s)"
        + (f"; {older} older row(s) were written before the chain began" if older else "")
        + (", and still match what its first row fixed of them" if older and report.rows_checked else "")
    )
    for team_id, (head_seq, head_hash) in sorted(report.heads.items()):
        print(f"head {team_id}:{head_seq}:{head_hash}")
    failed = False
    if report.problem is not None:
        problem = report.problem
        print(
            f"BROKEN: audit row {problem.audit_id} (workspace {_workspace(problem.team_id)}) was {problem.kind}: "
            f"{problem.description}"
        )
        failed = True
    for found_problem in anchor_problems:
        print(_anchor_problem_words(found_problem))
        failed = True
    for kept_team, kept_seq, kept_hash in lost:
        if any(p.anchor.text == f"{kept_team}:{kept_seq}:{kept_hash}" for p in anchor_problems):
            continue  # said above, with the row
        print(
            f"BROKEN: the kept head {kept_team}:{kept_seq}:{kept_hash[:12]}… is not in the chain: the table was "
            "rewritten, or its newest rows deleted"
        )
        failed = True
    if failed:
        return EXIT_FAILED
    kept = len({*((t, s, h) for t, s, h in expected), *((a.team_id, a.seq, a.row_hash) for a in checked)})
    print("intact" + (f"; {kept} kept head(s) found" if kept else "; keep the head line(s) elsewhere"))
    return 0


def _anchor(text: str) -> Anchor | None:
    team, _, rest = text.strip().partition(":")
    seq, _, digest = rest.partition(":")
    if not (seq.isascii() and seq.isdecimal() and len(digest) == 64) or any(
        c not in "0123456789abcdefABCDEF" for c in digest
    ):
        return None
    return Anchor(team_id=team, seq=int(seq), row_hash=digest.lower())


def _anchor_problem_words(problem: AnchorProblem) -> str:
    anchor = problem.anchor
    shown = f"{anchor.team_id}:{anchor.seq}:{anchor.row_hash[:12]}…"
    workspace = _workspace(anchor.team_id)
    if problem.kind == "missing":
        after = f" (after audit row {problem.audit_id}, the last one left)" if problem.audit_id else ""
        span = f"link {problem.first_seq}" if problem.first_seq == anchor.seq else (
            f"links {problem.first_seq}–{anchor.seq}"
        )  # fmt: skip
        return (
            f"BROKEN: the anchored head {shown} is gone: {span} of workspace {workspace}{after} "
            "are missing: the newest rows were cut off"
        )
    span = "" if problem.first_seq == anchor.seq else f" (or a later one, up to link {anchor.seq})"
    return (
        f"BROKEN: the anchored head {shown} no longer matches: audit row {problem.audit_id} (link "
        f"{problem.first_seq} of workspace {workspace}){span} was altered, and the chain rewritten after it"
    )


def _workspace(team_id: str | None) -> str:
    if team_id is None:
        return "(no workspace)"
    return team_id or "(bot)"


def _query(args: argparse.Namespace, *, now: datetime) -> AuditQuery:
    since = _moment("--since", args.since, now=now)
    until = _moment("--until", args.until, now=now)
    if since is not None and until is not None and since >= until:
        raise _BadArgument(
            f"--since ({since:%Y-%m-%d %H:%M:%S} UTC) is not before --until ({until:%Y-%m-%d %H:%M:%S} UTC), "
            "so nothing can match; e.g. --since 7d --until 1d"
        )
    return AuditQuery(
        since=since,
        until=until,
        user_id=_actor(args.user),
        target=_text("--target", args.target, example="8856"),
        group_name=_text("--group", args.group, example="sales"),
        action="breakglass" if args.breakglass else None,
        action_prefix="change." if args.changes else None,
        limit=_limit(args.limit),
    )


def _moment(option: str, text: str | None, *, now: datetime) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now=now)
    except ValueError as error:
        raise _BadArgument(f"{option}: {error}") from None


def _text(option: str, text: str | None, *, example: str) -> str | None:
    if text is None:
        return None
    value = text.strip()
    if not value:
        # An empty filter would silently match everything; say so rather than export the whole log.
        raise _BadArgument(f"{option} needs a value, e.g. {option} {example}")
    return value


def _actor(text: str | None) -> str | None:
    value = _text("--user", text, example="U012ABCDEF")
    if value is None:
        return None
    # A Slack user as typed in Slack (`@U012ABCDEF`, `<@U012ABCDEF>`); other actors (`cli:alice`,
    # `BOT_ADMINS`) exactly as the log names them.
    return read_user_id(value) or value


def _limit(text: str | None) -> int | None:
    if text is None:
        return None
    value = text.strip()
    if not value.isdecimal() or int(value) < 1:
        raise _BadArgument(f"--limit: {text!r} is not a positive whole number; e.g. --limit 200")
    return int(value)


def _deliver(write: Callable[[TextIO], None], output: str | None, *, count: int) -> int:
    if output is None:
        try:
            write(sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader (head, less) stopped early. Point stdout at /dev/null so the interpreter's
            # final flush does not print a traceback over the reviewer's terminal.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILED
        return 0
    path = Path(output)
    try:
        # Owner-only, like the database it comes from: an export names people and what they did. A file
        # that already exists is tightened too, before anything is written into it (not a device: /dev/null).
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, EXPORT_MODE)
        try:
            if stat.S_ISREG(os.fstat(descriptor).st_mode):
                os.fchmod(descriptor, EXPORT_MODE)
        except OSError:
            os.close(descriptor)
            raise
        # newline="" hands line endings to the csv module (RFC 4180's CRLF) instead of translating them.
        with open(descriptor, "w", encoding="utf-8", newline="") as stream:
            write(stream)
    except OSError as error:
        print(f"recording-bot audit: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {count} audit {'entry' if count == 1 else 'entries'} to {path}", file=sys.stderr)
    return 0
