"""The inbox table: Slack requests acknowledged and not yet finished, so that a killed bot's are not lost.

A row is written when a command, click or form submission is handed over for its work after the ack, and
deleted when that work has ended, whatever its outcome. What is left belongs to a process that died
first (a SIGKILL, an out-of-memory kill): another start, or another instance, claims it and finishes it.
The body is Slack's own payload, kept as Slack sent it; it holds a response_url, which is a secret for logs.

On SQLite the inbox is a file of its own beside the database (`inbox_path`), which the HTTP front writes
itself (`InboxFile`): an acknowledgement then waits neither for the bot's process, busy with the work of
earlier requests, nor for the database's other writers. On PostgreSQL it is the database's `inbox` table,
and the bot's process stores each row while the front waits for it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.store.database import Database, DatabaseUnavailable, Row, moment_text, placeholders

# The inbox file's one table: m012's `inbox`, made by the bot's process at start (never by the front).
INBOX_FILE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, "
    "received_at TEXT NOT NULL, body TEXT NOT NULL, content_type TEXT, takeovers INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS idx_inbox_instance_id ON inbox (instance_id)",
)
# How long the front's writer waits for the bot's process to finish its own write to the file (one DELETE or
# a takeover's UPDATE, well under a millisecond), polling from the first interval up to the last.
FRONT_WAIT_SECONDS = 1.0
_FRONT_POLL_SECONDS = (0.0001, 0.0002, 0.0005, 0.001, 0.002)


def inbox_path(database_path: Path) -> Path:
    """Where a SQLite database's inbox is kept: beside it, `<DATABASE_PATH>-inbox`."""
    return database_path.with_name(database_path.name + "-inbox")


@dataclass(frozen=True)
class InboxRow:
    id: int
    instance_id: str
    received_at: datetime
    body: str
    content_type: str
    # How many times the row was claimed from a dead instance (a second claim: the first claimer died too).
    takeovers: int


class InboxStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def add(self, instance_id: str, *, body: str, content_type: str, now: datetime) -> int:
        """Store one request just received; its ID."""
        row = self._database.one(
            "INSERT INTO inbox (instance_id, received_at, body, content_type) VALUES (?, ?, ?, ?) RETURNING id",
            [instance_id, moment_text(now), body, content_type],
        )
        assert row is not None
        return int(row["id"])

    def remove(self, entry_id: int) -> None:
        self._database.run("DELETE FROM inbox WHERE id = ?", [entry_id])

    def remove_all(self, entry_ids: Sequence[int]) -> None:
        """Delete these rows in one statement (one write lock taken, not one per row)."""
        self._database.run(f"DELETE FROM inbox WHERE id IN ({placeholders(entry_ids)})", list(entry_ids))

    def claim_orphans(self, instance_id: str, live: Sequence[str]) -> list[InboxRow]:
        """Take every row of an instance that is not live for `instance_id`: one conditional UPDATE, so that
        of two instances claiming together each row goes to one (PostgreSQL re-checks the condition on a row
        another transaction changed first)."""
        alive = list(live) or [instance_id]
        rows = self._database.all(
            f"UPDATE inbox SET instance_id = ?, takeovers = takeovers + 1 "
            f"WHERE instance_id NOT IN ({placeholders(alive)}) "
            "RETURNING id, instance_id, received_at, body, content_type, takeovers",
            [instance_id, *alive],
        )
        return sorted((_row(row) for row in rows), key=lambda row: row.id)

    def count(self) -> int:
        row = self._database.one("SELECT COUNT(*) AS n FROM inbox")
        return int(row["n"]) if row else 0

    def create_file_schema(self, *, legacy: Database | None = None) -> int:
        """Make the inbox file's table (SQLite), and move into it what an earlier version of the bot left in
        the database's own `inbox` table (`legacy`), so that it is taken over as usual; how many rows moved."""
        with self._database.transaction() as tx:
            for statement in INBOX_FILE_SCHEMA:
                tx.run(statement)
        if legacy is None:
            return 0
        with legacy.transaction() as old:
            rows = old.all("SELECT instance_id, received_at, body, content_type, takeovers FROM inbox ORDER BY id")
            if rows:
                with self._database.transaction() as tx:
                    for row in rows:
                        tx.run(
                            "INSERT INTO inbox (instance_id, received_at, body, content_type, takeovers) "
                            "VALUES (?, ?, ?, ?, ?)",
                            [row["instance_id"], row["received_at"], row["body"], row["content_type"],
                             row["takeovers"]],
                        )  # fmt: skip
                old.run("DELETE FROM inbox")
        return len(rows)


