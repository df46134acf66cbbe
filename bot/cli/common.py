"""What the subcommands share: how a usage mistake is raised, and how users and workspaces are read."""

from __future__ import annotations

from typing import Any

from bot.commands.parser import read_user_id
from bot.config import Config, ConfigurationError


class UsageError(Exception):
    """A command-line value cannot be used; the message names it and shows what would work."""


def slack_identity(config: Config) -> dict[str, Any]:
    """auth.test with the bot token; a refusal or an unreachable Slack is a ConfigurationError of one line."""
    from bot.cli.check import SlackUnusable, library_logs_quiet, reach_slack

    with library_logs_quiet():
        try:
            return reach_slack(config)
        except SlackUnusable as error:
            raise ConfigurationError(f"Slack: {error}") from None


def parse_user_id(text: str, *, option: str = "USER_ID") -> str:
    user_id = read_user_id(text)
    if user_id is None:
        raise UsageError(f"{option} {text!r} is not a Slack user ID (like U012ABCDEF or @U012ABCDEF)")
    return user_id


def workspace_of(config: Config, explicit: str | None) -> str:
    """The workspace the allow-list entries belong to: --team, or the bot token's own workspace."""
    if explicit:
        return explicit.strip().upper()
    if config.installable:
        raise ConfigurationError(
            "give --team T… (the Slack workspace ID; E… for an org-wide install's organisation): in installable "
            "mode `recording-bot installations` lists them"
        )
    if config.slack_bot_token is None:
        raise ConfigurationError(
            "give --team T… (the Slack workspace ID) or set SLACK_BOT_TOKEN so it can be looked up"
        )
    identity = slack_identity(config)
    # An org-wide install's token: the allow-list is the organisation's.
    if identity.get("is_enterprise_install") and identity.get("enterprise_id"):
        return str(identity["enterprise_id"])
    return str(identity["team_id"])
