"""The store on both engines: migrations, first-writer-wins state changes, one open request per target,
the allow-list's last admin, the instances table, and the audit hash chain under tampering."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from bot.models import Channels, RecordingTarget, RequestState, Role, TargetKind
from bot.models.refusals import LastAdmin
from bot.sandbox.postgres_server import PostgresServer
from bot.store.allow_list import AllowListStore
from bot.store.audit import AuditStore
from bot.store.database import Database
from bot.store.instances import InstanceStore
from bot.store.migrations import MIGRATIONS
from bot.store.pauses import PauseRequestStore
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase

TEAM = "T0STORE"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def opener(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[], Database]]:
    """Opens the test's database again each call: separate handles stand for separate instances."""
    if engine == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()

        def open_one() -> Database:
            return PostgresDatabase(url)
    else:
        path = tmp_path / "store.db"

        def open_one() -> Database:
            return SqliteDatabase(path)

    opened: list[Database] = []

    def opened_one() -> Database:
        database = open_one()
        opened.append(database)
        return database

    yield opened_one
    for database in opened:
        database.close()


@pytest.fixture
def database(opener: Callable[[], Database]) -> Database:
    database = opener()
    database.migrate()
    return database


def _create(store: PauseRequestStore, target: str = "8856", requester: str = "U0AGENT") -> Any:
    return store.create(
        team_id=TEAM, channel_id="C0OPS", requester_id=requester,
        target=RecordingTarget(TargetKind.EXTENSION, target), channels=Channels.BOTH, duration_seconds=300,
        reason="card number", created_at=NOW, expires_at=NOW + timedelta(minutes=10),
    )  # fmt: skip


# -- migrations -----------------------------------------------------------------------------------


def test_instances_migrating_together_apply_each_migration_once(opener: Callable[[], Database]) -> None:
    handles = [opener() for _ in range(4)]
    with ThreadPoolExecutor(len(handles)) as pool:
        applied = list(pool.map(lambda database: database.migrate(), handles))
    names = [m.name for m in MIGRATIONS]
    assert sorted(applied, key=len) == [[], [], [], names]
    assert handles[0].pending_migrations() == []
    rows = handles[0].all("SELECT name FROM schema_migrations ORDER BY name")
    assert [row["name"] for row in rows] == names


@pytest.mark.engines("sqlite")
def test_a_file_made_by_an_earlier_version_is_adopted_with_its_rows(tmp_path: Path) -> None:
    # What the first releases wrote: tables made by sqlite_utils.Migrations, recorded in _sqlite_migrations.
    path = tmp_path / "old.db"
    legacy = sqlite_utils.Database(path)
    migrations = sqlite_utils.Migrations("recording_bot")

    @migrations()
    def m001_allow_list_and_audit(db: sqlite_utils.Database) -> None:
        db.table("allow_list").create(
            {"team_id": str, "user_id": str, "role": str, "added_by": str, "added_at": str}, pk=("team_id", "user_id")
        )
        db.table("audit").create(
            {"id": int, "at": str, "request_id": str, "team_id": str, "user_id": str, "channel_id": str,
             "action": str, "command": str, "target": str, "outcome": str, "details": str}, pk="id",
        )  # fmt: skip

    migrations.apply(legacy)
    legacy.table("allow_list").insert(
        {"team_id": TEAM, "user_id": "U0OLD", "role": "admin", "added_by": "cli", "added_at": NOW.isoformat()}
    )
    legacy.conn.close()

    database = SqliteDatabase(path)
    applied = database.migrate()
    assert "m001_allow_list_and_audit" not in applied and "m002_pause_requests" in applied
    assert AllowListStore(database=database).role_of(TEAM, "U0OLD") is Role.ADMIN
    database.close()


# -- state changes --------------------------------------------------------------------------------