class InboxFile:
    """The HTTP front's writer of the inbox file: plain sqlite3, never creating the file (the bot's process
    makes it at start; a file that is not there is a misconfiguration to report).

    SQLite lets one connection write at a time, so the front's threads take turns on a lock of their own and
    share one connection: one per thread could not write any sooner and cost the front about 170 KB each. A
    write of the bot's process is waited out by polling every 0.1–2 ms (SQLite's own busy wait sleeps 1, 2,
    5, 10 … ms, a whole acknowledgement's worth), for `FRONT_WAIT_SECONDS` at most. Safe to share between
    threads."""

    def __init__(self, path: Path, instance_id: str, *, wait_seconds: float = FRONT_WAIT_SECONDS) -> None:
        self.path = path
        self._instance_id = instance_id
        self._wait_seconds = wait_seconds
        self._turn = threading.Lock()
        self._shared: sqlite3.Connection | None = None  # made at the first write, under the turn

    def add(self, *, body: str, content_type: str) -> int:
        """Store one request just received; its ID. Raises DatabaseUnavailable, saying why."""
        return self._write(
            "INSERT INTO inbox (instance_id, received_at, body, content_type) VALUES (?, ?, ?, ?)",
            (self._instance_id, moment_text(datetime.now(UTC)), body, content_type),
        )

    def remove(self, entry_id: int) -> None:
        self._write("DELETE FROM inbox WHERE id = ?", (entry_id,))

    def close(self) -> None:
        with self._turn:
            if self._shared is not None:
                self._shared.close()
                self._shared = None

    def _write(self, sql: str, params: tuple[object, ...]) -> int:
        deadline = time.monotonic() + self._wait_seconds
        if not self._turn.acquire(timeout=self._wait_seconds):
            raise DatabaseUnavailable(f"{self.path}: the front's threads held its turn to write for too long",
                                      reason="busy")  # fmt: skip
        try:
            connection = self._connection()
            polls = iter(_FRONT_POLL_SECONDS)
            while True:
                try:
                    cursor = connection.execute(sql, params)
                    return int(cursor.lastrowid or 0)
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                        raise _unavailable(self.path, error) from error
                    if time.monotonic() >= deadline:
                        raise DatabaseUnavailable(
                            f"{self.path} was locked by another writer for over {self._wait_seconds:g} s",
                            reason="locked",
                        ) from error
                time.sleep(next(polls, _FRONT_POLL_SECONDS[-1]))
        except sqlite3.Error as error:
            raise _unavailable(self.path, error) from error
        finally:
            self._turn.release()

    def _connection(self) -> sqlite3.Connection:
        """The shared connection; called with the turn held, which is what makes sharing it safe."""
        connection = self._shared
        if connection is None:
            # mode=rw: a missing file is an error here, not a new empty database nobody else reads.
            connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=0,
                                         isolation_level=None, check_same_thread=False)  # fmt: skip
            connection.execute("PRAGMA busy_timeout = 0")
            # As the bot's own connections (store/sqlite.py): a COMMIT reaches the operating system, and so
            # survives a kill of either process. Checkpoints are the bot's process's, never an ack's.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            self._shared = connection
        return connection


def _unavailable(path: Path, error: sqlite3.Error) -> DatabaseUnavailable:
    words = str(error) or type(error).__name__
    return DatabaseUnavailable(f"the inbox file {path} cannot be written: {words}", reason=words)


def _row(row: Row) -> InboxRow:
    return InboxRow(
        id=int(row["id"]),
        instance_id=str(row["instance_id"]),
        received_at=datetime.fromisoformat(row["received_at"]),
        body=str(row["body"]),
        content_type=str(row["content_type"] or ""),
        takeovers=int(row["takeovers"] or 0),
    )
