"""The `recording-bot` command line: serve (HTTP), socket (Socket Mode) and allow-list administration."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import __version__
from bot.cli.audit import add_audit_parser
from bot.cli.database import add_migrate_parser
from bot.commands.parser import read_user_id
from bot.config import HINTS, Config, ConfigurationError, config_from, load_config
from bot.logs import configure_logging
from bot.models import Role
from bot.services.instances import AnotherInstanceRunning
from bot.store.database import DatabaseUnavailable
from bot.words import closest_word

logger = logging.getLogger("bot")

EXIT_CONFIG = 2
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # No command is a usage mistake, not a request for help: scripts must not take it for success.
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        config = _demo_config() if getattr(args, "demo", False) else _load_config(args)
        configure_logging(level=config.log_level, fmt=config.log_format)
        result: int = args.func(config, args)
        return result
    except ConfigurationError as error:
        for problem in error.problems:
            print(f"recording-bot: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as error:
        print(f"recording-bot: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailable as error:
        print(f"recording-bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except AnotherInstanceRunning as error:
        print(f"recording-bot: cannot start: {error.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


class UsageError(Exception):
    """A command-line value cannot be used; the message names it and shows what would work."""


def _load_config(args: argparse.Namespace) -> Config:
    # `check` reports missing and half-set variables in its own report; every other command refuses them.
    return load_config(slack=getattr(args, "slack_mode", None), consistent=getattr(args, "needs_consistent", True))


def _demo_config() -> Config:
    # The demo console brings its own configuration and reads no variable: a broken (or a production)
    # environment must neither stop a trial nor be touched by one.
    return config_from(log_level="WARNING")


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that suggests the choice a near-miss meant: `recording-bot serv` → did you mean 'serve'?"""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        choices = [str(choice) for choice in action.choices]
        close = closest_word(str(value), choices)
        guess = f"; did you mean {close!r}?" if close else ""
        raise argparse.ArgumentError(action, f"invalid choice: {value!r}{guess} (choose from {', '.join(choices)})")


