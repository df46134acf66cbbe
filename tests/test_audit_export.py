"""`recording-bot audit`: moments, filters, the table, CSV / JSON exports and their guards, on real SQLite files."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.cli.audit import add_audit_parser, run_audit
from bot.cli.audit_export import FIELDS, parse_moment, render_table, write_csv, write_json
from bot.config import Config
from bot.models import AuditEntry
from bot.sandbox.postgres_server import PostgresServer
from bot.store.audit import AuditStore
from bot.store.database import Database
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
CSV_HEADER = "id,at,request_id,team_id,workspace_id,user_id,channel_id,action,command,target,outcome,details"


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def db_path(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where the audit log lives: an SQLite file, or a PostgreSQL database's URL."""
    if engine == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database()
    return tmp_path / "recording-bot.db"


@pytest.fixture
def database(db_path: Path | str) -> Iterator[Database]:
    database: Database = PostgresDatabase(db_path) if isinstance(db_path, str) else SqliteDatabase(db_path)
    database.migrate()
    yield database
    database.close()


def _add(database: Database, at: datetime, **fields: Any) -> int:
    """Record a row as the bot does, then move it to `at` (record() always stamps the present)."""
    values: dict[str, Any] = {"action": "pause.requested", "outcome": "ok", "team_id": "T0TEST"} | fields
    row_id = AuditStore(database=database).record(**values)
    database.run(
        "UPDATE audit SET at = ? WHERE id = ?", [at.astimezone(UTC).isoformat(timespec="milliseconds"), row_id]
    )
    return row_id


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recording-bot")
    add_audit_parser(parser.add_subparsers())
    return parser.parse_args(["audit", *argv])


def _run(db_path: Path | str, *argv: str) -> int:
    if isinstance(db_path, str):
        config = Config(_env_file=None, database_url=db_path)  # type: ignore[arg-type]
    else:
        config = Config(_env_file=None, database_path=db_path)
    return run_audit(config, _args(*argv))


def _json(db_path: Path | str, capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert _run(db_path, "--format", "json", *argv) == 0
    result: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return result


def _entry(**fields: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "id": 1,
        "at": datetime(2026, 11, 1, 9, 30, 5, 250000, tzinfo=UTC),
        "request_id": "R1",
        "team_id": "T0TEST",
        "user_id": "U0LEAD",
        "channel_id": "C0OPS",
        "action": "pause.requested",
        "command": "/recording pause 8856",
        "target": "8856",
        "outcome": "ok",
        "details": "",
    } | fields
    return AuditEntry(**values)


# -- parse_moment ----------------------------------------------------------------------------------


def test_a_date_means_its_midnight_utc() -> None:
    assert parse_moment("2026-11-01", now=NOW) == datetime(2026, 11, 1, tzinfo=UTC)


def test_a_date_time_without_zone_is_utc_and_one_with_a_zone_is_converted() -> None:
    assert parse_moment("2026-11-01T09:30", now=NOW) == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    assert parse_moment("2026-11-01 09:30:15", now=NOW) == datetime(2026, 11, 1, 9, 30, 15, tzinfo=UTC)
    assert parse_moment("2026-11-01T09:30+01:00", now=NOW) == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    assert parse_moment("2026-11-01T09:30Z", now=NOW) == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    assert parse_moment("2026-11-01T09:30+01:00", now=NOW).tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2w", timedelta(weeks=2)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_a_span_means_that_long_before_now(text: str, ago: timedelta) -> None:
    assert parse_moment(text, now=NOW) == NOW - ago


def test_a_naive_now_is_taken_as_utc() -> None:
    assert parse_moment("1h", now=datetime(2026, 11, 15, 12, 0)) == datetime(2026, 11, 15, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "7x", "-7d", "7 days", "", "2026/11/01", "1.5h"])
def test_unreadable_moments_are_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 2026-11-01.*24h"):
        parse_moment(text, now=NOW)


def test_an_impossible_date_says_which_field_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"month must be in 1\.\.12"):
        parse_moment("2026-13-01", now=NOW)


def test_a_span_reaching_before_year_one_is_refused() -> None:
    with pytest.raises(ValueError, match="smaller span"):
        parse_moment("99999999d", now=NOW)


# -- filters, end to end through run_audit ---------------------------------------------------------


