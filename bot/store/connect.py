"""Opening the configured database: PostgreSQL when DATABASE_URL is set, otherwise SQLite at DATABASE_PATH."""

from __future__ import annotations

from bot.config import Config
from bot.store.database import Database
from bot.store.inbox import inbox_path


def open_database(config: Config) -> Database:
    """The configured database, not yet migrated (nothing is created or connected until it is used)."""
    config.require_consistent_credentials()
    if config.database_url is not None:
        from bot.store.postgres import PostgresDatabase  # psycopg loads only where PostgreSQL is used

        return PostgresDatabase(config.database_url.get_secret_value())
    from bot.store.sqlite import SqliteDatabase

    return SqliteDatabase(config.database_path, busy_timeout_ms=round(config.sqlite_busy_timeout_seconds * 1000))


def open_inbox_database(database: Database) -> Database:
    """Where `database`'s inbox is kept (store/inbox.py): for SQLite a file of its own beside it, which the
    HTTP front writes too; for PostgreSQL the database itself. Its schema is `InboxStore.create_file_schema`'s."""
    from bot.store.sqlite import SqliteDatabase

    if not isinstance(database, SqliteDatabase):
        return database
    return SqliteDatabase(inbox_path(database.path), busy_timeout_ms=database.busy_timeout_ms)
