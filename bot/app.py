"""create_app(): the one place where settings, storage, clients, services and Slack are wired together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import listeners
from bot.commands import PauseLimits
from bot.redaction import redactor
from bot.services.audit import AuditTrail
from bot.services.authorization import Authorizer
from bot.services.bundle import Services
from bot.settings import ConfigurationError, Settings
from bot.store.allow_list import AllowListStore
from bot.store.audit import AuditStore
from bot.store.database import Database

logger = logging.getLogger(__name__)


@dataclass
class RecordingBot:
    """A built bot: the Bolt app plus what the web layer, the CLI and the tests reach into."""

    settings: Settings
    bolt: App
    services: Services
    database: Database
    team_id: str
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:
                logger.exception("error while shutting down")
        self.database.close()


def create_app(settings: Settings, *, socket_mode: bool = False) -> RecordingBot:
    """Build the bot from settings. Raises ConfigurationError with one readable line on bad setup."""
    settings.require_slack(socket_mode=socket_mode)
    redactor.add(*settings.secret_values())

    database = Database(settings.database_path)
    applied = database.migrate()
    if applied:
        logger.info("database %s: applied migrations %s", settings.database_path, ", ".join(applied))

    assert settings.slack_bot_token is not None  # checked by require_slack
    bot_token = settings.slack_bot_token.get_secret_value()
    slack = WebClient(token=bot_token, base_url=settings.slack_api_url, timeout=10)
    identity = _identify(slack)
    team_id = str(identity["team_id"])

    audit = AuditTrail(store=AuditStore(database=database))
    authorizer = Authorizer(allow_list=AllowListStore(database=database), audit=audit)
    added = authorizer.bootstrap(team_id, settings.bot_admins, source="BOT_ADMINS")
    if added:
        logger.info("made %s admin(s) from BOT_ADMINS", len(added))

    services = Services(
        authorizer=authorizer,
        audit=audit,
        limits=PauseLimits(
            default_seconds=int(settings.default_pause_minutes * 60),
            max_seconds=int(settings.max_pause_minutes * 60),
        ),
    )

    authorize_result = AuthorizeResult.from_auth_test_response(
        auth_test_response=identity, bot_token=bot_token, user_token=None
    )
    bolt = App(
        # Bolt gives each listener a client carrying the token from `authorize`; this one is the template.
        client=WebClient(base_url=settings.slack_api_url, timeout=10),
        signing_secret=(
            settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        ),
        # auth.test ran once above; answer Bolt's per-request authorization from it instead of letting
        # the first Slack request wait on another network round trip before its ack.
        authorize=lambda **_: authorize_result,
        # Listeners ack first and finish their work in lazy listeners after the HTTP response is sent.
        process_before_response=True,
        request_verification_enabled=not socket_mode,
        ignoring_self_events_enabled=False,
        url_verification_enabled=True,
    )
    listeners.register(bolt, services)
    return RecordingBot(settings=settings, bolt=bolt, services=services, database=database, team_id=team_id)


def _identify(slack: WebClient) -> Any:
    """auth.test: which workspace and bot user the token belongs to. Fails start-up with a clear line."""
    try:
        return slack.auth_test()
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        raise ConfigurationError(
            f"SLACK_BOT_TOKEN was refused by Slack ({reason}): copy the Bot User OAuth Token (xoxb-…) "
            "from the app's OAuth & Permissions page"
        ) from None
    except (SlackClientError, OSError) as error:
        raise ConfigurationError(
            f"cannot reach Slack at SLACK_API_URL ({type(error).__name__}): check the network or SLACK_API_URL"
        ) from None
