"""One PostgreSQL server for the whole test run, shared by the xdist workers; each test gets its own database.

Starting a server (initdb, then the postmaster) costs seconds of CPU; the workers of one run share the first
one started. A file lock in the run's temporary folder (the parent of each worker's own) orders them: the
first worker starts the server and writes where it listens, the others read that, and the last one to leave
stops it. Tests only ever touch their own database, so sharing the server changes nothing they see.

The server's data lives outside pytest's temporary folders: run as root, the server runs as another user
who must reach its data, and every pytest session that starts closes pytest's folders to other users again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bot.sandbox.postgres_server import PostgresServer, wait_for


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="recording-bot-postgres-"))


@contextlib.contextmanager
def own_server() -> Iterator[PostgresServer]:
    """A server for this process alone (a run without xdist workers)."""
    root = _new_root()
    server = PostgresServer(root)
    try:
        server.start()
        wait_for(server)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def shared_server(run_folder: Path) -> Iterator[PostgresServer]:
    """The run's one server: started by the first worker to ask, stopped by the last to finish (the state file
    lists the workers using it)."""
    state = run_folder / "postgres.json"
    lock = run_folder / "postgres.lock"
    with _locked(lock):
        known = json.loads(state.read_text()) if state.exists() else None
        if known is None:
            root = _new_root()
            server = PostgresServer(root)
            try:
                server.start()
                wait_for(server)
            except BaseException:
                server.stop()
                shutil.rmtree(root, ignore_errors=True)
                raise
            known = {"root": str(root), "port": server.port, "password": server.password, "users": []}
        else:
            server = PostgresServer(Path(known["root"]))
            server.port, server.password = known["port"], known["password"]
        known["users"].append(os.getpid())
        state.write_text(json.dumps(known))
    try:
        yield server
    finally:
        with _locked(lock):
            known = json.loads(state.read_text())
            # A worker that crashed never leaves: it counts as gone once its process is.
            known["users"] = [pid for pid in known["users"] if pid != os.getpid() and _alive(pid)]
            if known["users"]:
                state.write_text(json.dumps(known))
            else:
                state.unlink()
                _stop_and_remove(Path(known["root"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_and_remove(root: Path) -> None:
    """Stop the server and remove its folder without holding up the run's end: the folder holds thousands of
    files (a copy of the template per database), and on a busy machine waiting for the server to go and
    deleting them took this worker ten seconds after its last test. A process of its own does both."""
    subprocess.Popen(
        [sys.executable, "-c", _REMOVER, str(root)],
        start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


# The server's pid is its pid file's first line; SIGQUIT is PostgreSQL's immediate shutdown.
_REMOVER = """
import os, shutil, signal, sys, time
from pathlib import Path
root = Path(sys.argv[1])
pid_file = root / "data" / "postmaster.pid"
if pid_file.exists():
    pid = int(pid_file.read_text().split()[0])
    deadline = time.monotonic() + 30
    try:
        os.kill(pid, signal.SIGQUIT)
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
    except ProcessLookupError:
        pass
