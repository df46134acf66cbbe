"""`recording-bot serve` (HTTP, the Procfile's), `socket` (Socket Mode) and `console` (the bot from a terminal)."""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Mapping

from slack_sdk.errors import SlackApiError

from bot import __version__
from bot.cli.common import UsageError, parse_user_id, slack_identity, workspace_of
from bot.config import HINTS, Config, ConfigurationError
from bot.store.sqlite import FOLDER_FIX, folder_problem

logger = logging.getLogger("bot")


def add_serve_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    console.add_argument(
        "--org",
        action="store_true",
        help="with --demo: an Enterprise Grid organisation whose org-wide install serves two of its workspaces",
    )
    console.add_argument(
        "--installable",
        action="store_true",
        help="with --demo: installable mode, two workspaces installed through Slack's OAuth flow, each answered "
        "with its own token from the database",
    )
    console.add_argument("-c", "--command", dest="script", help='console lines to run first, separated by ";"')
    console.set_defaults(func=_console)


# Variables by which hosting platforms tell an instance which of several it is: there, each instance has
# its own disk, so a SQLite file is one instance's alone.
PLATFORM_INSTANCE_VARIABLES = (
    "DYNO", "RENDER_INSTANCE_ID", "FLY_MACHINE_ID", "FLY_ALLOC_ID", "RAILWAY_REPLICA_ID", "K_REVISION",
    "WEBSITE_INSTANCE_ID", "CF_INSTANCE_INDEX",
)  # fmt: skip


def require_lasting_database(config: Config, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse to serve from a database that would not last: a SQLite file whose folder does not exist (a
    volume that is not mounted; creating the folder would put the database on throw-away disk). Warn when
    the platform runs several instances and each would keep its own file."""
    if config.uses_postgres:
        return
    problem = folder_problem(config.database_path)
    if problem:
        raise ConfigurationError(f"DATABASE_PATH: {problem}: {FOLDER_FIX}")
    platform = next((name for name in PLATFORM_INSTANCE_VARIABLES if environ.get(name)), None)
    if platform and "database_path" not in config.model_fields_set:
        logger.warning(
            "%s is set, so this platform may run several instances of the bot, and each would keep its own "
            "SQLite file at %s: its own allow-list, requests and audit log. Set DATABASE_URL to one PostgreSQL "
            "database for all of them (or set DATABASE_PATH to a file on a persistent volume, and run one instance)",
            platform, config.database_path,
        )  # fmt: skip


def _serve(config: Config, args: argparse.Namespace) -> int:
    from bot.app import RecordingBot, create_app
    from bot.serving.process import serve_http
    from bot.store.connect import open_database

    # Check what can be checked before anything starts, so a bad setup fails with one line and exit 2.
    require_lasting_database(config)
    if not config.installable:
        slack_identity(config)  # installable mode has no token of its own: each installation's is in the database
    open_database(config).migrate()

    def start(niceness: int) -> RecordingBot:
        bot = create_app(config, work_niceness=niceness).start()
        # Only once started: start() refuses a second instance on an SQLite file, which serves nothing.
        logger.info("recording-bot %s serving on port %s", __version__, config.port)
        return bot

    return serve_http(config, start, threads=args.threads)


def _socket(config: Config, args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app
    from bot.cli.check import SlackUnusable, library_logs_quiet, reach_socket_mode

    if config.installable:
        raise ConfigurationError(
            "installable mode (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_STATE_SECRET) needs HTTP: Slack sends "
            "the installing browser to /slack/oauth_redirect. Run `recording-bot serve`, or set SLACK_BOT_TOKEN "
            "and unset those three for Socket Mode in one workspace"
        )
    # As `serve` does: a refused token or an unreachable Slack is one line, before anything starts.
    require_lasting_database(config)
    slack_identity(config)
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


def _console(config: Config, args: argparse.Namespace) -> int:
    from bot.sandbox.console import run_console
    from bot.sandbox.console_input import split_script

    script = split_script(args.script) if args.script else None
    as_user = parse_user_id(args.as_user, option="--as") if args.as_user else None
    if args.org and not args.demo:
        raise UsageError("--org is a demo: recording-bot console --demo --org")
    if args.installable and not args.demo:
        raise UsageError("--installable is a demo: recording-bot console --demo --installable")
    if args.org and args.installable:
        raise UsageError("--org and --installable are two demos: give one of them")
    if args.demo:
        return run_console(None, demo=True, as_user=as_user, team_id=None, script=script, org=args.org,
                           installable=args.installable)  # fmt: skip
    if not as_user:
        raise UsageError("console needs --as U… (the Slack user to act as), or --demo")
    team = workspace_of(config, args.team)
    return run_console(config, demo=False, as_user=as_user, team_id=team, script=script)