def test_since_includes_and_until_excludes_their_moment(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    _add(database, datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), target="october")
    _add(database, datetime(2026, 11, 1, 0, 0, tzinfo=UTC), target="first-of-november")
    _add(database, datetime(2026, 11, 30, 23, 59, tzinfo=UTC), target="end-of-november")
    _add(database, datetime(2026, 12, 1, 0, 0, tzinfo=UTC), target="december")

    november = _json(db_path, capsys, "--since", "2026-11-01", "--until", "2026-12-01")
    assert [row["target"] for row in november] == ["first-of-november", "end-of-november"]
    assert [row["target"] for row in _json(db_path, capsys, "--until", "2026-11-01")] == ["october"]
    assert [row["target"] for row in _json(db_path, capsys, "--since", "2026-11-30T23:59")] == [
        "end-of-november",
        "december",
    ]


def test_a_zoned_since_is_compared_in_utc(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    _add(database, datetime(2026, 11, 1, 8, 0, tzinfo=UTC), target="before")
    _add(database, datetime(2026, 11, 1, 9, 0, tzinfo=UTC), target="after")
    # 10:00 in UTC+02:00 is 08:00 UTC, so both rows are at or after it.
    rows = _json(db_path, capsys, "--since", "2026-11-01T10:00+02:00")
    assert [row["target"] for row in rows] == ["before", "after"]
    rows = _json(db_path, capsys, "--since", "2026-11-01T08:30")
    assert [row["target"] for row in rows] == ["after"]


def test_relative_since_counts_back_from_now(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    _add(database, now - timedelta(days=3), target="three-days-ago")
    _add(database, now - timedelta(hours=2), target="two-hours-ago")
    _add(database, now - timedelta(minutes=10), target="ten-minutes-ago")

    assert [row["target"] for row in _json(db_path, capsys, "--since", "24h")] == ["two-hours-ago", "ten-minutes-ago"]
    assert [row["target"] for row in _json(db_path, capsys, "--since", "30m")] == ["ten-minutes-ago"]
    assert [row["target"] for row in _json(db_path, capsys, "--since", "7d", "--until", "1h")] == [
        "three-days-ago",
        "two-hours-ago",
    ]


def test_user_and_target_filters_combine(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    _add(database, at, user_id="U0LEAD", target="8856", details="lead on 8856")
    _add(database, at, user_id="U0AGENT", target="8856", details="agent on 8856")
    _add(database, at, user_id="U0AGENT", target="9001", details="agent on 9001")
    _add(database, at, user_id="system", target="8856", details="system on 8856")

    assert [r["details"] for r in _json(db_path, capsys, "--user", "U0AGENT")] == ["agent on 8856", "agent on 9001"]
    assert [r["details"] for r in _json(db_path, capsys, "--target", "8856")] == [
        "lead on 8856",
        "agent on 8856",
        "system on 8856",
    ]
    assert [r["details"] for r in _json(db_path, capsys, "--user", "U0AGENT", "--target", "9001")] == ["agent on 9001"]
    assert [r["details"] for r in _json(db_path, capsys, "--user", "system")] == ["system on 8856"]


def test_exports_are_complete_and_oldest_first_by_default(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(60):
        _add(database, start + timedelta(minutes=n), target=str(n))

    rows = _json(db_path, capsys)
    assert [row["target"] for row in rows] == [str(n) for n in range(60)]
    assert _run(db_path, "--format", "csv") == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 60


def test_an_export_limit_keeps_the_newest_still_oldest_first(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(5):
        _add(database, start + timedelta(minutes=n), target=str(n))
    assert [row["target"] for row in _json(db_path, capsys, "--limit", "2")] == ["3", "4"]


def test_the_table_shows_the_50_newest_and_says_there_are_more(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(55):
        _add(database, start + timedelta(minutes=n), target=f"t{n:02d}")

    assert _run(db_path) == 0
    out = capsys.readouterr().out
    shown = [n for n in range(55) if f" t{n:02d} " in out]
    assert shown == list(range(5, 55))
    assert out.index("t05") < out.index("t54"), "oldest at the top, newest next to the prompt"
    assert "50 newest shown" in out and "--limit" in out

    assert _run(db_path, "--limit", "100") == 0
    out = capsys.readouterr().out
    assert " t00 " in out and "newest shown" not in out


# -- table -----------------------------------------------------------------------------------------


def test_the_table_has_one_aligned_line_per_entry() -> None:
    entries = [
        _entry(id=1, details='{"minutes": 10}'),
        _entry(id=2, user_id="system", channel_id="", action="resume.scheduled", target="9001", outcome="error"),
    ]
    lines = render_table(entries).splitlines()
    assert len(lines) == 4
    header, rule, first, second = lines
    for title in ("time (UTC)", "user", "channel", "action", "target", "outcome", "details"):
        assert title in header
    assert set(rule) <= {"-", " "}
    assert first.startswith("2026-11-01 09:30:05  U0LEAD ")
    assert '{"minutes": 10}' in first
    assert second.split() == ["2026-11-01", "09:30:05", "system", "-", "resume.scheduled", "9001", "error"]
    # Columns line up: every field starts where its header does.
    for title, value in (("action", "resume.scheduled"), ("outcome", "error"), ("target", "9001")):
        assert second.index(value) == header.index(title)
    assert all(line == line.rstrip() for line in lines)


def test_table_times_are_shown_in_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    table = render_table([_entry(at=datetime(2026, 11, 1, 4, 30, tzinfo=eastern))])
    assert "2026-11-01 09:30:00" in table


def test_long_details_are_cut_to_about_60_characters() -> None:
    line = render_table([_entry(details="x" * 500)]).splitlines()[2]
    details = line.split()[-1]
    assert details.endswith("…") and len(details) == 60


def test_user_text_cannot_smuggle_terminal_escapes_or_line_breaks_into_the_table() -> None:
    table = render_table([_entry(target="88\x1b[2J56", details="line one\nline two\r\u202eevil")])
    assert "\x1b" not in table and "\u202e" not in table and "\r" not in table
    assert len(table.splitlines()) == 3
    assert "line one line two ?evil" in table


def test_an_empty_table_says_nothing_matches() -> None:
    assert render_table([]) == "no audit entries match"


# -- csv -------------------------------------------------------------------------------------------


def _csv_rows(entries: list[AuditEntry]) -> list[list[str]]:
    stream = io.StringIO(newline="")
    write_csv(entries, stream)
    return list(csv.reader(io.StringIO(stream.getvalue(), newline="")))


def test_csv_has_the_documented_header_and_iso_utc_times() -> None:
    rows = _csv_rows([_entry(id=7, details='{"minutes": 10}')])
    assert ",".join(rows[0]) == CSV_HEADER
    assert tuple(rows[0]) == FIELDS
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["id"] == "7"
    assert record["at"] == "2026-11-01T09:30:05.250Z"
    assert datetime.fromisoformat(record["at"]) == datetime(2026, 11, 1, 9, 30, 5, 250000, tzinfo=UTC)
    assert record["details"] == '{"minutes": 10}'


def test_csv_quotes_commas_quotes_and_line_breaks() -> None:
    awkward = 'pause 8856, 9001 "urgent"\nsecond line'
    rows = _csv_rows([_entry(command=awkward)])
    assert rows[1][FIELDS.index("command")] == awkward


@pytest.mark.parametrize("dangerous", ['=HYPERLINK("http://evil")', "+1+2", "-2+3", "@SUM(A1)", "\t=1"])
def test_csv_cells_that_a_spreadsheet_would_run_get_a_leading_quote(dangerous: str) -> None:
    rows = _csv_rows([_entry(command=dangerous, target=dangerous, details=dangerous, user_id="U0LEAD")])
    record = dict(zip(rows[0], rows[1], strict=True))
    for field in ("command", "target", "details"):
        assert record[field] == "'" + dangerous
    assert record["user_id"] == "U0LEAD"


def test_csv_of_nothing_is_just_the_header() -> None:
    stream = io.StringIO()
    write_csv([], stream)
    assert stream.getvalue().strip() == CSV_HEADER


# -- json ------------------------------------------------------------------------------------------


def _json_rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    stream = io.StringIO()
    write_json(entries, stream)
    result: list[dict[str, Any]] = json.loads(stream.getvalue())
    return result


def test_json_details_come_back_as_objects_when_they_were_recorded_as_objects(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    details = {"minutes": 10, "reason": 'card payment, "PCI"', "channels": ["a", "b"], "previous": None}
    _add(database, datetime(2026, 11, 1, tzinfo=UTC), details=details)
    _add(database, datetime(2026, 11, 1, tzinfo=UTC), details="approved by U0LEAD")
    (first, second) = _json(db_path, capsys)
    assert first["details"] == details
    assert second["details"] == "approved by U0LEAD"


def test_json_keeps_the_csv_keys_and_leaves_non_object_details_as_text() -> None:
    rows = _json_rows([_entry(details="42"), _entry(details="[1, 2]"), _entry(details=""), _entry(details="{bad")])
    assert all(tuple(row) == FIELDS for row in rows)
    assert [row["details"] for row in rows] == ["42", "[1, 2]", "", "{bad"]
    assert rows[0]["id"] == 1 and rows[0]["at"] == "2026-11-01T09:30:05.250Z"


def test_json_of_nothing_is_an_empty_array() -> None:
    assert _json_rows([]) == []


# -- the command: bad values, empty results, output files -------------------------------------------


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--since", "last tuesday"], "--since: 'last tuesday' is not a date"),
        (["--until", "7x"], "--until: '7x' is not a date"),
        (["--since", "2026-02-30"], "day is out of range"),
        (["--since", "1d", "--until", "2d"], "is not before --until"),
        (["--limit", "ten"], "--limit: 'ten' is not a positive whole number"),
        (["--limit", "0"], "--limit: '0'"),
        (["--user", " "], "--user needs a value"),
        (["--target", ""], "--target needs a value"),
    ],
)
def test_bad_filter_values_exit_2_with_one_line_and_an_example(
    db_path: Path | str, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert _run(db_path, *argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("recording-bot audit: ")
    assert says in lines[0]
    assert "e.g." in lines[0]
    assert not db_path.exists(), "a refused command does not touch the database"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("table", "no audit entries match\n"), ("csv", CSV_HEADER + "\r\n"), ("json", "[]\n")],
)
def test_no_matches_prints_the_empty_form_of_each_format(
    database: Database, db_path: Path | str, capsys: pytest.CaptureFixture[str], fmt: str, expected: str
) -> None:
    _add(database, datetime(2026, 11, 1, tzinfo=UTC), user_id="U0LEAD")
    assert _run(db_path, "--format", fmt, "--user", "U0NOBODY") == 0
    assert capsys.readouterr().out == expected


@pytest.mark.engines("sqlite")
def test_a_missing_database_file_is_named_instead_of_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path / "typo.db") == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.engines("sqlite")
def test_a_database_with_no_schema_yet_reads_as_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "new.db").touch()
    assert _run(tmp_path / "new.db") == 0
    assert capsys.readouterr().out == "no audit entries match\n"


def test_output_writes_a_file_and_leaves_stdout_alone(
    database: Database, db_path: Path | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add(database, datetime(2026, 11, 1, tzinfo=UTC), command="=1+1", details={"minutes": 10})
    target = tmp_path / "export.csv"
    assert _run(db_path, "--format", "csv", "--output", str(target)) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "wrote 1 audit entry" in captured.err
    with target.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert rows[0]["command"] == "'=1+1"
    assert json.loads(rows[0]["details"]) == {"minutes": 10}


def test_an_unwritable_output_fails_with_one_line(
    database: Database, db_path: Path | str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(db_path, "--format", "json", "--output", str(tmp_path / "missing" / "out.json")) == 1
    err = capsys.readouterr().err
    assert err.startswith("recording-bot audit: cannot write") and len(err.splitlines()) == 1


def test_the_installed_command_exports_json(database: Database, db_path: Path | str, tmp_path: Path) -> None:
    where = {"DATABASE_URL": db_path} if isinstance(db_path, str) else {"DATABASE_PATH": str(db_path)}
    env = {"PATH": os.environ.get("PATH", ""), **where}
    usage = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    if "audit" not in usage.stdout:
        pytest.skip("`audit` is not wired into bot/cli/main.py yet (add_audit_parser(sub) not called)")
    _add(database, datetime(2026, 11, 1, tzinfo=UTC), user_id="U0LEAD", target="8856", details={"minutes": 10})
    result = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--format", "json", "--target", "8856"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(row["user_id"], row["target"], row["details"]) for row in rows] == [("U0LEAD", "8856", {"minutes": 10})]
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--since", "soon"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "--since" in bad.stderr
