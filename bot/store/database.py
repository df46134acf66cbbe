"""Opening the SQLite file: one connection per thread, WAL mode, schema migrations applied on open."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.store.migrations import migrations

# Long enough to ride out another writer's short transaction; short enough that a request that
# cannot get the lock still answers the user well within Slack's patience.
BUSY_TIMEOUT_MS = 2000


class DatabaseUnavailable(Exception):
    """The database file cannot be opened, read or written (missing volume, read-only, locked)."""


_UNAVAILABLE = ("locked", "busy", "readonly", "read-only", "unable to open", "disk i/o")


class _TranslatingDatabase(sqlite_utils.Database):
    """sqlite_utils.Database whose statements report a locked, read-only or missing file as
    DatabaseUnavailable, so callers above the store see one exception (and users a clear message)."""

    def __init__(self, conn: sqlite3.Connection, *, path: Path) -> None:
        super().__init__(conn)
        self._path = path

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> sqlite3.Cursor:
        try:
            cursor: sqlite3.Cursor = super().execute(sql, parameters)
        except sqlite3.OperationalError as error:
            if any(word in str(error).lower() for word in _UNAVAILABLE):
                raise DatabaseUnavailable(describe_database_error(self._path, error)) from error
            raise
        return cursor


class Database:
    """The bot's SQLite file. Each thread gets its own connection; sqlite3 connections must not be shared."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []

    def migrate(self) -> list[str]:
        """Create the file if needed and apply pending migrations; return the names applied."""
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self.db
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
            return pending
        except (sqlite3.Error, OSError) as error:
            raise DatabaseUnavailable(describe_database_error(self.path, error)) from error

    def pending_migrations(self) -> list[str]:
        return [m.name for m in migrations.pending(self.db)]

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection, opened on first use."""
        current: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if current is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # A read-only file cannot switch journal mode; reads still work, writes will say why.
            with suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            current = _TranslatingDatabase(conn, path=self.path)
            self._local.db = current
            with self._all_lock:
                self._all.append(conn)
        return current

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE … COMMIT: the write lock is taken up front, so check-then-write is atomic."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def check_writable(self) -> None:
        """Raise DatabaseUnavailable unless the file can be read and its write lock taken right now."""
        try:
            db = self.db
            db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        except sqlite3.Error as error:
            raise DatabaseUnavailable(describe_database_error(self.path, error)) from error

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()


def describe_database_error(path: Path, error: BaseException) -> str:
    """Plain words for the usual SQLite failures, with what to do about them."""
    text = str(error).lower()
    if "readonly" in text or "read-only" in text:
        return f"the database file {path} is read-only: make it (and its folder) writable by the bot"
    if "locked" in text or "busy" in text:
        return f"the database file {path} is locked by another process: try again in a moment"
    if "unable to open" in text or isinstance(error, OSError):
        return f"cannot open the database file {path}: check DATABASE_PATH and that its folder exists"
    if "no such table" in text:
        return f"the database file {path} has no schema yet: start the bot once to create it"
    return f"database error on {path}: {error}"
