"""`recording-bot audit --verify` against forged, deleted, changed and re-ordered rows, rows of no workspace, rows
older than the chain, and databases upgraded from the schema before the chain covered every row, on both engines."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.sandbox.postgres_server import PostgresServer
from bot.store.audit import AuditStore
from bot.store.database import Database
from bot.store.migrations import MIGRATIONS, MIGRATIONS_TABLE, statements_for
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase

TEAM = "T0CHAIN"
OTHER = "T0OTHER"
AT = "2026-11-01T09:00:00.000+00:00"


@pytest.fixture
def location(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where the audit log lives: an SQLite file's path, or a PostgreSQL database's URL."""
    if engine == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database()
    return str(tmp_path / "recording-bot.db")


def _open(location: str) -> Database:
    return PostgresDatabase(location) if location.startswith("postgres") else SqliteDatabase(location)


@pytest.fixture
def database(location: str) -> Iterator[Database]:
    database = _open(location)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def verify(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Runs `recording-bot audit --verify [--head …]` in-process on the test's database: (exit code, output)."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "DATABASE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL" if location.startswith("postgres") else "DATABASE_PATH", location)

    def run(*heads: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["audit", "--verify", *(arg for head in heads for arg in ("--head", head))])
        return code, capsys.readouterr().out

    return run


def _fill(database: Database, rows: int = 6) -> list[int]:
    store = AuditStore(database=database)
    teams = (TEAM, OTHER, "")
    return [
        store.record(action="command.help", outcome="ok", team_id=teams[index % 3], user_id=f"U{index}")
        for index in range(rows)
    ]


def _ids(database: Database, team_id: str) -> list[int]:
    return [int(row["id"]) for row in database.all("SELECT id FROM audit WHERE team_id = ? ORDER BY id", [team_id])]


def _broken_row(output: str) -> int:
    found = re.search(r"BROKEN: audit row (-?\d+) ", output)
    assert found, output
    return int(found.group(1))


# -- an untouched log -------------------------------------------------------------------------------


def test_an_untouched_log_verifies_and_names_every_workspace_it_walked(database: Database, verify: Any) -> None:
    _fill(database, rows=7)
    code, out = verify()
    assert code == 0, out
    assert "7 chained row(s) checked in 3 workspace(s)" in out
    assert "intact" in out
    heads = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("head ")]
    assert len(heads) == 3
    code, out = verify(*heads)
    assert code == 0 and "3 kept head(s) found" in out


# -- forgeries, deletions and changes ----------------------------------------------------------------


def _forge_negative_id(database: Database, ids: list[int]) -> int:
    database.run(
        "INSERT INTO audit (id, at, request_id, team_id, user_id, action, outcome, details) "
        "VALUES (-1, ?, '', ?, 'U0FORGER', 'request.approved', 'ok', '')",
        [AT, TEAM],
    )
    return -1


def _forge_no_workspace(database: Database, ids: list[int]) -> int:
    database.run(
        "INSERT INTO audit (at, request_id, team_id, user_id, action, outcome, details) "
        "VALUES (?, '', NULL, 'U0FORGER', 'breakglass', 'ok', '')",
        [AT],
    )
    row = database.one("SELECT max(id) AS id FROM audit")
    assert row is not None
    return int(row["id"])


def _forge_no_workspace_chained(database: Database, ids: list[int]) -> int:
    # The forger copies a real row's chain columns too, so that the row looks like a link.
    database.run(
        "INSERT INTO audit (at, request_id, team_id, user_id, action, outcome, details, chain_seq, prev_hash, "
        "row_hash) SELECT at, request_id, NULL, 'U0FORGER', 'breakglass', outcome, details, chain_seq, prev_hash, "
        "row_hash FROM audit WHERE id = ?",
        [ids[0]],
    )
    row = database.one("SELECT max(id) AS id FROM audit")
    assert row is not None
    return int(row["id"])


def _swap_ids(database: Database, ids: list[int]) -> int:
    first, second = _ids(database, TEAM)[1:3]
    with database.transaction() as tx:
        tx.run("UPDATE audit SET id = -999 WHERE id = ?", [first])
        tx.run("UPDATE audit SET id = ? WHERE id = ?", [first, second])
        tx.run("UPDATE audit SET id = ? WHERE id = -999", [second])
    # The chain's order meets the row now numbered `second` first.
    return second


def _delete(database: Database, ids: list[int]) -> int:
    team_ids = _ids(database, TEAM)
    database.run("DELETE FROM audit WHERE id = ?", [team_ids[1]])
    return team_ids[2]


