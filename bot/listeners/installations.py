"""Installable mode, the Slack side: slack_sdk's InstallationStore and OAuthStateStore over the bot's own
database (store/installations.py), Bolt's OAuth flow with the bot's own pages, and the per-workspace Web API
clients: each installation's token, refreshed before use by slack_sdk's TokenRotator (Bolt's rotation) —
for Slack's requests (Bolt's `authorize`) and for the scheduler's work outside them alike."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_bolt import BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackTokenRotationError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store import InstallationStore as SlackSdkInstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.blocks.install_pages import install_failed_page, install_page, installed_page
from bot.clock import Clock
from bot.models.installations import SlackInstallation
from bot.redaction import redactor
from bot.store.installations import InstallationStore, OAuthStates

logger = logging.getLogger(__name__)

# What the app asks for at install (as in manifests/manifest-distributed.yaml).
BOT_SCOPES = (
    "commands", "chat:write", "chat:write.public", "im:write", "users:read", "users:read.email",
    "files:write", "channels:history", "groups:history",
)  # fmt: skip
# Bolt's default: a token that expires within two hours is refreshed before it is used.
ROTATION_MINUTES = 120
STATE_SECONDS = 600
# An installation read from the database is used for this long before it is read again.
_CACHE_SECONDS = 5.0
_USED_EVERY_SECONDS = 60.0


class NotInstalled(SlackClientError):
    """No installation serves this workspace (never installed, or uninstalled): nothing can be sent there."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"the app is not installed in workspace {team_id}")
        self.team_id = team_id


class SlackClients(Protocol):
    """A Web API client for one workspace's requests, carrying that workspace's token."""

    def for_team(self, team_id: str) -> WebClient: ...