def test_of_many_instances_changing_one_request_exactly_one_wins(
    database: Database, opener: Callable[[], Database]
) -> None:
    request = _create(PauseRequestStore(database=database))
    stores = [PauseRequestStore(database=opener()) for _ in range(6)]
    barrier = threading.Barrier(len(stores) * 3)

    def decide(index: int) -> Any:
        barrier.wait()
        return stores[index % len(stores)].transition(
            request.id, from_states=[RequestState.PENDING], to_state=RequestState.APPROVED, now=NOW,
            decided_by=f"U0LEAD{index}",
        )  # fmt: skip

    with ThreadPoolExecutor(len(stores) * 3) as pool:
        results = list(pool.map(decide, range(len(stores) * 3)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = PauseRequestStore(database=database).get(request.id)
    assert stored is not None and stored.state is RequestState.APPROVED
    assert stored.decided_by == winners[0].decided_by


def test_a_state_change_returns_the_row_as_written(database: Database) -> None:
    store = PauseRequestStore(database=database)
    request = _create(store)
    changed = store.transition(
        request.id, from_states=[RequestState.PENDING], to_state=RequestState.APPROVED, now=NOW,
        decided_by="U0LEAD", decided_at=NOW, claimed_by="instance-a", count_attempt=True,
    )  # fmt: skip
    assert changed is not None
    assert (changed.state, changed.decided_by, changed.decided_at, changed.claimed_by, changed.attempts) == (
        RequestState.APPROVED, "U0LEAD", NOW, "instance-a", 1,
    )  # fmt: skip
    denied = store.transition(request.id, from_states=[RequestState.PENDING], to_state=RequestState.DENIED, now=NOW)
    assert denied is None
    # A takeover must name the claim it replaces.
    assert store.transition(
        request.id, from_states=[RequestState.APPROVED], to_state=RequestState.FAILED, now=NOW, expect_claim="other"
    ) is None
    taken = store.transition(
        request.id, from_states=[RequestState.APPROVED], to_state=RequestState.FAILED, now=NOW,
        expect_claim="instance-a",
    )  # fmt: skip
    assert taken is not None


def test_two_instances_asking_for_the_same_target_at_once_make_one_request(
    database: Database, opener: Callable[[], Database]
) -> None:
    stores = [PauseRequestStore(database=opener()) for _ in range(8)]
    barrier = threading.Barrier(len(stores))

    def ask(store: PauseRequestStore) -> Any:
        barrier.wait()
        return _create(store)

    with ThreadPoolExecutor(len(stores)) as pool:
        created = [r for r in pool.map(ask, stores) if r is not None]
    assert len(created) == 1
    # Once the request is closed, the target may be asked for again.
    store = PauseRequestStore(database=database)
    store.transition(created[0].id, from_states=[RequestState.PENDING], to_state=RequestState.DENIED, now=NOW)
    assert _create(store) is not None


def test_orphaned_lists_in_flight_requests_whose_instance_is_not_alive(database: Database) -> None:
    store = PauseRequestStore(database=database)
    mine, theirs, legacy = (_create(store, target) for target in ("7001", "7002", "7003"))
    for request, owner in ((mine, "alive"), (theirs, "dead"), (legacy, None)):
        store.transition(
            request.id, from_states=[RequestState.PENDING], to_state=RequestState.APPROVED, now=NOW, claimed_by=owner
        )
    found = store.orphaned([RequestState.APPROVED], live_instances=["alive"])
    assert sorted(r.id for r in found) == sorted([theirs.id, legacy.id])
    assert {r.id for r in store.orphaned([RequestState.APPROVED], live_instances=[])} == {
        mine.id, theirs.id, legacy.id,
    }  # fmt: skip


# -- allow-list -----------------------------------------------------------------------------------


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    database: Database, opener: Callable[[], Database]
) -> None:
    store = AllowListStore(database=database)
    store.put(TEAM, "U0ADMIN1", Role.ADMIN, added_by="test")
    store.put(TEAM, "U0ADMIN2", Role.ADMIN, added_by="test")
    stores = [AllowListStore(database=opener()), AllowListStore(database=opener())]
    barrier = threading.Barrier(2)

    def demote(pair: tuple[AllowListStore, str]) -> str:
        barrier.wait()
        try:
            pair[0].put(TEAM, pair[1], Role.REQUESTER, added_by="test")
        except LastAdmin:
            return "refused"
        return "done"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(demote, zip(stores, ["U0ADMIN1", "U0ADMIN2"], strict=True)))
    assert outcomes == ["done", "refused"]
    assert len(store.admins(TEAM)) == 1