def _change(database: Database, ids: list[int]) -> int:
    victim = _ids(database, TEAM)[1]
    database.run("UPDATE audit SET outcome = 'refused' WHERE id = ?", [victim])
    return victim


@pytest.mark.parametrize(
    "tamper",
    [_forge_negative_id, _forge_no_workspace, _forge_no_workspace_chained, _swap_ids, _delete, _change],
    ids=["negative-id", "no-workspace", "no-workspace-chained", "swapped-ids", "deleted", "changed"],
)
def test_every_tampering_fails_verify_naming_the_first_bad_row(database: Database, verify: Any, tamper: Any) -> None:
    ids = _fill(database, rows=12)
    assert verify()[0] == 0
    bad = tamper(database, ids)
    code, out = verify()
    assert code == 1, out
    assert _broken_row(out) == bad
    assert "intact" not in out


def test_a_tampered_log_still_counts_the_workspaces_it_walked(database: Database, verify: Any) -> None:
    _fill(database, rows=7)
    _change(database, [])
    code, out = verify()
    assert code == 1
    assert "checked in 3 workspace(s)" in out


# -- rows older than the chain ----------------------------------------------------------------------


def _older_rows(database: Database, count: int = 3) -> list[int]:
    """Rows without a hash, as versions before the chain wrote them (one of no workspace)."""
    for index in range(count):
        database.run(
            "INSERT INTO audit (at, request_id, team_id, user_id, action, outcome, details) "
            "VALUES (?, '', ?, ?, 'command.help', 'ok', '')",
            [AT, None if index == 0 else TEAM, f"U0OLD{index}"],
        )
    return [int(row["id"]) for row in database.all("SELECT id FROM audit ORDER BY id")]


def test_rows_older_than_the_chain_are_fixed_when_it_begins(database: Database, verify: Any) -> None:
    _older_rows(database)
    code, out = verify()
    assert code == 0 and "3 older row(s)" in out
    _fill(database)
    code, out = verify()
    assert code == 0, out
    assert "6 chained row(s)" in out and "3 older row(s)" in out


@pytest.mark.parametrize("tamper", ["change", "delete", "swap", "insert-late", "insert-negative"])
def test_older_rows_altered_after_the_chain_began_fail_verify(database: Database, verify: Any, tamper: str) -> None:
    older = _older_rows(database)
    first_chained = _fill(database)[0]
    if tamper == "change":
        database.run("UPDATE audit SET action = 'breakglass' WHERE id = ?", [older[1]])
    elif tamper == "delete":
        database.run("DELETE FROM audit WHERE id = ?", [older[1]])
    elif tamper == "swap":
        with database.transaction() as tx:
            tx.run("UPDATE audit SET id = -999 WHERE id = ?", [older[1]])
            tx.run("UPDATE audit SET id = ? WHERE id = ?", [older[1], older[2]])
            tx.run("UPDATE audit SET id = ? WHERE id = -999", [older[2]])
    elif tamper == "insert-late":
        database.run(
            "INSERT INTO audit (at, team_id, user_id, action, outcome) VALUES (?, ?, 'U0FORGER', 'breakglass', 'ok')",
            [AT, TEAM],
        )
    else:
        database.run(
            "INSERT INTO audit (id, at, team_id, user_id, action, outcome) "
            "VALUES (-1, ?, ?, 'U0FORGER', 'breakglass', 'ok')",
            [AT, TEAM],
        )
    code, out = verify()
    assert code == 1, out
    bad = _broken_row(out)
    if tamper == "insert-late":
        assert bad > first_chained
    elif tamper == "insert-negative":
        assert bad == -1
    else:
        # Which older row changed is not kept: the chain's first entry, which fixes them all, is named.
        assert bad == first_chained
        assert "before the chain began" in out


# -- databases made by the previous schema -----------------------------------------------------------

_OLD_CONTENT = (
    "at", "request_id", "team_id", "user_id", "channel_id", "action", "command", "target", "outcome", "details",
)  # fmt: skip


