"""The `recording-bot` command line: serve (HTTP), socket (Socket Mode) and allow-list administration."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from bot import __version__
from bot.audit_cli import add_audit_parser
from bot.config import Config, ConfigurationError, load_config
from bot.database_cli import add_migrate_parser
from bot.logs import configure_logging
from bot.models import Role
from bot.services.instances import AnotherInstanceRunning
from bot.store.database import DatabaseUnavailable

logger = logging.getLogger("bot")

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        # The demo console brings its own configuration: a broken environment must not stop a trial.
        demo = bool(getattr(args, "demo", False))
        config = Config(_env_file=None, log_level="WARNING") if demo else load_config()
        configure_logging(level=config.log_level, fmt=config.log_format)
        result: int = args.func(config, args)
        return result
    except ConfigurationError as error:
        print(f"recording-bot: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseUnavailable as error:
        print(f"recording-bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except AnotherInstanceRunning as error:
        print(f"recording-bot: cannot start: {error.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recording-bot",
        description="Slack chat-ops bot for pausing/resuming call recordings and reading recording settings.",
    )
    parser.add_argument("--version", action="version", version=f"recording-bot {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve Slack's HTTP requests on $PORT (production)")
    serve.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    serve.set_defaults(func=_serve)

    socket = sub.add_parser("socket", help="connect to Slack in Socket Mode (local use; needs SLACK_APP_TOKEN)")
    socket.set_defaults(func=_socket)

    add_audit_parser(sub)
    add_migrate_parser(sub)

    console = sub.add_parser("console", help="use the bot from this terminal, as a Slack user, without Slack")
    console.add_argument(
        "--demo", action="store_true", help="simulated recording system, Webex and a throw-away database"
    )
    console.add_argument(
        "--as", dest="as_user", metavar="USER_ID", help="act as this Slack user (default in --demo: an admin)"
    )
    console.add_argument("--team", help="Slack team (workspace) ID; default: the bot token's workspace")
    console.add_argument("-c", "--command", dest="script", help='console lines to run first, separated by ";"')
    console.set_defaults(func=_console)

    check = sub.add_parser("check", help="validate the configuration and reach every dependency once")
    check.add_argument("--socket", action="store_true", help="check for Socket Mode (needs SLACK_APP_TOKEN)")
    check.set_defaults(func=_check)

    users = sub.add_parser("users", help="manage the allow-list from the command line")
    users.add_argument("--team", help="Slack team (workspace) ID; default: the bot token's workspace")
    users_sub = users.add_subparsers(metavar="ACTION", required=True)
    add = users_sub.add_parser("add", help="add a user or change their role")
    add.add_argument("user_id", help="Slack user ID, e.g. U012ABCDEF")
    add.add_argument("role", choices=[r.value for r in Role])
    add.add_argument(
        "--group", metavar="NAME", help="put the user in this approver group (`-` takes them out of theirs)"
    )
    add.set_defaults(func=_users_add)
    remove = users_sub.add_parser("remove", help="remove a user")
    remove.add_argument("user_id")
    remove.set_defaults(func=_users_remove)
    listing = users_sub.add_parser("list", help="list the allow-list")
    listing.set_defaults(func=_users_list)
    return parser


# -- serve / socket --------------------------------------------------------------------------------


def _serve(config: Config, args: argparse.Namespace) -> int:
    from bot.server import run_gunicorn
    from bot.store.connect import open_database

    # Check what can be checked before starting the server, so a bad setup fails with one line.
    config.require_slack()
    open_database(config).migrate()

    def load() -> Any:
        from bot.server import AppLoadFailed
        from bot.wsgi import create

        try:
            return create()
        except (ConfigurationError, DatabaseUnavailable) as error:
            raise AppLoadFailed(f"recording-bot: cannot start: {error}") from None
        except AnotherInstanceRunning as error:
            raise AppLoadFailed(f"recording-bot: cannot start: {error.message}") from None

    logger.info("recording-bot %s serving on port %s", __version__, config.port)
    run_gunicorn(load, bind=f"0.0.0.0:{config.port}", threads=args.threads)
    return 0


def _socket(config: Config, args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app

    bot = create_app(config, socket_mode=True).start()
    assert config.slack_app_token is not None
    logger.info("recording-bot %s connecting to Slack in Socket Mode", __version__)
    try:
        SocketModeHandler(bot.bolt, config.slack_app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]
    finally:
        bot.close()
    return 0


# -- console / check ---------------------------------------------------------------------------------


def _console(config: Config, args: argparse.Namespace) -> int:
    from bot.sandbox.console import run_console, split_script

    script = split_script(args.script) if args.script else None
    if args.demo:
        return run_console(None, demo=True, as_user=args.as_user, team_id=None, script=script)
    if not args.as_user:
        raise ConfigurationError("console needs --as U… (the Slack user to act as), or --demo")
    team_id = _team_id(config, args.team)
    return run_console(config, demo=False, as_user=args.as_user, team_id=team_id, script=script)


def _check(config: Config, args: argparse.Namespace) -> int:
    from bot.check import print_report, run_checks

    return print_report(run_checks(config, socket_mode=args.socket), sys.stdout)


# -- users -----------------------------------------------------------------------------------------


def _users_add(config: Config, args: argparse.Namespace) -> int:
    from bot.services.authorization import LastAdmin
    from bot.store.allow_list import KEEP_GROUP, GroupChange

    group: GroupChange = KEEP_GROUP
    if args.group is not None:
        group = None if args.group == "-" else _group_name(args.group)
    authorizer, team_id = _allow_list(config, args)
    try:
        change = authorizer.set_role(team_id, _user_id(args.user_id), Role(args.role), group=group)
    except LastAdmin:
        print("refused: that would leave the workspace without an admin", file=sys.stderr)
        return 1
    was = f" (was {change.previous.value})" if change.previous else ""
    where = f", group {change.group}" if change.group else ""
    if not change.changed:
        print(f"{change.user_id} already is {args.role}{where} in {team_id}; nothing changed")
        return 0
    print(f"{change.user_id} is now {args.role}{was}{where} in {team_id}")
    return 0


def _group_name(text: str) -> str:
    from bot.grammar import GROUP_NAME

    name = text.strip().lower()
    if not GROUP_NAME.match(name) or not name.strip("-"):
        raise ConfigurationError(f"{text!r} is not a group name: 1–30 lowercase letters, digits or dashes")
    return name


def _users_remove(config: Config, args: argparse.Namespace) -> int:
    from bot.services.authorization import LastAdmin

    authorizer, team_id = _allow_list(config, args)
    try:
        change = authorizer.remove(team_id, _user_id(args.user_id))
    except LastAdmin:
        print("refused: that is the last admin; add another admin first", file=sys.stderr)
        return 1
    if change.previous is None:
        print(f"{change.user_id} was not on the allow-list of {team_id}")
        return 1
    print(f"{change.user_id} removed (was {change.previous.value})")
    return 0


def _users_list(config: Config, args: argparse.Namespace) -> int:
    authorizer, team_id = _allow_list(config, args)
    entries = authorizer.entries(team_id)
    if not entries:
        print(f"the allow-list of {team_id} is empty")
        return 0
    print(f"{'user':<14} {'role':<10} {'group':<16} {'added by':<14} added at (UTC)")
    for entry in sorted(entries, key=lambda e: (-e.role.rank, e.user_id)):
        group = entry.group_name or "-"
        added = f"{entry.added_at:%Y-%m-%d %H:%M}"
        print(f"{entry.user_id:<14} {entry.role.value:<10} {group:<16} {entry.added_by:<14} {added}")
    return 0


def _user_id(text: str) -> str:
    from bot.config import _USER_ID

    user_id = text.strip().upper()
    if not _USER_ID.match(user_id):
        raise ConfigurationError(f"{text!r} is not a Slack user ID (like U012ABCDEF)")
    return user_id


def _allow_list(config: Config, args: argparse.Namespace) -> tuple[Any, str]:
    from bot.services.audit import AuditTrail
    from bot.services.authorization import Authorizer
    from bot.store.allow_list import AllowListStore
    from bot.store.audit import AuditStore
    from bot.store.connect import open_database

    database = open_database(config)
    database.migrate()
    authorizer = Authorizer(
        allow_list=AllowListStore(database=database), audit=AuditTrail(store=AuditStore(database=database))
    )
    return authorizer, _team_id(config, args.team)


def _team_id(config: Config, explicit: str | None) -> str:
    """The workspace the allow-list entries belong to: --team, or the bot token's own workspace."""
    if explicit:
        return explicit.strip().upper()
    if config.slack_bot_token is None:
        raise ConfigurationError(
            "give --team T… (the Slack workspace ID) or set SLACK_BOT_TOKEN so it can be looked up"
        )
    from slack_sdk import WebClient

    from bot.app import _identify

    identity = _identify(WebClient(token=config.slack_bot_token.get_secret_value(), base_url=config.slack_api_url))
    return str(identity["team_id"])


if __name__ == "__main__":
    sys.exit(main())
