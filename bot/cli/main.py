"""The `recording-bot` command line: serve (HTTP), socket (Socket Mode) and allow-list administration."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from bot import __version__
from bot.cli.audit import add_audit_parser
from bot.cli.check import add_check_parser
from bot.cli.common import UsageError
from bot.cli.database import add_migrate_parser
from bot.cli.digest import add_digest_parser
from bot.cli.serve import add_serve_parsers
from bot.cli.users import add_users_parser
from bot.config import Config, ConfigurationError, SlackMode, config_from, load_config
from bot.logs import configure_logging
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


def _load_config(args: argparse.Namespace) -> Config:
    # `check` reports missing and half-set variables in its own report (unless a malformed value or two
    # databases stop it, and then names them all at once); every other command refuses them.
    reporting: SlackMode | None = None
    if getattr(args, "reports", False):
        reporting = "socket" if getattr(args, "socket", False) else "http"
    return load_config(
        slack=getattr(args, "slack_mode", None),
        consistent=getattr(args, "needs_consistent", True),
        all_or_none=reporting,
    )


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
    add_serve_parsers(sub)
    add_audit_parser(sub)
    add_migrate_parser(sub)
    add_check_parser(sub)
    add_users_parser(sub)
    add_digest_parser(sub)
    return parser