# -- instances ------------------------------------------------------------------------------------


def test_putting_the_role_and_group_a_user_already_has_keeps_who_added_them(database: Database) -> None:
    store = AllowListStore(database=database)
    store.put(TEAM, "U0LEAD", Role.APPROVER, added_by="cli:alice", group="sales")
    (before,) = store.entries(TEAM)
    previous = store.put(TEAM, "U0LEAD", Role.APPROVER, added_by="cli:bob")
    assert previous == before
    assert store.entries(TEAM) == [before]  # neither "added by" nor "added at" claims a change


def test_a_sole_registration_finds_the_live_instance_and_adds_nothing(database: Database) -> None:
    store = InstanceStore(database=database)
    assert store.register("first", host="a", pid=10, now=NOW) == []
    others = store.register("second", host="b", pid=20, now=NOW, sole=lambda other: True)
    assert [o.instance_id for o in others] == ["first"]
    assert store.live_ids(NOW - timedelta(seconds=10)) == ["first"]
    # Taken for dead: the newcomer replaces it.
    assert store.register("second", host="b", pid=20, now=NOW, sole=lambda other: False) == []
    assert store.live_ids(NOW - timedelta(seconds=10)) == ["second"]


def test_heartbeats_keep_an_instance_among_the_live(database: Database) -> None:
    store = InstanceStore(database=database)
    store.register("a", host="h", pid=1, now=NOW)
    store.register("b", host="h", pid=2, now=NOW)
    later = NOW + timedelta(seconds=30)
    assert store.beat("a", later)
    assert store.live_ids(later - timedelta(seconds=10)) == ["a"]
    store.remove("a")
    assert not store.beat("a", later)


# -- the audit chain ------------------------------------------------------------------------------


def _fill(store: AuditStore, rows: int = 6) -> None:
    for index in range(rows):
        store.record(action="command.help", outcome="ok", team_id=TEAM if index % 3 else "T0OTHER", user_id=f"U{index}")


def test_the_audit_chain_of_untouched_rows_is_intact_with_one_head_per_workspace(database: Database) -> None:
    store = AuditStore(database=database)
    _fill(store)
    report = store.verify_chain()
    assert report.intact and report.rows_checked == 6 and report.unchained_rows == 0
    assert set(report.heads) == {TEAM, "T0OTHER"}
    assert report.heads[TEAM][0] == 4 and report.heads["T0OTHER"][0] == 2
    seq, row_hash = report.heads[TEAM]
    assert store.has_link(TEAM, seq, row_hash)


def test_writers_on_several_instances_keep_one_unbroken_chain(
    database: Database, opener: Callable[[], Database]
) -> None:
    stores = [AuditStore(database=opener()) for _ in range(4)]

    def write(index: int) -> None:
        stores[index % 4].record(action="click.approve", outcome="ok", team_id=TEAM, details={"n": index})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(40)))
    report = AuditStore(database=database).verify_chain()
    assert report.intact and report.heads[TEAM][0] == 40


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        ("UPDATE audit SET outcome = 'refused' WHERE id = {victim}", "changed"),
        ("DELETE FROM audit WHERE id = {victim}", "deleted"),
        (
            "INSERT INTO audit (at, request_id, team_id, user_id, action, outcome, details) "
            "VALUES ('2026-12-01T09:00:00.000+00:00', '', '" + TEAM + "', 'U0FORGER', 'request.approved', 'ok', '')",
            "inserted",
        ),
        ("UPDATE audit SET prev_hash = row_hash WHERE id = {victim}", "inserted"),
    ],
)
def test_a_changed_deleted_or_inserted_row_is_found(database: Database, tamper: str, kind: str) -> None:
    store = AuditStore(database=database)
    _fill(store)
    victim = [e.id for e in store.query(store_query(TEAM))][1]
    database.run(tamper.format(victim=victim))
    report = store.verify_chain()
    assert report.problem is not None
    assert report.problem.kind == kind
    if kind != "inserted" or "UPDATE" in tamper:
        assert report.problem.audit_id >= victim


