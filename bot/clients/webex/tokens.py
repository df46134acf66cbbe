"""The Webex access token the bot uses: renewed with the refresh token before it expires and after a 401,
and kept in a token store so a restarted bot carries on with the newest one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.clients.errors import AuthenticationFailed, UpstreamError
from bot.clients.webex.transport import WebexTransport
from bot.metrics.registry import upstream_call
from bot.models import WebexTokens
from bot.redaction import SecretRedactor, redact_url

logger = logging.getLogger(__name__)

# Webex access tokens live for days; renewing a few minutes early means no request races the expiry.
_RENEW_BEFORE_EXPIRY = timedelta(minutes=5)
# Used only when the token endpoint omits expires_in, so the bot renews soon rather than never.
_ASSUMED_TOKEN_LIFETIME_SECONDS = 3600
# Webex access tokens live 14 days; a lifetime past a year is not one Webex gave.
_MAX_TOKEN_LIFETIME_SECONDS = 366 * 24 * 3600


@dataclass(frozen=True)
class WebexRefreshCredentials:
    """What the token endpoint needs to issue a new access token (integration or Service App)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


class WebexTokenStore(Protocol):
    """Where renewed tokens survive a restart (the database implements it in production)."""

    def load(self) -> WebexTokens | None: ...

    def save(self, tokens: WebexTokens) -> None: ...


class InMemoryWebexTokenStore:
    """A `WebexTokenStore` for tests and the demo; `saved` lists every save in order."""

    def __init__(self, tokens: WebexTokens | None = None) -> None:
        self._lock = threading.Lock()
        self._tokens = tokens
        self._saved: list[WebexTokens] = []

    def load(self) -> WebexTokens | None:
        with self._lock:
            return self._tokens

    def save(self, tokens: WebexTokens) -> None:
        with self._lock:
            self._tokens = tokens
            self._saved.append(tokens)

    @property
    def saved(self) -> list[WebexTokens]:
        with self._lock:
            return list(self._saved)


