"""`recording-bot migrate-db --to postgresql://…`: move the bot's SQLite database into PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from bot.clock import utc_now
from bot.config import Config, ConfigurationError, postgres_url_problem

EXIT_FAILED = 1
EXIT_USAGE = 2


def add_migrate_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate-db",
        help="copy the SQLite database (DATABASE_PATH) into an empty PostgreSQL database",
        description=(
            "Copy everything the bot keeps in its SQLite file (DATABASE_PATH) — allow-list, requests and their "
            "schedule, audit log, Webex tokens — into an empty PostgreSQL database, then compare the row counts. "
            "Stop the bot first."
        ),
    )
    parser.add_argument("--to", required=True, metavar="URL", help="the PostgreSQL URL, e.g. postgresql://…")
    parser.set_defaults(func=run_migrate)


def run_migrate(config: Config, args: argparse.Namespace) -> int:
    from bot.services.instances import DEAD_AFTER_SECONDS
    from bot.store.copy import TargetNotEmpty, copy_database
    from bot.store.database import DatabaseUnavailable
    from bot.store.instances import InstanceStore
    from bot.store.postgres import PostgresDatabase, safe_url
    from bot.store.sqlite import SqliteDatabase

    url = str(args.to).strip()
    if not url.startswith(("postgres://", "postgresql://")):
        raise ConfigurationError("--to must be a PostgreSQL URL starting with postgresql:// (or postgres://)")
    problem = postgres_url_problem(url)
    if problem:
        # In words only: the URL holds the password.
        raise ConfigurationError(f"--to is not a usable PostgreSQL URL ({problem}), e.g. --to postgresql://user:password@host:5432/dbname")
    if config.database_url is not None:
        raise ConfigurationError(
            "DATABASE_URL is set, so this bot already uses PostgreSQL: migrate-db copies from the SQLite file at "
            "DATABASE_PATH; unset DATABASE_URL to run it"
        )
    path = config.database_path
    if not path.exists():
        print(f"recording-bot migrate-db: no SQLite database at {path}: check DATABASE_PATH", file=sys.stderr)
        return EXIT_USAGE
    source = SqliteDatabase(path)
    target = PostgresDatabase(url, source="--to")
    where = safe_url(url)
    try:
        source.migrate()
        alive_since = utc_now() - timedelta(seconds=DEAD_AFTER_SECONDS)
        if InstanceStore(database=source).live_ids(alive_since):
            print(
                f"recording-bot migrate-db: a bot instance is still serving {path}; stop it first, so that "
                "nothing changes while the copy runs",
                file=sys.stderr,
            )
            return EXIT_FAILED
        copies = copy_database(source, target)
    except TargetNotEmpty as error:
        print(
            f"recording-bot migrate-db: the PostgreSQL database {where} is not empty (it has rows in {error}); "
            "copy into a new, empty database",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except DatabaseUnavailable as error:
        print(f"recording-bot migrate-db: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        source.close()
        target.close()
    print(f"copied {path} into PostgreSQL at {where}:")
    for copy in copies:
        mark = "✓" if copy.complete else "✗"
        rows = "row" if copy.target_rows == 1 else "rows"
        print(f"  {mark} {copy.table:<20} {copy.target_rows:>8} {rows} ({copy.source_rows} in SQLite)")
    if not all(copy.complete for copy in copies):
        print("the row counts differ: do not switch over; run migrate-db again into a new database", file=sys.stderr)
        return EXIT_FAILED
    print(
        "\nnext:\n"
        "  1. set DATABASE_URL to that URL on every instance, and unset DATABASE_PATH\n"
        "  2. start the bot, then run `recording-bot check` and `recording-bot audit --verify`\n"
        f"  3. keep {path} as a backup until you are satisfied; the bot no longer writes to it"
    )
    return 0