class OneWorkspace:
    """Single-workspace mode: SLACK_BOT_TOKEN's client, whatever the workspace."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def for_team(self, team_id: str) -> WebClient:
        return self._client


def as_clients(client: WebClient | SlackClients) -> SlackClients:
    return OneWorkspace(client) if isinstance(client, WebClient) else client


class InstalledWorkspaces:
    """Installable mode's clients: each workspace's own token, from the database, refreshed before use."""

    def __init__(
        self,
        *,
        store: InstallationStore,
        api_url: str,
        timeout: int,
        client_id: str,
        client_secret: str,
        clock: Clock,
        rotation_minutes: int = ROTATION_MINUTES,
    ) -> None:
        self._store = store
        self._api_url = api_url
        self._timeout = timeout
        self._clock = clock
        self._rotation_minutes = rotation_minutes
        # slack_sdk's rotator calls oauth.v2.access itself: given a client on SLACK_API_URL, it follows it.
        self._rotator = TokenRotator(
            client_id=client_id, client_secret=client_secret, client=WebClient(base_url=api_url, timeout=timeout)
        )
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, SlackInstallation]] = {}
        self._used: dict[tuple[str, str], float] = {}
        self._clients: dict[str, WebClient] = {}

    @property
    def store(self) -> InstallationStore:
        return self._store

    def installation(self, enterprise_id: str, team_id: str) -> SlackInstallation | None:
        """The installation serving this workspace, its token fresh (rotated now if it expires soon)."""
        key = (enterprise_id or "", team_id or "")
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS and not self._expiring(cached[1]):
            return cached[1]
        with self._lock:
            found = self._store.find(*key)
            if found is not None and self._expiring(found):
                found = self._rotate(found)
            if found is None:
                self._cache.pop(key, None)
                return None
            redactor.add(*(t for t in (found.bot_token, found.bot_refresh_token) if t))
            self._cache[key] = (time.monotonic(), found)
            return found

    def for_team(self, team_id: str, enterprise_id: str = "") -> WebClient:
        found = self.installation(enterprise_id, team_id)
        if found is None and not enterprise_id and team_id.startswith("E"):
            # An organisation's scope (an org-wide install keeps one allow-list, and its requests, under the
            # enterprise ID): its org-wide installation.
            found = self.installation(team_id, "")
        if found is None or not found.bot_token:
            raise NotInstalled(team_id)
        return self._client(found.bot_token)

    def authorize(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None,
                  ) -> AuthorizeResult | None:  # fmt: skip
        """Bolt's `authorize`: which token answers this request (None: not installed there)."""
        try:
            found = self.installation(enterprise_id or "", team_id or "")
        except SlackTokenRotationError as error:
            logger.warning("the token of workspace %s could not be refreshed: %s", team_id, _reason(error))
            return None
        if found is None or not found.bot_token:
            # Not installed there (another organisation, a workspace never installed in): the listeners still
            # run, without a token, so that the coverage rule (services/coverage.py) refuses the person
            # privately, through the response_url, and audits it — rather than Bolt answering unaudited.
            logger.info("a request from workspace %s, where the app is not installed", team_id)
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        self._note_use(found)
        return AuthorizeResult(
            enterprise_id=found.enterprise_id or None, team_id=found.team_id or None, bot_token=found.bot_token,
            bot_id=found.bot_id, bot_user_id=found.bot_user_id, bot_scopes=found.bot_scopes, user_id=user_id,
        )  # fmt: skip

    def bolt_authorize(self) -> Callable[..., AuthorizeResult | None]:
        """`authorize` as Bolt calls it: a function whose parameter names say what it is given."""

        def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult | None:
            return self.authorize(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)

        return authorize

    def forget(self, enterprise_id: str, team_id: str) -> None:
        """After an uninstall: no cached token of this installation is used again."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == enterprise_id and (not team_id or k[1] == team_id)]:
                self._cache.pop(key, None)
            self._cache.pop((enterprise_id, team_id), None)

    def _expiring(self, installation: SlackInstallation) -> bool:
        expires = installation.bot_token_expires_at
        return expires is not None and expires <= time.time() + self._rotation_minutes * 60

    def _rotate(self, installation: SlackInstallation) -> SlackInstallation | None:
        """Refresh the token (under the lock: a refresh token works once, so two threads must not both use it)."""
        if not installation.bot_refresh_token or not installation.bot_token:
            return installation
        bot = Bot(
            enterprise_id=installation.enterprise_id or None, team_id=installation.team_id or None,
            bot_token=installation.bot_token, bot_id=installation.bot_id or "",
            bot_user_id=installation.bot_user_id or "", bot_refresh_token=installation.bot_refresh_token,
            bot_token_expires_at=installation.bot_token_expires_at, installed_at=time.time(),
            is_enterprise_install=installation.is_enterprise_install,
        )  # fmt: skip
        try:
            rotated = self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=self._rotation_minutes
            )
        except SlackTokenRotationError:
            # A refresh token works once: another instance on the same database may have used it a moment
            # ago. Its new token is then stored; otherwise the refresh really failed.
            again = self._store.find(installation.enterprise_id, installation.team_id)
            if again is not None and again.bot_token != installation.bot_token and not self._expiring(again):
                return again
            raise
        if rotated is None:
            return installation
        redactor.add(*(t for t in (rotated.bot_token, rotated.bot_refresh_token) if t))
        saved = self._store.save_tokens(
            installation.enterprise_id, installation.team_id, bot_token=rotated.bot_token,
            refresh_token=rotated.bot_refresh_token, expires_at=rotated.bot_token_expires_at,
        )  # fmt: skip
        if not saved:
            return None  # uninstalled meanwhile
        logger.info("refreshed the Slack token of %s (token rotation)", installation.name)
        return self._store.find(installation.enterprise_id, installation.team_id)

    def _client(self, token: str) -> WebClient:
        client = self._clients.get(token)
        if client is None:
            client = WebClient(token=token, base_url=self._api_url, timeout=self._timeout)
            client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
            if len(self._clients) > 1000:
                self._clients.clear()
            self._clients[token] = client
        return client

    def _note_use(self, installation: SlackInstallation) -> None:
        key = (installation.enterprise_id, installation.team_id)
        now = time.monotonic()
        if now - self._used.get(key, -_USED_EVERY_SECONDS) < _USED_EVERY_SECONDS:
            return
        self._used[key] = now
        try:
            self._store.used(*key, now=self._clock())
        except Exception:
            logger.warning("could not record when %s was last used", installation.name, exc_info=True)


class DatabaseInstallationStore(SlackSdkInstallationStore):
    """slack_sdk's InstallationStore over the bot's database: bot tokens only (the app asks no user scopes)."""

    def __init__(self, *, store: InstallationStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return logger

    def save(self, installation: Installation) -> None:
        self._store.save(_from_sdk(installation, self._clock()), now=self._clock())

    def save_bot(self, bot: Bot) -> None:
        if bot.bot_token:
            self._store.save_tokens(
                bot.enterprise_id or "", bot.team_id or "", bot_token=bot.bot_token,
                refresh_token=bot.bot_refresh_token, expires_at=bot.bot_token_expires_at,
            )  # fmt: skip

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:  # fmt: skip
        found = self._store.find(enterprise_id or "", "" if is_enterprise_install else team_id or "")
        return _to_sdk(found).to_bot() if found is not None else None

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:  # fmt: skip
        found = self._store.find(enterprise_id or "", "" if is_enterprise_install else team_id or "")
        return _to_sdk(found) if found is not None else None

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._store.remove_tokens(enterprise_id or "", team_id or "", now=self._clock())

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                            user_id: str | None = None) -> None:  # fmt: skip
        self._store.remove_tokens(enterprise_id or "", team_id or "", now=self._clock())


class DatabaseStateStore(OAuthStateStore):
    """One-time install states: random, signed with SLACK_STATE_SECRET (a forged one never reaches the
    database), kept in the database until used once or expired (a replayed one is refused)."""

    def __init__(self, *, states: OAuthStates, secret: str, clock: Clock, seconds: int = STATE_SECONDS) -> None:
        self._states = states
        self._secret = secret.encode()
        self._clock = clock
        self._seconds = seconds

    @property
    def logger(self) -> logging.Logger:
        return logger

    def issue(self, *args: Any, **kwargs: Any) -> str:
        nonce = secrets.token_urlsafe(24)
        state = f"{nonce}.{self._sign(nonce)}"
        now = self._clock()
        self._states.issue(state, expires_at=now + timedelta(seconds=self._seconds), now=now)
        return state

    def consume(self, state: str) -> bool:
        nonce, _, signature = (state or "").partition(".")
        if not nonce or not hmac.compare_digest(signature, self._sign(nonce)):
            return False
        return self._states.consume(state, now=self._clock())

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()[:32]


# What the bot does once an installation is stored: (the installation, its installer) → nothing.
OnInstalled = Callable[[SlackInstallation], object]


def oauth_flow(
    *,
    client_id: str,
    client_secret: str,
    authorize_url: str,
    api_url: str,
    timeout: int,
    installation_store: DatabaseInstallationStore,
    state_store: DatabaseStateStore,
    on_installed: OnInstalled,
    clock: Clock,
) -> OAuthFlow:
    """Bolt's OAuth flow: the install page, the state check, oauth.v2.access, the installation stored; the
    pages it shows are the bot's own (blocks/install_pages.py), and a stored install goes to `on_installed`."""

    def success(args: SuccessArgs) -> BoltResponse:
        installed = _from_sdk(args.installation, clock())
        try:
            on_installed(installed)
        except Exception:
            logger.exception("the installation of %s was stored, but what follows it failed", installed.name)
        return _html(200, installed_page(installed))

    def failure(args: FailureArgs) -> BoltResponse:
        logger.info("an install did not complete: %s", args.reason)
        status = args.suggested_status_code if args.suggested_status_code >= 400 else 200
        return _html(status, install_failed_page(args.reason))

    settings = OAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        authorization_url=authorize_url,
        installation_store=installation_store,
        installation_store_bot_only=True,
        state_store=state_store,
        state_expiration_seconds=STATE_SECONDS,
        callback_options=CallbackOptions(success=success, failure=failure),
        token_rotation_expiration_minutes=ROTATION_MINUTES,
    )
    flow = _InstallFlow(settings=settings, client=WebClient(base_url=api_url, timeout=timeout))
    return flow