class WebexTokenKeeper:
    """Holds the current access token. Renewal happens under one lock, so concurrent callers wait for the
    one new token instead of each spending the refresh token."""

    def __init__(
        self,
        *,
        transport: WebexTransport,
        access_token: str,
        refresh: WebexRefreshCredentials | None,
        store: WebexTokenStore | None,
        redactor: SecretRedactor,
        clock: Callable[[], datetime],
    ) -> None:
        self._transport = transport
        self._refresh = refresh
        self._store = store
        self._redactor = redactor
        self._clock = clock
        self._redactor.add(access_token)
        if refresh is not None:
            self._redactor.add(refresh.client_secret, refresh.refresh_token)
        self._lock = threading.Lock()
        self._access_token = access_token
        self._refresh_token: str | None = refresh.refresh_token if refresh else None
        self._expires_at: datetime | None = None
        stored = store.load() if store is not None else None
        if stored is not None:
            self._adopt_stored(stored)
        elif not access_token.strip() and refresh is not None:
            # Configured with a refresh token only: get an access token before the first call.
            self._expires_at = clock()

    @property
    def can_renew(self) -> bool:
        return self._refresh is not None

    def current(self) -> str:
        """The token to send now, renewed first if it is about to expire."""
        with self._lock:
            if (
                self._refresh is not None
                and self._expires_at is not None
                and self._expires_at - self._clock() <= _RENEW_BEFORE_EXPIRY
            ):
                try:
                    self._renew_locked("the access token expires soon")
                except UpstreamError as exc:
                    if self._expires_at > self._clock():
                        # Still valid for a few minutes: use it, and try renewing again on the next call.
                        logger.warning("could not renew the Webex access token early: %s", exc.user_message())
                    else:
                        raise
            return self._access_token

    def renew_after_rejection(self, rejected_token: str) -> None:
        with self._lock:
            if self._access_token != rejected_token:
                return  # another thread renewed it while this request was in flight
            self._renew_locked("Webex rejected the access token")

    def _adopt_newer_stored(self) -> bool:
        """Another instance sharing the token store may have renewed already (and spent the refresh token
        this one holds): use its fresh token instead of renewing again."""
        if self._store is None:
            return False
        try:
            stored = self._store.load()
        except Exception:
            logger.warning("could not read the stored Webex tokens; renewing", exc_info=True)
            return False
        if stored is None or stored.access_token == self._access_token:
            return False
        expires_at = stored.expires_at if stored.expires_at.tzinfo else stored.expires_at.replace(tzinfo=UTC)
        if expires_at - self._clock() <= _RENEW_BEFORE_EXPIRY:
            return False
        self._redactor.add(stored.access_token, stored.refresh_token)
        self._access_token = stored.access_token
        self._refresh_token = stored.refresh_token
        self._expires_at = expires_at
        logger.info("using the Webex access token another instance renewed; valid until %s", expires_at.isoformat())
        return True

    def _adopt_stored(self, stored: WebexTokens) -> None:
        expires_at = stored.expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        self._redactor.add(stored.access_token, stored.refresh_token)
        if self._refresh is None and expires_at <= self._clock():
            # Nothing can renew an expired stored token; the configured one may be fresher.
            logger.info("stored Webex token has expired and no refresh is configured; using WEBEX_ACCESS_TOKEN")
            return
        self._access_token = stored.access_token
        if stored.refresh_token:
            self._refresh_token = stored.refresh_token
        self._expires_at = expires_at

    def _renew_locked(self, reason: str) -> None:
        if self._adopt_newer_stored():
            return
        refresh = self._refresh
        assert refresh is not None and self._refresh_token is not None
        candidates = [self._refresh_token]
        if refresh.refresh_token not in candidates:
            # An admin may have re-authorized and put a new refresh token in the environment.
            candidates.append(refresh.refresh_token)
        try:
            tokens = self._request_tokens(refresh, candidates[0])
        except AuthenticationFailed:
            if len(candidates) == 1:
                raise
            logger.warning("Webex refused the stored refresh token; trying the configured one")
            tokens = self._request_tokens(refresh, candidates[1])
        self._access_token = tokens.access_token
        self._refresh_token = tokens.refresh_token
        self._expires_at = tokens.expires_at
        logger.info("Webex access token renewed (%s); valid until %s", reason, tokens.expires_at.isoformat())
        if self._store is not None:
            try:
                self._store.save(tokens)
            except Exception:
                # The new token works in memory; losing it only costs one renewal after a restart.
                logger.exception("could not save the renewed Webex tokens; they will be renewed again")

    def _request_tokens(self, refresh: WebexRefreshCredentials, refresh_token: str) -> WebexTokens:
        with upstream_call("webex", "refresh_token"):
            return self._request_tokens_once(refresh, refresh_token)

    def _request_tokens_once(self, refresh: WebexRefreshCredentials, refresh_token: str) -> WebexTokens:
        transport = self._transport
        response = transport.exchange(
            "POST",
            transport.url("/access_token"),
            data={
                "grant_type": "refresh_token",
                "client_id": refresh.client_id,
                "client_secret": refresh.client_secret,
                "refresh_token": refresh_token,
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code in (400, 401):
            raise transport.error(
                AuthenticationFailed,
                f"Webex refused to renew the access token (HTTP {response.status_code}) — the refresh token "
                "or client credentials are wrong or expired; an admin must re-authorize the integration "
                "and update WEBEX_REFRESH_TOKEN",
                response,
                transport.upstream_said(response),
            )
        if not response.is_success:
            where = redact_url(transport.url("/access_token"))
            transport.raise_for_status(
                response, not_found=f"Webex has no token endpoint at {where} — check WEBEX_API_URL", renewed=False
            )
        # A token answer the bot cannot read may still hold tokens the redactor does not know yet.
        payload = transport.json_object(response, secret_body=True)
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise transport.bad_response("Webex renewed the token but sent no access_token", response, with_body=False)
        # Register before anything else can log or raise with the new values in it.
        new_refresh = payload.get("refresh_token")
        new_refresh = new_refresh if isinstance(new_refresh, str) and new_refresh else refresh_token
        self._redactor.add(access_token, new_refresh)
        expires_in = payload.get("expires_in")
        # JSON also carries NaN, Infinity and 1e300, which no datetime can add.
        if (
            not isinstance(expires_in, int | float)
            or isinstance(expires_in, bool)
            or not 0 < expires_in <= _MAX_TOKEN_LIFETIME_SECONDS
        ):
            logger.warning("Webex token answer has no usable expires_in; assuming one hour")
            expires_in = _ASSUMED_TOKEN_LIFETIME_SECONDS
        return WebexTokens(
            access_token=access_token,
            refresh_token=new_refresh,
            expires_at=self._clock() + timedelta(seconds=float(expires_in)),
        )
