"""The SQLite engine: one file, one connection per thread, WAL mode, write transactions taken up front."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.metrics.registry import count_database_error
from bot.store import migrations
from bot.store.database import Database, DatabaseUnavailable, Params, Row, Statements

logger = logging.getLogger(__name__)

# The file holds Webex tokens (access and refresh): only the bot's own user may read it. SQLite gives its
# -wal and -shm files the mode of the database file, so creating that one 0600 covers all three.
FILE_MODE = 0o600
_COMPANIONS = ("", "-wal", "-shm", "-journal")

# Long enough to ride out another writer's short transaction; short enough that a request that
# cannot get the lock still answers the user well within Slack's patience.
BUSY_TIMEOUT_MS = 2000
# SQLite's page cache per connection (its default is 2 MB); see _connection.
PAGE_CACHE_KIB = 512
# The write-ahead log is copied back into the database file (a checkpoint, which syncs the file to disk) by a
# thread of its own this often while there are writes, never by a request's own COMMIT; see _Checkpoints.
CHECKPOINT_SECONDS = 0.5
# SQLite's own checkpoint at a COMMIT, left as a bound in case that thread falls behind: 8,000 pages (~32 MB).
FALLBACK_AUTOCHECKPOINT_PAGES = 8000
# The checkpoint thread ends after this long without writes (the next write starts it again).
CHECKPOINT_IDLE_SECONDS = 10.0
# Less free space than this on the database's disk fails the health check: the disk is full.
MIN_FREE_BYTES = 1 << 20

# Where sqlite_utils.Migrations kept the names of applied migrations before schema_migrations existed.
_LEGACY_MIGRATIONS = "_sqlite_migrations"
_LEGACY_MIGRATION_SET = "recording_bot"

# Primary result codes (the low byte of an extended code) that mean "the database cannot be used now".
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_PERM,
    }
)


class _Connection:
    """One thread's sqlite3 connection, speaking the Statements protocol."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self._path = path

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, tuple(params))
        except sqlite3.Error as error:
            if _is_unavailable(error):
                raise unavailable(self._path, error) from error
            raise

    def one(self, sql: str, params: Params = ()) -> Row | None:
        # A statement with RETURNING runs as its rows are fetched: a full disk or a lock is met there.
        with self._described():
            row = self.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._described():
            return [dict(row) for row in self.execute(sql, params).fetchall()]

    @contextmanager
    def _described(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            if _is_unavailable(error):
                raise unavailable(self._path, error) from error
            raise

    def run(self, sql: str, params: Params = ()) -> int:
        return self.execute(sql, params).rowcount

    def lock(self, key: str) -> None:
        """Nothing to do: a SQLite write transaction (BEGIN IMMEDIATE) already excludes every other writer."""


class SqliteDatabase(Database):
    """The bot's SQLite file. Each thread gets its own connection; sqlite3 connections must not be shared.

    SQLite lets one connection write at a time, and a connection that finds the file locked polls for it
    with growing sleeps (1, 2, 5, 10, 20 … ms): an INSERT that meets another thread's transaction waits out
    a whole sleep after that transaction ended. So the threads of this process take turns to write on a
    lock of their own first (`_writing`), which wakes the next writer the moment the last one is done; only
    other processes' writers (another instance, the command line) are met by SQLite's own waiting."""

    engine = "sqlite"

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._protected = False
        # This process's turn to write (see the class's docstring); waited for as long as SQLite's lock is.
        self._writer = threading.Lock()
        self._checkpoints = _Checkpoints(self)

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def busy_timeout_ms(self) -> int:
        return self._busy_timeout_ms

    # -- statements ------------------------------------------------------------------------------

    def one(self, sql: str, params: Params = ()) -> Row | None:
        connection = self._connection()
        if not _writes(sql) or connection.conn.in_transaction:
            return connection.one(sql, params)
        with self._turn_to_write():
            return connection.one(sql, params)

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        connection = self._connection()
        if not _writes(sql) or connection.conn.in_transaction:
            return connection.all(sql, params)
        with self._turn_to_write():
            return connection.all(sql, params)

    def run(self, sql: str, params: Params = ()) -> int:
        connection = self._connection()
        if not _writes(sql) or connection.conn.in_transaction:
            return connection.run(sql, params)
        with self._turn_to_write():
            return connection.run(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        """BEGIN IMMEDIATE … COMMIT: the write lock is taken up front, so check-then-write is atomic."""
        connection = self._connection()
        with self._turn_to_write():
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT (a full disk, a lock), which leaves the transaction open.
                with suppress(sqlite3.Error):
                    connection.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _turn_to_write(self) -> Iterator[None]:
        """This process's turn to write, waited for as long as SQLite would wait for its lock."""
        if not self._writer.acquire(timeout=self._busy_timeout_ms / 1000):
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise unavailable(self.path, busy)
        try:
            yield
        finally:
            self._writer.release()
            self._checkpoints.wrote()

    # -- schema and health -----------------------------------------------------------------------

    def migrate(self) -> list[str]:
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.transaction() as tx:
                self._adopt_legacy_migrations(tx)
                return migrations.apply_pending(tx, self.engine, now=_now())
        except (sqlite3.Error, OSError) as error:
            raise unavailable(self.path, error) from error

    def pending_migrations(self) -> list[str]:
        connection = self._connection()
        if not _has_table(connection, migrations.MIGRATIONS_TABLE):
            legacy = self._legacy_names(connection)
            return [m.name for m in migrations.pending(legacy)]
        return [m.name for m in migrations.pending(migrations.applied_names(connection))]

    def check_writable(self) -> None:
        self._check_free_space()
        try:
            connection = self._connection()
            connection.conn.execute(f"SELECT count(*) FROM {migrations.MIGRATIONS_TABLE}").fetchone()
            # A row rewritten with its own value: nothing changes, but the page goes to disk at COMMIT.
            with self.transaction() as tx:
                tx.execute(
                    f"UPDATE {migrations.MIGRATIONS_TABLE} SET applied_at = applied_at "
                    f"WHERE name = (SELECT min(name) FROM {migrations.MIGRATIONS_TABLE})"
                )
        except sqlite3.Error as error:
            raise unavailable(self.path, error) from error

    def _check_free_space(self) -> None:
        # A write can still fit in the write-ahead log's old pages when the disk is full, so a write that
        # succeeds proves little there; the free space says what the next checkpoint or larger write meets.
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return  # the write below reports a missing folder in its own words
        if free < MIN_FREE_BYTES:
            full = sqlite3.OperationalError("database or disk is full")
            full.sqlite_errorcode = sqlite3.SQLITE_FULL
            raise unavailable(self.path, full)

    def continue_ids_after_copy(self, tx: Statements, table: str) -> None:
        """Nothing to do: an INTEGER PRIMARY KEY always continues after the largest ID."""

    def close(self) -> None:
        self._checkpoints.stop()
        with self._all_lock:
            for conn in self._all:
                with suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- connections -----------------------------------------------------------------------------

    def _connection(self) -> _Connection:
        """This thread's connection, opened on first use."""
        current: _Connection | None = getattr(self._local, "connection", None)
        if current is None:
            self._protect_files()
            try:
                conn = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None)
            except sqlite3.Error as error:
                raise unavailable(self.path, error) from error
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            # A read-only file cannot switch journal mode; reads still work, writes will say why.
            with suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # NORMAL: a COMMIT reaches the operating system before it returns, and the write-ahead log is synced at
            # each checkpoint. What is committed survives a crash or kill of the bot's process (the kernel still
            # writes it), which is what the inbox of acknowledged requests is for; only a crash of the machine
            # itself may lose the last commits (SQLite's documentation: "WAL mode is always consistent with
            # synchronous=NORMAL", durable across application crashes, not power loss).
            conn.execute("PRAGMA synchronous = NORMAL")
            # Checkpoints are the _Checkpoints thread's, off every request's path; this is only a bound.
            conn.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_AUTOCHECKPOINT_PAGES}")
            # Every thread has a connection, each with its own page cache (2 MB by default): kept small, as
            # the operating system caches the file for all of them anyway.
            conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
            current = _Connection(conn, self.path)
            self._local.connection = current
            with self._all_lock:
                self._all.append(conn)
        return current

    def _protect_files(self) -> None:
        """Create the file owner-only before SQLite would create it with the umask's mode, and tighten an
        existing file (and its -wal/-shm) that others may read, once per process."""
        # Held throughout: another thread's first connection must not create the file first, with the umask's mode.
        with self._all_lock:
            if self._protected:
                return
            self._protected = True
            try:
                if self.path.parent.is_dir():
                    # O_EXCL: never touch a file another process creates at the same moment (an empty file is a
                    # valid database).
                    with suppress(FileExistsError):
                        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
            except OSError:
                return  # SQLite's own open reports why the file cannot be created, in words
            for suffix in _COMPANIONS:
                _tighten(Path(f"{self.path}{suffix}"))

    def _adopt_legacy_migrations(self, tx: _Connection) -> None:
        """A file created before schema_migrations existed: record its applied migrations there once."""
        tx.run(f"CREATE TABLE IF NOT EXISTS {migrations.MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name in self._legacy_names(tx):
            tx.run(
                f"INSERT INTO {migrations.MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [name, _now()],
            )

    @staticmethod
    def _legacy_names(connection: _Connection) -> set[str]:
        if not _has_table(connection, _LEGACY_MIGRATIONS):
            return set()
        rows = connection.all(f"SELECT name FROM {_LEGACY_MIGRATIONS} WHERE migration_set = ?", [_LEGACY_MIGRATION_SET])
        return {str(row["name"]) for row in rows}


class _Checkpoints:
    """Checkpoints on a thread of their own. SQLite's automatic one runs inside the COMMIT that crosses its
    threshold and syncs the database file to disk: that request (an acknowledgement waiting on its inbox row,
    an approval before its MuteRecording) and every writer after it waited out the disk. Here a checkpoint
    runs twice a second while there are writes, beside them (a passive checkpoint takes no writer's lock)."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database
        self._lock = threading.Lock()
        self._pending = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def wrote(self) -> None:
        self._pending.set()
        if self._thread is None and not self._stopped.is_set():
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
                    self._thread.start()

    def stop(self) -> None:
        """End the thread (a later write starts it again)."""
        self._stopped.set()
        self._pending.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._stopped.clear()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopped.is_set():
                if not self._pending.wait(CHECKPOINT_IDLE_SECONDS):
                    break  # idle: the next write starts a new thread
                self._stopped.wait(CHECKPOINT_SECONDS)
                self._pending.clear()
                try:
                    # Its own connection, not in the database's list: it ends with this thread.
                    conn = conn or sqlite3.connect(self._database.path, isolation_level=None)
                    # PASSIVE: copies what no reader still needs, waits for nobody, blocks nobody.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:
                    logger.debug("checkpoint skipped: %s", error)  # the next one, or SQLite's own, catches up
        finally:
            if conn is not None:
                with suppress(sqlite3.Error):
                    conn.close()
            with self._lock:
                self._thread = None


def _has_table(connection: _Connection, name: str) -> bool:
    # Asked of SQLite's own catalogue: sqlite_utils (and click, pluggy, dateutil … that it loads, ~2 MB) stays
    # out of the serving process; the `sqlite-utils` command line still reads the file (see the README).
    return connection.one("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?", [name]) is not None


# What to do when the database's folder is missing (`check` and `serve` say it in the same words).
FOLDER_FIX = "point DATABASE_PATH at a file on a writable, persistent volume"


def folder_problem(path: Path) -> str | None:
    """Why a database file that does not exist yet cannot be created (None when it exists or can be): its
    folder is missing (a volume that is not mounted) or not writable."""
    if path.exists():
        return None
    folder = path.parent.resolve()
    if folder.is_dir() and os.access(folder, os.W_OK):
        return None
    return f"{path} cannot be created: {folder} is missing or not writable"


def _tighten(path: Path) -> None:
    """Make `path` readable by its owner only, saying so when it was not; a file we may not change is left as
    it is, with a warning."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # absent (no -wal yet) or unreadable: nothing to tighten
    if not mode & 0o077:
        return
    try:
        os.chmod(path, mode & ~0o077)
    except OSError as error:
        logger.warning(
            "%s can be read by other users of this host (mode %04o) and could not be changed (%s): it holds Webex "
            "tokens; run `chmod 600 %s` as its owner", path, mode, error.strerror or type(error).__name__, path,
        )  # fmt: skip
        return
    logger.warning(
        "%s could be read by other users of this host (mode %04o); it holds Webex tokens, so it is now %04o",
        path, mode, mode & ~0o077,
    )  # fmt: skip


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


def _writes(sql: str) -> bool:
    """Whether a statement run on its own changes the file (and so needs the writer's turn)."""
    return sql.lstrip()[:6].upper() in _WRITES


def _is_unavailable(error: sqlite3.Error) -> bool:
    code: Any = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _UNAVAILABLE_CODES
    return isinstance(error, sqlite3.OperationalError) and "unable to open" in str(error).lower()


def unavailable(path: Path, error: BaseException) -> DatabaseUnavailable:
    count_database_error("sqlite")
    return DatabaseUnavailable(describe_database_error(path, error), reason=_reason(error))


# What went wrong, as (a few words naming no file, for /healthz; the whole sentence with what to do).
_PROBLEMS: dict[str, tuple[str, str]] = {
    "full": ("the disk is full", "the disk holding the database file {path} is full: free space on it"),
    "read-only": ("read-only", "the database file {path} is read-only: make it (and its folder) writable by the bot"),
    "locked": (
        "locked by another process",
        "the database file {path} is locked by another process: try again in a moment",
    ),
    "damaged": ("damaged", "the database file {path} is damaged or not a database: restore it from a backup"),
    "io": ("disk I/O error", "the disk holding the database file {path} reported an I/O error: check the volume"),
    "cannot open": (
        "cannot be opened",
        "cannot open the database file {path}: check DATABASE_PATH and that its folder exists",
    ),
    "no schema": ("has no schema yet", "the database file {path} has no schema yet: start the bot once to create it"),
}


def _problem(error: BaseException) -> str | None:
    """Which of _PROBLEMS an SQLite error is, read from its result code (or, lacking one, its text)."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(error).lower()
    if primary == sqlite3.SQLITE_FULL or "disk is full" in text:
        return "full"
    if primary == sqlite3.SQLITE_READONLY or "readonly" in text or "read-only" in text:
        return "read-only"
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in text:
        return "locked"
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return "damaged"
    if primary == sqlite3.SQLITE_IOERR:
        return "io"
    if (
        primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)
        or "unable to open" in text
        or isinstance(error, OSError)
    ):
        return "cannot open"
    if "no such table" in text:
        return "no schema"
    return None


def _reason(error: BaseException) -> str:
    """A few words for what is wrong, naming no file."""
    problem = _problem(error)
    return _PROBLEMS[problem][0] if problem else "cannot be used right now"


def describe_database_error(path: Path, error: BaseException) -> str:
    """Plain words for the usual SQLite failures, with what to do about them."""
    problem = _problem(error)
    return _PROBLEMS[problem][1].format(path=path) if problem else f"database error on {path}: {error}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