def _old_hash(seq: int, prev_hash: str, row: dict[str, Any]) -> str:
    """The previous schema's row hash (no id, NULL taken for '')."""
    payload = [seq, prev_hash, *(row.get(name) or "" for name in _OLD_CONTENT)]
    if row.get("group_name"):
        payload.append(row["group_name"])
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _previous_schema(location: str, *, chained: int = 6, older: int = 2) -> None:
    """A database as the previous version left it: every migration but the newest, rows older than the
    chain (no hash), then chained rows hashed the previous way."""
    database = _open(location)
    previous = [migration for migration in MIGRATIONS if migration.name < "m009"]
    with database.transaction() as tx:
        tx.run(f"CREATE TABLE {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
        for migration in previous:
            for statement in statements_for(migration, database.engine):
                tx.run(statement)
            tx.run(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)", [migration.name, AT])
        for index in range(older):
            tx.run(
                "INSERT INTO audit (at, request_id, team_id, user_id, action, outcome) VALUES (?, '', ?, ?, 'x', 'ok')",
                [AT, TEAM, f"U0OLD{index}"],
            )
        heads: dict[str, tuple[int, str]] = {}
        for index in range(chained):
            team = TEAM if index % 2 else OTHER
            row = {
                "at": AT, "request_id": f"R{index}", "team_id": team, "user_id": f"U{index}", "channel_id": "C1",
                "action": "command.help", "command": "help", "target": "", "outcome": "ok", "details": "",
                "group_name": "sales" if index == 3 else None,
            }  # fmt: skip
            seq, prev = heads.get(team, (0, "0" * 64))
            row_hash = _old_hash(seq + 1, prev, row)
            tx.run(
                "INSERT INTO audit (at, request_id, team_id, user_id, channel_id, action, command, target, "
                "outcome, details, group_name, chain_seq, prev_hash, row_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*row.values(), seq + 1, prev, row_hash],
            )
            heads[team] = (seq + 1, row_hash)
    database.close()


def test_a_database_of_the_previous_schema_verifies_after_the_upgrade(location: str, verify: Any) -> None:
    _previous_schema(location)
    code, out = verify()  # migrates first, as every command does
    assert code == 0, out
    assert "6 chained row(s) checked in 2 workspace(s)" in out and "2 older row(s)" in out
    database = _open(location)
    try:
        _fill(database, rows=3)
        code, out = verify()
        assert code == 0, out
        assert "9 chained row(s) checked in 3 workspace(s)" in out
        victim = _ids(database, TEAM)[3]
        database.run("UPDATE audit SET user_id = 'U0FORGER' WHERE id = ?", [victim])
        code, out = verify()
        assert code == 1 and _broken_row(out) == victim
    finally:
        database.close()


def test_the_upgrade_keeps_a_tampering_made_before_it(location: str, verify: Any) -> None:
    _previous_schema(location)
    database = _open(location)
    victim = _ids(database, TEAM)[3]  # the second chained row of TEAM (two older rows come first)
    database.run("UPDATE audit SET outcome = 'refused' WHERE id = ?", [victim])
    database.close()
    code, out = verify()
    assert code == 1, out
    assert _broken_row(out) == victim


def test_the_upgrade_does_not_fix_an_older_row_forged_before_it(location: str, verify: Any) -> None:
    _previous_schema(location)
    database = _open(location)
    database.run(
        "INSERT INTO audit (id, at, team_id, user_id, action, outcome) "
        "VALUES (-1, ?, NULL, 'U0FORGER', 'breakglass', 'ok')",
        [AT],
    )
    database.close()
    code, out = verify()
    assert code == 1, out
    assert _broken_row(out) == -1


# -- a real process, and the export's mode -------------------------------------------------------------


@pytest.mark.engines("sqlite")
def test_verify_in_a_real_process_fails_on_a_tampered_copy(database: Database, location: str, tmp_path: Path) -> None:
    _fill(database)
    copy = tmp_path / "copy.db"
    # A copy as an operator makes one of a live file (WAL included): SQLite's backup.
    with closing(sqlite3.connect(location)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    forged = SqliteDatabase(copy)
    forged.run(
        "INSERT INTO audit (at, team_id, user_id, action, outcome) VALUES (?, NULL, 'U0FORGER', 'breakglass', 'ok')",
        [AT],
    )
    forged.close()
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(copy)}
    ran = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--verify"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert _broken_row(ran.stdout) == 7
    assert "(no workspace)" in ran.stdout


@pytest.mark.engines("sqlite")
def test_an_export_file_is_written_owner_only(
    database: Database, location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(database)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", location)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    old_umask = os.umask(0o022)
    try:
        assert main(["audit", "--format", "csv", "-o", "a.csv"]) == 0
        existing = tmp_path / "b.json"
        existing.write_text("")
        existing.chmod(0o644)
        assert main(["audit", "--format", "json", "-o", str(existing)]) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "a.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert (tmp_path / "a.csv").read_text().count("\n") == 7
