"""`recording-bot installations`: the workspaces and organisations the app is installed in (installable
mode), with who installed it when, whether its tokens work, and when it was last used; no token is shown."""

from __future__ import annotations

import argparse
import sys
import time

from bot.config import Config
from bot.store.installations import InstallationRecord


def add_installations_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "installations",
        help="list the workspaces and organisations the app is installed in (installable mode)",
        description="List every installation made through /slack/install: the workspace or organisation, when "
        "and by whom it was installed, whether its tokens are valid, expired or deleted (uninstalled), and "
        "when it was last used. Tokens are never shown.",
    )
    parser.set_defaults(func=run_installations, needs_consistent=True)


def token_state(record: InstallationRecord, now: float) -> str:
    installation = record.installation
    if record.uninstalled_at is not None:
        return f"deleted (uninstalled {record.uninstalled_at:%Y-%m-%d %H:%M} UTC)"
    expires = installation.bot_token_expires_at
    if expires is None:
        return "valid (does not expire)"
    if expires <= now:
        return "expired (refreshed at next use)"
    return f"valid (rotating; expires {time.strftime('%Y-%m-%d %H:%M', time.gmtime(expires))} UTC)"


def run_installations(config: Config, args: argparse.Namespace) -> int:
    from bot.store.connect import open_database
    from bot.store.installations import InstallationStore

    database = open_database(config)
    try:
        database.migrate()
        # Listing reads no token: no key needed.
        records = InstallationStore(database=database, cipher=None).records()
    finally:
        database.close()
    if not records:
        hint = "" if config.installable else " (the bot runs in single-workspace mode: SLACK_BOT_TOKEN is set)"
        print(f"no installations{hint}", file=sys.stderr)
        return 0
    now = time.time()
    for record in records:
        i = record.installation
        where = f"organisation {i.name} ({i.enterprise_id}), org-wide" if i.is_enterprise_install else (
            f"workspace {i.name} ({i.team_id})" + (f" of organisation {i.enterprise_id}" if i.enterprise_id else "")
        )  # fmt: skip
        installed = f"{i.installed_at:%Y-%m-%d %H:%M} UTC" if i.installed_at else "unknown"
        used = f"{i.last_used_at:%Y-%m-%d %H:%M} UTC" if i.last_used_at else "never"
        print(f"{where}: installed {installed} by {i.installer_user_id or 'unknown'}; "
              f"tokens {token_state(record, now)}; last used {used}")  # fmt: skip
    return 0