shutil.rmtree(root, ignore_errors=True)
"""


class Databases:
    """One worker's test databases, each a fresh, fully migrated database to its test, made cheaply.

    Making a database costs the server about 150 ms of CPU and dropping it more; hundreds of tests would
    spend a minute of the run on it. So a database is made once per worker, as a copy of a template the
    bot's own migrations built, and handed to test after test: after each test, in the background, every
    other session on it is ended, every row deleted (the migrations' record kept) and every sequence
    restarted. A database whose schema, settings or migrations' record the test changed (a dropped index,
    `ALTER DATABASE … SET`) no longer matches the template's fingerprint and is dropped instead.

    A test of the migrations themselves makes its database with `PostgresServer.create_database()`."""

    def __init__(self, server: PostgresServer) -> None:
        from bot.store.postgres import PostgresDatabase

        self._server = server
        self._template = server.create_database("rb_template")
        database = PostgresDatabase(self._template)
        try:
            database.migrate()
        finally:
            database.close()
        self._fresh: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._used: queue.Queue[str | None] = queue.Queue()
        self._expected = ""
        self._cleaner = threading.Thread(target=self._clean_used, name="clean-test-databases", daemon=True)
        self._cleaner.start()

    def create(self) -> str:
        try:
            return self._fresh.get_nowait()
        except queue.Empty:
            pass
        url = self._server.create_database(template=self._template)
        if not self._expected:
            with psycopg.connect(url, autocommit=True) as session:
                self._expected = _fingerprint(session)
        return url

    def release(self, url: str) -> None:
        """The test is over: clean `url` for the next one, or drop it (in the background)."""
        self._used.put(url)

    def close(self) -> None:
        """The worker is done. Its databases stay: the server's folder goes when its last worker leaves, and
        dropping them one by one would hold up this worker's end (and the run's) by seconds."""
        self._used.put(None)
        self._cleaner.join(timeout=60)

    def _clean_used(self) -> None:
        while (url := self._used.get()) is not None:
            try:
                reusable = self._clean(url)
            except psycopg.Error as error:
                logging.getLogger(__name__).warning("test database not cleaned: %s", type(error).__name__)
                reusable = False
            if reusable:
                self._fresh.put(url)
            else:
                self._drop(url)

    def _clean(self, url: str) -> bool:
        with psycopg.connect(url, autocommit=True) as session:
            session.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if _fingerprint(session) != self._expected:
                return False
            tables = [
                row[0]
                for row in session.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
                )
            ]
            with session.transaction():
                # Foreign keys and triggers are the schema's business, not the cleaner's: rows go in any order.
                session.execute("SET LOCAL session_replication_role = replica")
                for table in tables:
                    session.execute(f'DELETE FROM "{table}"'.encode())
                session.execute(
                    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false)"
                    " FROM pg_sequences WHERE schemaname = 'public'"
                )
        return True

    def _drop(self, url: str) -> None:
        # Hundreds of databases would leave tens of thousands of files for pytest to delete later.
        try:
            self._server.drop_database(url)
        except psycopg.Error as error:
            logging.getLogger(__name__).warning("test database not dropped: %s", type(error).__name__)


# What a test could change that deleting rows does not undo: the schema, its owners and grants, triggers,
# the database's settings, the migrations' record.
_FINGERPRINT = """
SELECT md5(coalesce(string_agg(item, '|' ORDER BY item), '')) FROM (
  SELECT 'rel:' || c.relname || ':' || c.relkind::text || ':' || c.relowner::regrole
         || ':' || coalesce(c.relacl::text, '') || ':' || c.relrowsecurity AS item
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'col:' || c.relname || '.' || a.attname || ':' || a.atttypid || ':' || a.attnotnull || ':'
         || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'con:' || conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint
   WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'idx:' || indexrelid::regclass || ':' || pg_get_indexdef(indexrelid) FROM pg_index
   WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
  UNION ALL
  SELECT 'trg:' || tgname || ':' || tgenabled::text FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'fn:' || p.oid::regprocedure FROM pg_proc p WHERE pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'ns:' || nspname || ':' || nspowner::regrole || ':' || coalesce(nspacl::text, '') FROM pg_namespace
  UNION ALL
  SELECT 'db:' || datallowconn || ':' || datconnlimit || ':' || coalesce(datacl::text, '') FROM pg_database
   WHERE datname = current_database()
  UNION ALL
  SELECT 'set:' || setrole || ':' || array_to_string(setconfig, ',') FROM pg_db_role_setting
   WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL
  SELECT 'mig:' || name FROM schema_migrations
) AS everything
"""


def _fingerprint(session: psycopg.Connection[tuple[object, ...]]) -> str:
    row = session.execute(_FINGERPRINT).fetchone()
    return str(row[0]) if row else ""