class _InstallFlow(OAuthFlow):
    """Bolt's flow with the bot's own install page."""

    def build_install_page_html(self, url: str, request: Any) -> str:
        return install_page(url)


def _html(status: int, page: str) -> BoltResponse:
    return BoltResponse(status=status, body=page, headers={"Content-Type": "text/html; charset=utf-8"})


def _from_sdk(installation: Installation, now: datetime) -> SlackInstallation:
    scopes = installation.bot_scopes
    return SlackInstallation(
        enterprise_id=installation.enterprise_id or "",
        team_id="" if installation.is_enterprise_install else installation.team_id or "",
        is_enterprise_install=bool(installation.is_enterprise_install),
        bot_token=installation.bot_token,
        bot_refresh_token=installation.bot_refresh_token,
        bot_token_expires_at=installation.bot_token_expires_at,
        app_id=installation.app_id,
        bot_id=installation.bot_id,
        bot_user_id=installation.bot_user_id,
        bot_scopes=",".join(scopes) if isinstance(scopes, list | tuple) else str(scopes or ""),
        team_name=installation.team_name,
        enterprise_name=installation.enterprise_name,
        installer_user_id=installation.user_id,
        installed_at=now,
    )


def _to_sdk(installation: SlackInstallation) -> Installation:
    return Installation(
        app_id=installation.app_id, enterprise_id=installation.enterprise_id or None,
        enterprise_name=installation.enterprise_name, team_id=installation.team_id or None,
        team_name=installation.team_name, bot_token=installation.bot_token, bot_id=installation.bot_id,
        bot_user_id=installation.bot_user_id, bot_scopes=installation.bot_scopes,
        bot_refresh_token=installation.bot_refresh_token, bot_token_expires_at=installation.bot_token_expires_at,
        user_id=installation.installer_user_id or "", is_enterprise_install=installation.is_enterprise_install,
        installed_at=installation.installed_at.timestamp() if installation.installed_at else None,
    )  # fmt: skip


def _reason(error: BaseException) -> str:
    if isinstance(error, SlackTokenRotationError):
        api_error = error.api_error
        return str(api_error.response.get("error", "unknown_error")) if api_error else "unknown_error"
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown_error"))
    return type(error).__name__