def test_a_consistently_rewritten_table_passes_alone_but_not_against_a_kept_head(database: Database) -> None:
    store = AuditStore(database=database)
    _fill(store)
    kept_seq, kept_hash = store.verify_chain().heads[TEAM]
    database.run("DELETE FROM audit")
    _fill(store, rows=3)
    assert store.verify_chain().intact
    assert not store.has_link(TEAM, kept_seq, kept_hash)


@pytest.mark.engines("sqlite")
def test_rows_written_before_the_chain_began_are_counted_not_failed(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    database = SqliteDatabase(path)
    database.migrate()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO audit (at, team_id, action, outcome) VALUES ('2026-11-01T00:00:00.000+00:00', ?, 'x', 'ok')",
        [TEAM],
    )
    conn.commit()
    conn.close()
    store = AuditStore(database=database)
    _fill(store)
    report = store.verify_chain()
    assert report.intact and report.unchained_rows == 1
    database.close()


def store_query(team_id: str) -> Any:
    from bot.models import AuditQuery

    return AuditQuery(team_id=team_id)


def test_sqlite_busy_timeout_seconds_is_how_long_each_connection_waits_for_a_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.config import Config
    from bot.store.connect import open_database

    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_SECONDS", "0.5")
    database = open_database(Config(_env_file=None, database_path=tmp_path / "bot.db"))  # type: ignore[call-arg]
    try:
        assert database.one("PRAGMA busy_timeout") == {"timeout": 500}
    finally:
        database.close()
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="sqlite_busy_timeout_seconds"):
        Config(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("SQLITE_BUSY_TIMEOUT_SECONDS")
    assert Config(_env_file=None).sqlite_busy_timeout_seconds == 2.0  # type: ignore[call-arg]


# -- SQLite: this process's writers take turns; checkpoints run on a thread of their own ---------------------


def test_a_write_that_meets_another_thread_s_transaction_waits_for_it_and_then_is_written(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "bot.db")
    database.run("CREATE TABLE t (x INTEGER)")
    inside, written = threading.Event(), threading.Event()
    with ThreadPoolExecutor(max_workers=1) as other, database.transaction() as tx:
        tx.run("INSERT INTO t (x) VALUES (1)")
        waiting = other.submit(lambda: (inside.set(), database.run("INSERT INTO t (x) VALUES (2)"), written.set()))
        assert inside.wait(5)
        assert not written.is_set()  # its turn comes when this transaction ends
    waiting.result(timeout=5)
    assert [row["x"] for row in database.all("SELECT x FROM t ORDER BY x")] == [1, 2]
    database.close()


def test_a_write_that_cannot_have_its_turn_within_the_busy_timeout_says_the_database_is_locked(tmp_path: Path) -> None:
    from bot.store.database import DatabaseUnavailable

    database = SqliteDatabase(tmp_path / "bot.db", busy_timeout_ms=100)
    database.run("CREATE TABLE t (x INTEGER)")
    with ThreadPoolExecutor(max_workers=1) as other, database.transaction():
        waiting = other.submit(database.run, "INSERT INTO t (x) VALUES (2)")
        with pytest.raises(DatabaseUnavailable, match="locked"):
            waiting.result(timeout=5)
    assert database.all("SELECT x FROM t") == []
    database.close()


def test_the_write_ahead_log_is_copied_into_the_database_file_by_a_thread_of_its_own(tmp_path: Path) -> None:
    """No request's COMMIT waits for a checkpoint's disk sync: SQLite's own is only a far bound, and the
    checkpoint thread copies the log into the file soon after writes (polled, at most 10 s)."""
    import os
    import time

    path = tmp_path / "bot.db"
    database = SqliteDatabase(path)
    assert database.one("PRAGMA wal_autocheckpoint") == {"wal_autocheckpoint": 8000}
    database.run("CREATE TABLE t (x TEXT)")
    size_before = os.path.getsize(path)
    for _ in range(50):
        database.run("INSERT INTO t (x) VALUES (?)", ["x" * 2000])  # ~25 pages: far below SQLite's own bound
    deadline = time.monotonic() + 10
    while os.path.getsize(path) <= size_before + 50 * 2000 and time.monotonic() < deadline:
        threading.Event().wait(0.05)
    assert os.path.getsize(path) > size_before + 50 * 2000
    database.close()