def _parser() -> argparse.ArgumentParser:
    # Typed as the base class: subparsers are built with the parser's own class at run time anyway.
    parser: argparse.ArgumentParser = _ArgumentParser(
        prog="recording-bot",
        description="Slack chat-ops bot for pausing/resuming call recordings and reading recording settings.",
        epilog="`recording-bot COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"recording-bot {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="serve Slack's HTTP requests on $PORT (production)",
        description="Serve Slack's HTTP requests (slash commands, clicks, events) on $PORT with gunicorn, as the "
        "Procfile does. Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; checks Slack and the database first.",
    )
    serve.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    serve.set_defaults(func=_serve, slack_mode="http")

    socket = sub.add_parser(
        "socket",
        help="connect to Slack in Socket Mode (local use; needs SLACK_APP_TOKEN)",
        description="Connect to Slack in Socket Mode: no public URL needed (local use, or behind a firewall). "
        "Needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN (xapp-…, with connections:write).",
    )
    socket.set_defaults(func=_socket, slack_mode="socket")

    add_audit_parser(sub)
    add_migrate_parser(sub)

    console = sub.add_parser(
        "console",
        help="use the bot from this terminal, as a Slack user, without Slack",
        description="Use the bot from this terminal as a Slack user: the real bot runs on 127.0.0.1 and only "
        "Slack is simulated (its replies print here). With --demo the recording system, Webex and the "
        "database are simulated too, and no environment variable is read.",
    )
    console.add_argument(
        "--demo", action="store_true", help="simulated recording system, Webex and a throw-away database"
    )
    console.add_argument(
        "--as",
        dest="as_user",
        metavar="USER_ID",
        help="act as this Slack user, e.g. U012ABCDEF or @U012ABCDEF (default in --demo: an admin)",
    )
    console.add_argument("--team", help="Slack team (workspace) ID; default: the bot token's workspace")
    console.add_argument("-c", "--command", dest="script", help='console lines to run first, separated by ";"')
    console.set_defaults(func=_console)

    check = sub.add_parser(
        "check",
        help="validate the configuration and reach every dependency once",
        description="Validate the configuration and reach every dependency once: one line per check, ✓ passed, "
        "✗ failed (with the fix), – not verified. Exit 0 when nothing failed, 1 when a check failed, 2 when a "
        "variable is malformed.",
    )
    check.add_argument("--socket", action="store_true", help="check for Socket Mode (needs SLACK_APP_TOKEN)")
    check.set_defaults(func=_check, needs_consistent=False)

    users = sub.add_parser(
        "users",
        help="manage the allow-list from the command line",
        description="Add, change, remove and list the people allowed to use the bot (to bootstrap the first "
        "admin, or when Slack is not at hand). Changes are audited under cli:<your login name>.",
    )
    team_help = "Slack team (workspace) ID; default: the bot token's workspace"
    users.add_argument("--team", help=team_help)
    # --team is accepted after the action too (`users add U1 admin --team T1`); SUPPRESS keeps a
    # --team given before the action from being overwritten by the action's own default.
    team_after = argparse.ArgumentParser(add_help=False)
    team_after.add_argument("--team", default=argparse.SUPPRESS, help=team_help)
    users_sub = users.add_subparsers(metavar="ACTION", required=True)
    add = users_sub.add_parser(
        "add",
        parents=[team_after],
        help="add a user or change their role",
        description="Add a user to the allow-list, or change their role or approver group.",
    )
    add.add_argument("user_id", help="Slack user ID, e.g. U012ABCDEF or @U012ABCDEF")
    add.add_argument("role", choices=[r.value for r in Role])
    add.add_argument(
        "--group", metavar="NAME", help="put the user in this approver group (`-` takes them out of theirs)"
    )
    add.set_defaults(func=_users_add)
    remove = users_sub.add_parser(
        "remove", parents=[team_after], help="remove a user", description="Remove a user from the allow-list."
    )
    remove.add_argument("user_id", help="Slack user ID, e.g. U012ABCDEF or @U012ABCDEF")
    remove.set_defaults(func=_users_remove)
    listing = users_sub.add_parser(
        "list",
        parents=[team_after],
        help="list the allow-list",
        description="List the allow-list: each user's role, approver group, who added them and when.",
    )
    listing.set_defaults(func=_users_list)
    return parser


# -- serve / socket --------------------------------------------------------------------------------


def _serve(config: Config, args: argparse.Namespace) -> int:
    from bot.serving.process import serve_http
    from bot.store.connect import open_database

    # Check what can be checked before anything starts, so a bad setup fails with one line and exit 2.
    _slack_identity(config)
    open_database(config).migrate()
    logger.info("recording-bot %s serving on port %s", __version__, config.port)
    return serve_http(config, threads=args.threads)


def _socket(config: Config, args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app
    from bot.cli.check import SlackUnusable, library_logs_quiet, reach_socket_mode

    # As `serve` does: a refused token or an unreachable Slack is one line, before anything starts.
    _slack_identity(config)
    with library_logs_quiet():
        try:
            reach_socket_mode(config)
        except SlackUnusable as error:
            raise ConfigurationError(f"Slack Socket Mode: {error}") from None
    bot = create_app(config, socket_mode=True).start()
    assert config.slack_app_token is not None
    logger.info("recording-bot %s connecting to Slack in Socket Mode", __version__)
    try:
        handler = SocketModeHandler(bot.bolt, config.slack_app_token.get_secret_value())
        try:
            # Quietly, should the token be refused after all (revoked since the check above): one line.
            with library_logs_quiet():
                handler.connect()  # type: ignore[no-untyped-call]
        except SlackApiError as error:
            reason = error.response.get("error", "unknown error")
            raise ConfigurationError(
                f"SLACK_APP_TOKEN was refused by Slack ({reason}): {HINTS['SLACK_APP_TOKEN']}"
            ) from None
        logger.info("connected to Slack in Socket Mode")
        threading.Event().wait()  # the connection runs on its own threads until the process is stopped
    finally:
        bot.close()
    return 0


def _slack_identity(config: Config) -> dict[str, Any]:
    """auth.test with the bot token; a refusal or an unreachable Slack is a ConfigurationError of one line."""
    from bot.cli.check import SlackUnusable, library_logs_quiet, reach_slack

    with library_logs_quiet():
        try:
            return reach_slack(config)
        except SlackUnusable as error:
            raise ConfigurationError(f"Slack: {error}") from None


# -- console / check ---------------------------------------------------------------------------------


def _console(config: Config, args: argparse.Namespace) -> int:
    from bot.sandbox.console import run_console, split_script

    script = split_script(args.script) if args.script else None
    as_user = _user_id(args.as_user, option="--as") if args.as_user else None
    if args.demo:
        return run_console(None, demo=True, as_user=as_user, team_id=None, script=script)
    if not as_user:
        raise UsageError("console needs --as U… (the Slack user to act as), or --demo")
    team_id = _team_id(config, args.team)
    return run_console(config, demo=False, as_user=as_user, team_id=team_id, script=script)


def _check(config: Config, args: argparse.Namespace) -> int:
    from bot.cli.check import print_report, run_checks

    return print_report(run_checks(config, socket_mode=args.socket), sys.stdout)


# -- users -----------------------------------------------------------------------------------------


def _users_add(config: Config, args: argparse.Namespace) -> int:
    from bot.services.allow_list import LastAdmin
    from bot.store.allow_list import KEEP_GROUP, GroupChange

    group: GroupChange = KEEP_GROUP
    if args.group is not None:
        group = None if args.group == "-" else _group_name(args.group)
    user_id = _user_id(args.user_id)
    authorizer, team_id = _allow_list(config, args)
    try:
        change = authorizer.set_role(team_id, user_id, Role(args.role), source=operator_name(), group=group)
    except LastAdmin:
        print("refused: that would leave the workspace without an admin", file=sys.stderr)
        return 1
    where = f", group {change.group}" if change.group else ""
    if not change.changed:
        print(f"{change.user_id} already is {args.role}{where} in {team_id}; nothing changed")
    elif change.previous is change.current:
        group_change = f"group {change.group or '-'} (was {change.previous_group or '-'})"
        print(f"{change.user_id} stays {args.role}; {group_change} in {team_id}")
    else:
        was = f" (was {change.previous.value})" if change.previous else ""
        print(f"{change.user_id} is now {args.role}{was}{where} in {team_id}")
    return 0


def operator_name() -> str:
    """How a change made from this command line is attributed: `cli:<login name>` in the audit log and the list.

    Slack changes carry the Slack user ID of who made them; a shell has no Slack user, but it has a login.
    """
    from bot.services.allow_list import CLI_ACTOR

    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (e.g. a container's anonymous UID)
        return CLI_ACTOR
    return f"{CLI_ACTOR}:{login}" if login else CLI_ACTOR


def _group_name(text: str) -> str:
    from bot.commands.parser import GROUP_NAME

    name = text.strip().lower()
    if not GROUP_NAME.match(name) or not name.strip("-"):
        raise UsageError(f"--group {text!r} is not a group name: 1–30 lowercase letters, digits or dashes")
    return name


def _users_remove(config: Config, args: argparse.Namespace) -> int:
    from bot.services.allow_list import LastAdmin

    user_id = _user_id(args.user_id)
    authorizer, team_id = _allow_list(config, args)
    try:
        change = authorizer.remove(team_id, user_id, source=operator_name())
    except LastAdmin:
        print("refused: that is the last admin; add another admin first", file=sys.stderr)
        return 1
    if change.previous is None:
        print(f"{change.user_id} was not on the allow-list of {team_id}; nothing changed", file=sys.stderr)
        return 1
    print(f"{change.user_id} removed (was {change.previous.value}) from {team_id}")
    return 0


def _users_list(config: Config, args: argparse.Namespace) -> int:
    authorizer, team_id = _allow_list(config, args)
    entries = authorizer.entries(team_id)
    if not entries:
        print(f"the allow-list of {team_id} is empty")
        return 0
    print(f"{'user':<14} {'role':<10} {'group':<16} {'added by':<20} added at (UTC)")
    for entry in sorted(entries, key=lambda e: (-e.role.rank, e.user_id)):
        group = entry.group_name or "-"
        added = f"{entry.added_at:%Y-%m-%d %H:%M}"
        print(f"{entry.user_id:<14} {entry.role.value:<10} {group:<16} {entry.added_by:<20} {added}")
    return 0


def _user_id(text: str, *, option: str = "USER_ID") -> str:
    user_id = read_user_id(text)
    if user_id is None:
        raise UsageError(f"{option} {text!r} is not a Slack user ID (like U012ABCDEF or @U012ABCDEF)")
    return user_id


def _allow_list(config: Config, args: argparse.Namespace) -> tuple[Any, str]:
    from bot.services.allow_list import Authorizer
    from bot.services.audit import AuditTrail
    from bot.store.allow_list import AllowListStore
    from bot.store.audit import AuditStore
    from bot.store.connect import open_database

    team_id = _team_id(config, args.team)
    database = open_database(config)
    database.migrate()
    authorizer = Authorizer(
        allow_list=AllowListStore(database=database), audit=AuditTrail(store=AuditStore(database=database))
    )
    return authorizer, team_id


def _team_id(config: Config, explicit: str | None) -> str:
    """The workspace the allow-list entries belong to: --team, or the bot token's own workspace."""
    if explicit:
        return explicit.strip().upper()
    if config.slack_bot_token is None:
        raise ConfigurationError(
            "give --team T… (the Slack workspace ID) or set SLACK_BOT_TOKEN so it can be looked up"
        )
    return str(_slack_identity(config)["team_id"])

