"""The PostgreSQL engine: a small psycopg connection pool, `?` placeholders turned into `%s`, and locks
that make a check-then-write atomic across every instance sharing the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.metrics.registry import count_database_error
from bot.store import migrations
from bot.store.database import Database, DatabaseUnavailable, Params, Row, Statements

logger = logging.getLogger(__name__)

# One number for the whole schema: instances starting together take turns applying migrations.
_MIGRATION_LOCK_KEY = 0x7265636F7264  # "record"
POOL_MAX_SIZE = 10
CONNECT_TIMEOUT_SECONDS = 5
# A connection waits at most this long for a free slot in the pool before the request is refused.
POOL_WAIT_SECONDS = 5.0
# The health check's whole budget: a load balancer or platform probe waits about a second, and a database
# that gives no connection (or no answer) within it is what the check is there to report.
HEALTH_WAIT_SECONDS = 0.5
HEALTH_STATEMENT_TIMEOUT = "400ms"
# How long a statement waits for a row or advisory lock another session holds, like SQLite's busy timeout:
# a write stuck behind a lock fails in plain words instead of hanging a request (or a resume) for ever.
LOCK_TIMEOUT = "2s"

# SQLSTATE classes and codes that mean "the database cannot be used right now" (not a bug in a query).
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58", "28", "3D")
_UNAVAILABLE_CODES = frozenset({"25006", "40001", "40P01", "55P03", "42501"})


class _OneLine(logging.Filter):
    """psycopg's messages carry libpq's, which span lines ("…failed: Connection refused\n\tIs the server
    running…"): one event, one log line, so that a log search or a line-based collector keeps it whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message:
            record.msg, record.args = " ".join(part.strip() for part in message.splitlines() if part.strip()), None
        return True


for _name in ("psycopg", "psycopg.pool"):
    logging.getLogger(_name).addFilter(_OneLine())


@lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """The repositories write `?`; psycopg wants `%s` (and a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Session:
    """One pooled connection, speaking the Statements protocol."""

    def __init__(
        self, conn: psycopg.Connection[Row], unavailable: Callable[[BaseException], DatabaseUnavailable]
    ) -> None:
        self.conn = conn
        self._unavailable = unavailable

    def _execute(self, sql: str, params: Params) -> psycopg.Cursor[Row]:
        try:
            return self.conn.execute(_pg_sql(sql), tuple(params))
        except psycopg.Error as error:
            if is_unavailable(error):
                raise self._unavailable(error) from error
            raise

    def one(self, sql: str, params: Params = ()) -> Row | None:
        cursor = self._execute(sql, params)
        return cursor.fetchone() if cursor.description else None

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = self._execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def run(self, sql: str, params: Params = ()) -> int:
        return self._execute(sql, params).rowcount

    def lock(self, key: str) -> None:
        """Hold a lock named `key` until this transaction ends (other instances wait for it)."""
        self._execute("SELECT pg_advisory_xact_lock(hashtext(?))", [key])


class PostgresDatabase(Database):
    """A PostgreSQL database reached through DATABASE_URL; one pool per process, shared by its threads."""

    engine = "postgresql"

    def __init__(self, url: str, *, max_size: int = POOL_MAX_SIZE, source: str = "DATABASE_URL") -> None:
        self._url = url
        self._safe = safe_url(url)
        # Where the URL came from, so that what to fix is named there (DATABASE_URL, or migrate-db's --to).
        self._source = source
        self._lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._max_size = max_size

    @property
    def location(self) -> str:
        return self._safe

    # -- statements ------------------------------------------------------------------------------

    def one(self, sql: str, params: Params = ()) -> Row | None:
        with self._session() as session:
            return session.one(sql, params)

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._session() as session:
            return session.all(sql, params)

    def run(self, sql: str, params: Params = ()) -> int:
        with self._session() as session:
            return session.run(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        with self._session() as session, session.conn.transaction():
            yield session

    # -- schema and health -----------------------------------------------------------------------

    def migrate(self) -> list[str]:
        with self.transaction() as tx:
            # Another instance may be migrating: wait for it however long it takes.
            tx.run("SET LOCAL lock_timeout = 0")
            tx.one("SELECT pg_advisory_xact_lock(?)", [_MIGRATION_LOCK_KEY])
            return migrations.apply_pending(tx, self.engine, now=_now())

    def pending_migrations(self) -> list[str]:
        with self._session() as session:
            exists = session.one("SELECT to_regclass(?) AS found", [migrations.MIGRATIONS_TABLE])
            applied = migrations.applied_names(session) if exists and exists["found"] else set()
        return [m.name for m in migrations.pending(applied)]

    def check_writable(self) -> None:
        """Reachable, schema present, and a write accepted (a read-only replica or a full disk refuses it)."""
        try:
            # Committed: a full disk fails only when the write-ahead log is flushed at COMMIT. Bounded: a
            # stopped server is told within the health check's budget, not after the pool's wait.
            with self._session(wait=HEALTH_WAIT_SECONDS) as session, session.conn.transaction():
                session.run(f"SET LOCAL statement_timeout = '{HEALTH_STATEMENT_TIMEOUT}'")
                session.run(f"SET LOCAL lock_timeout = '{HEALTH_STATEMENT_TIMEOUT}'")
                session.one(f"SELECT count(*) AS applied FROM {migrations.MIGRATIONS_TABLE}")
                session.run(
                    f"UPDATE {migrations.MIGRATIONS_TABLE} SET applied_at = applied_at "
                    f"WHERE name = (SELECT min(name) FROM {migrations.MIGRATIONS_TABLE})"
                )
        except psycopg.Error as error:
            raise self.unavailable(error) from error

    def continue_ids_after_copy(self, tx: Statements, table: str) -> None:
        # An identity column keeps its own counter, which rows inserted with explicit IDs do not move.
        tx.one(
            f"SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE((SELECT max(id) FROM {table}), 0) + 1, false) "
            "AS next_id",
            [table],
        )

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- connections -----------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, wait: float | None = None) -> Iterator[_Session]:
        pool = self._open_pool()
        wait = POOL_WAIT_SECONDS if wait is None else wait
        with self._guard(wait), pool.connection(timeout=wait) as conn:
            yield _Session(conn, self.unavailable)

    @contextmanager
    def _guard(self, wait: float) -> Iterator[None]:
        """Connection failures become DatabaseUnavailable with plain words (never the password)."""
        try:
            yield
        except PoolTimeout as error:
            count_database_error("postgresql")
            raise DatabaseUnavailable(
                f"PostgreSQL at {self._safe} gave the bot no connection within {wait:g} s: "
                "the server is unreachable, or every connection is busy",
                reason="unreachable",
            ) from error
        except psycopg.Error as error:
            if is_unavailable(error):
                raise self.unavailable(error) from error
            raise

    def _open_pool(self) -> ConnectionPool[psycopg.Connection[Row]]:
        with self._lock:
            if self._pool is None:
                # One direct attempt first: a refused port, an unknown host or a wrong password is told at
                # once, instead of after the pool has retried for its whole timeout.
                try:
                    psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
                except psycopg.Error as error:
                    raise self.unavailable(error) from None
                pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self._max_size,
                    kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
                    open=False,
                    name="recording-bot",
                    # A connection the server dropped (restart, failover) is found out before it is used.
                    check=ConnectionPool.check_connection,
                    configure=_configure,
                )
                try:
                    pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS + 1)
                except PoolTimeout:
                    pool.close()
                    count_database_error("postgresql")
                    raise DatabaseUnavailable(self._first_connection_problem(), reason="unreachable") from None
                self._pool = pool
            return self._pool

    def _first_connection_problem(self) -> str:
        """Why the pool could not open its first connection, found by trying once directly."""
        try:
            psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except psycopg.Error as error:
            return self.describe_error(error)
        return f"PostgreSQL at {self._safe} did not accept a connection in time"

    def describe_error(self, error: BaseException) -> str:
        return describe_postgres_error(self._safe, error, source=self._source)

    def unavailable(self, error: BaseException) -> DatabaseUnavailable:
        count_database_error("postgresql")
        return DatabaseUnavailable(self.describe_error(error), reason=_reason(error))


def is_unavailable(error: psycopg.Error) -> bool:
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    code = getattr(error, "sqlstate", None) or ""
    return code.startswith(_UNAVAILABLE_CLASSES) or code in _UNAVAILABLE_CODES


def _configure(conn: psycopg.Connection[Row]) -> None:
    conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")


def _reason(error: BaseException) -> str:
    """A few words for what is wrong, naming no host or user."""
    code = getattr(error, "sqlstate", None) or ""
    text = str(error).lower()
    if code == "53100" or "no space left" in text or "disk full" in text:
        return "the disk is full"
    if code == "25006" or "read-only" in text:
        return "read-only"
    if code.startswith("28") or code == "42501":
        return "refused the bot's login or rights"
    if code in ("40001", "40P01", "55P03"):
        return "locked by another session"
    if code == "3D000":
        return "does not exist"
    return "unreachable"


def describe_postgres_error(where: str, error: BaseException, *, source: str = "DATABASE_URL") -> str:
    """Plain words for the usual PostgreSQL failures, with what to change (in `source`, where the URL came
    from). Never includes a password."""
    code = getattr(error, "sqlstate", None) or ""
    text = str(error).lower()
    if code == "28P01" or "password authentication failed" in text or ("password" in text and "supplied" in text):
        return (
            f"PostgreSQL at {where} refused the bot's login: check the user name and password in {source}"
        )
    if code.startswith("28") or "no pg_hba.conf entry" in text or "authentication" in text:
        return (
            f"PostgreSQL at {where} does not let this user connect from here: check the user in {source} "
            "and the server's access rules (some platforms need ?sslmode=require)"
        )
    if code == "3D000" or ("database" in text and "does not exist" in text):
        return f"the database named in {source} does not exist at {where}: create it, or fix the name"
    if "could not translate host name" in text or "name or service not known" in text:
        return f"the host in {source} ({where}) cannot be found: check the host name"
    if "connection refused" in text or "could not connect" in text or "timeout" in text or "timed out" in text:
        return f"cannot reach PostgreSQL at {where}: check the host and port in {source} and that it runs"
    if code == "53100" or "no space left" in text or "disk full" in text:
        return f"PostgreSQL at {where} has no disk space left: free space or grow the database's storage"
    if code == "25006" or "read-only" in text:
        return f"PostgreSQL at {where} accepts no writes (a read-only replica?): point {source} at the primary"
    if code.startswith("57") or code.startswith("08"):
        return f"the connection to PostgreSQL at {where} was lost (the server restarted?): try again in a moment"
    if code.startswith("53"):
        return f"PostgreSQL at {where} is out of resources (too many connections?): try again in a moment"
    if code == "42501":
        return f"the user in {source} may not do this at {where}: grant it rights on the bot's tables"
    if code in ("40001", "40P01", "55P03"):
        return f"PostgreSQL at {where} was busy with a conflicting change: try again in a moment"
    return f"PostgreSQL error at {where} ({type(error).__name__})"


def safe_url(url: str) -> str:
    """`user@host:port/db` from a database URL: enough to find it, never the password."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # out of range, or not a number: the configuration check names it
        port = ""
    user = f"{parts.username}@" if parts.username else ""
    name = parts.path.lstrip("/") or "(default database)"
    return f"{user}{host}{port}/{name}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
