"""`recording-bot audit --verify --anchors-from-slack`: the chain heads the digests posted, read back from the
digest channel's history — with SLACK_BOT_TOKEN, or in installable mode from each installation's own digest
channel with that installation's token from the database (which TOKEN_ENCRYPTION_KEY decrypts)."""

from __future__ import annotations

import sys

from bot.config import HINTS, Config

_NOT_READ = "recording-bot must be in it, with the channels:history (groups:history for a private one) scope"
_NONE_FOUND = "(digests are posted daily at DIGEST_TIME once DIGEST_CHANNEL is set)"


def anchors_from_slack(config: Config) -> list[str] | None:
    """The chain heads the digests name, each once; None (said why on stderr) when they cannot be read."""
    if config.installable:
        return _from_installations(config)
    from slack_sdk import WebClient

    from bot.listeners.digest import SlackHistoryUnreadable, anchors_from_channel

    if config.slack_bot_token is None or config.digest_channel is None:
        missing = "SLACK_BOT_TOKEN" if config.slack_bot_token is None else "DIGEST_CHANNEL"
        _say(f"--anchors-from-slack needs {missing}: {HINTS[missing]}")
        return None
    client = WebClient(token=config.slack_bot_token.get_secret_value(), base_url=config.slack_api_url, timeout=10)
    try:
        found = anchors_from_channel(client, config.digest_channel)
    except SlackHistoryUnreadable as error:
        _say(f"Slack: the digest channel {config.digest_channel} could not be read ({error}); {_NOT_READ}")
        return None
    if not found:
        _say(f"no digest in {config.digest_channel} names a chain head, so there is nothing to check against "
             + _NONE_FOUND)
        return None
    print(f"read {len(found)} chain head(s) from the digests in {config.digest_channel}")
    return found


def _from_installations(config: Config) -> list[str] | None:
    """Installable mode: every installation's digest channel, read with its own token (refreshed first when it
    expires soon, as the bot does)."""
    if config.digest_channel is None:
        _say(f"--anchors-from-slack needs DIGEST_CHANNEL: {HINTS['DIGEST_CHANNEL']}")
        return None
    problems = config.installable_problems()
    if problems or config.token_encryption_key is None:
        _say(
            "--anchors-from-slack in installable mode reads each installation's digest channel with its own token "
            "from the database, which needs the bot's own TOKEN_ENCRYPTION_KEY and OAuth settings: "
            + "; ".join(problems or [HINTS["TOKEN_ENCRYPTION_KEY"]])
        )
        return None
    assert config.slack_client_id and config.slack_client_secret
    from bot.clock import utc_now
    from bot.listeners.digest import SlackHistoryUnreadable, anchors_from_channel
    from bot.listeners.installations import InstalledWorkspaces, NotInstalled
    from bot.store.connect import open_database
    from bot.store.encryption import TokenCipher, TokenUnreadable
    from bot.store.installations import InstallationStore

    database = open_database(config)
    try:
        database.migrate()
        store = InstallationStore(database=database, cipher=TokenCipher(config.token_encryption_key.get_secret_value()))
        workspaces = InstalledWorkspaces(
            store=store, api_url=config.slack_api_url, timeout=10, client_id=config.slack_client_id,
            client_secret=config.slack_client_secret.get_secret_value(), clock=utc_now,
        )  # fmt: skip
        try:
            installed = store.installed()
        except TokenUnreadable:
            _say("the installations' tokens cannot be decrypted: TOKEN_ENCRYPTION_KEY is not the key the bot uses")
            return None
        found: list[str] = []
        read: list[str] = []
        for installation in installed:
            channel = config.digest_channel_for(installation.key)
            if channel is None:
                continue
            try:
                client = workspaces.for_team(installation.team_id, installation.enterprise_id)
                heads = anchors_from_channel(client, channel)
            except (SlackHistoryUnreadable, NotInstalled) as error:
                _say(f"Slack: the digest channel {channel} of {installation.name} ({installation.key}) could not be "
                     f"read ({error}); {_NOT_READ}")  # fmt: skip
                return None
            found += [head for head in heads if head not in found]
            read.append(f"{channel} ({installation.key})")
    finally:
        database.close()
    if not read:
        _say("no installation has a digest channel (DIGEST_CHANNEL, or its T…:C… entry), so there is nothing to read")
        return None
    if not found:
        _say(f"no digest in {', '.join(read)} names a chain head, so there is nothing to check against {_NONE_FOUND}")
        return None
    print(f"read {len(found)} chain head(s) from the digests in {', '.join(read)}")
    return found


def _say(words: str) -> None:
    print(f"recording-bot audit: {words}", file=sys.stderr)
