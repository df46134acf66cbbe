"""The database as the repositories see it: statements with `?` placeholders, rows as dicts, transactions.

One implementation per engine (store/sqlite.py; PostgreSQL joins it) keeps the engine's differences —
placeholders, connections, locking, error codes — in one small module, so each repository writes one
statement per operation for every engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

Row = dict[str, Any]
Params = Sequence[Any]


class DatabaseUnavailable(Exception):
    """The database cannot be reached, read or written (missing volume, read-only, locked, full, refused).

    Its message says where and what to do, for operators; `reason` says what is wrong in a few words and
    names no file, host or user, for answers to callers nobody has authenticated (`/healthz`).
    """

    def __init__(self, message: str, *, reason: str = "cannot be used right now") -> None:
        super().__init__(message)
        self.reason = reason


class Statements(Protocol):
    """Run SQL: on the database itself (each statement commits) or inside one transaction."""

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row the statement returns, or None."""
        ...

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def run(self, sql: str, params: Params = ()) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        ...

    def lock(self, key: str) -> None:
        """Inside a transaction: hold the lock named `key` until it ends, so that writers of the same
        thing (one workspace's audit chain, one allow-list) take turns on every instance."""
        ...


class Database(ABC):
    """An open database of the bot's. Safe to share between threads."""

    engine: str

    @abstractmethod
    def one(self, sql: str, params: Params = ()) -> Row | None: ...

    @abstractmethod
    def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    def run(self, sql: str, params: Params = ()) -> int: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Statements]:
        """One atomic unit whose check-then-write cannot interleave with another writer's."""

    @abstractmethod
    def migrate(self) -> list[str]:
        """Create or update the schema; return the names of the migrations applied now."""

    @abstractmethod
    def pending_migrations(self) -> list[str]: ...

    @abstractmethod
    def check_writable(self) -> None:
        """Raise DatabaseUnavailable unless the database can be read and written right now: a real write,
        committed, because a full disk or a read-only replica lets a transaction begin and fails only then."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def continue_ids_after_copy(self, tx: Statements, table: str) -> None:
        """After rows were copied in with their own IDs: make new rows continue after the largest."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the database is, for operators (never with a password in it)."""


def placeholders(values: Sequence[Any]) -> str:
    """`?, ?, ?` for an IN list of these values."""
    return ", ".join("?" * len(values))




def moment_text(moment: datetime) -> str:
    """A time as stored: fixed-width UTC text, which sorts like time on every engine (`expires_at <= ?`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
