"""Opening the configured database: SQLite at DATABASE_PATH."""

from __future__ import annotations

from bot.config import Config
from bot.store.database import Database
from bot.store.sqlite import SqliteDatabase


def open_database(config: Config) -> Database:
    """The configured database, not yet migrated (nothing is created until it is used)."""
    return SqliteDatabase(config.database_path)
