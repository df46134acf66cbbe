"""Webex Calling admin API client: virtual lines and their call-recording settings (read-only)."""

from __future__ import annotations

import base64
import binascii
import enum
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, Protocol
from urllib.parse import quote

import httpx
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from bot import redaction
from bot.clients.errors import (
    AuthenticationFailed,
    NotFound,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnreachable,
)
from bot.models import WebexTokens
from bot.redaction import SecretRedactor, redact_url

__all__ = [
    "DEFAULT_BASE_URL",
    "PAUSABLE_MODES",
    "SYSTEM_NAME",
    "CallRecordingSettings",
    "InMemoryWebexTokenStore",
    "LineLocation",
    "LineNumber",
    "RecordMode",
    "RecordingNotification",
    "RecordingRepeat",
    "SelectiveCallRecording",
    "StartStopAnnouncement",
    "VirtualLine",
    "WebexClient",
    "WebexRefreshCredentials",
    "WebexTokenStore",
    "WebexTokens",
]

SYSTEM_NAME = "Webex"
DEFAULT_BASE_URL = "https://webexapis.com/v1"

logger = logging.getLogger(__name__)

_VIRTUAL_LINES_PATH = "/telephony/config/virtualLines"
_RETRY_AFTER_STATUSES = frozenset({423, 429})
_BACKOFF_STATUSES = frozenset({502, 503, 504})
_DEFAULT_RETRY_AFTER_SECONDS = 1.0
_FIRST_BACKOFF_SECONDS = 0.5
# Webex access tokens live for days; renewing a few minutes early means no request races the expiry.
_RENEW_BEFORE_EXPIRY = timedelta(minutes=5)
# Used only when the token endpoint omits expires_in, so the bot renews soon rather than never.
_ASSUMED_TOKEN_LIFETIME_SECONDS = 3600
_MAX_DETAIL_CHARS = 2000
_MAX_UPSTREAM_MESSAGE_CHARS = 300
_LIST_CACHE_KEY = "virtual-lines"

_MSG_UNAUTHORIZED = (
    "the Webex access token is invalid or expired — an admin must renew WEBEX_ACCESS_TOKEN "
    "(or configure WEBEX_REFRESH_TOKEN)"
)
_MSG_UNAUTHORIZED_AFTER_RENEWAL = (
    "Webex rejected the access token even after renewing it with the refresh token — an admin must "
    "re-authorize the integration and update WEBEX_REFRESH_TOKEN"
)
_MSG_FORBIDDEN = "the token lacks the spark-admin:telephony_config_read scope or an admin role"
_MSG_NO_LINE = "no such virtual line"


# -- models --------------------------------------------------------------------------------------


class _WebexModel(BaseModel):
    # Webex adds fields in newer API versions and omits unset ones: ignore the unknown, default the rest.
    # Frozen because the client hands the same cached objects to several threads.
    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=True,
        coerce_numbers_to_str=True,
    )


class RecordMode(enum.StrEnum):
    """The `record` values Webex documents; the model keeps any other (newer) value as a plain string."""

    ALWAYS = "Always"
    NEVER = "Never"
    ALWAYS_WITH_PAUSE_RESUME = "Always with Pause/Resume"
    ON_DEMAND = "On Demand with User Initiated Start"


PAUSABLE_MODES = frozenset({RecordMode.ALWAYS_WITH_PAUSE_RESUME, RecordMode.ON_DEMAND})


class LineNumber(_WebexModel):
    """`number` of a virtual line. Webex sends `primary` as a boolean; a string is kept too (see docs)."""

    extension: str | None = None
    external: str | None = None
    primary: bool | str | None = None
    esn: str | None = None


class LineLocation(_WebexModel):
    id: str | None = None
    name: str | None = None


class VirtualLine(_WebexModel):
    """One entry of `GET /telephony/config/virtualLines`."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    number: LineNumber | None = None
    location: LineLocation | None = None

    @property
    def name(self) -> str:
        """What people call the line: the display name, else "First Last", else a placeholder."""
        if self.display_name and self.display_name.strip():
            return self.display_name.strip()
        full = " ".join(part.strip() for part in (self.first_name, self.last_name) if part and part.strip())
        return full or "unnamed virtual line"

    @property
    def extension(self) -> str | None:
        return self.number.extension if self.number else None

    @property
    def phone_number(self) -> str | None:
        """The E.164 number, if the line has one."""
        if self.number is None:
            return None
        if self.number.external:
            return self.number.external
        return self.number.primary if isinstance(self.number.primary, str) else None

    @property
    def location_name(self) -> str | None:
        return self.location.name if self.location else None


class RecordingNotification(_WebexModel):
    """Pause/resume notification: `type` is None, Beep or Play Announcement."""

    type: str | None = None
    enabled: bool | None = None


class RecordingRepeat(_WebexModel):
    """The periodic "this call is recorded" tone."""

    interval: int | None = None
    enabled: bool | None = None


class StartStopAnnouncement(_WebexModel):
    internal_calls_enabled: bool | None = None
    pstn_calls_enabled: bool | None = None


class SelectiveCallRecording(_WebexModel):
    record_inbound_internal_calls_enabled: bool | None = None
    record_outbound_internal_calls_enabled: bool | None = None
    record_inbound_external_calls_enabled: bool | None = None
    record_outbound_external_calls_enabled: bool | None = None


class CallRecordingSettings(_WebexModel):
    """`GET /telephony/config/virtualLines/{id}/callRecording`; None means Webex did not send it."""

    enabled: bool | None = None
    record: str | None = None
    record_voicemail_enabled: bool | None = None
    notification: RecordingNotification | None = None
    repeat: RecordingRepeat | None = None
    service_provider: str | None = None
    external_group: str | None = None
    external_identifier: str | None = None
    start_stop_announcement: StartStopAnnouncement | None = None
    selective_call_recording_settings: SelectiveCallRecording | None = None

    @property
    def pause_available(self) -> bool | None:
        """Whether a user can pause and resume recordings on this line; None when the settings don't say."""
        if self.enabled is False:
            return False
        if self.record in (RecordMode.ALWAYS, RecordMode.NEVER):
            return False
        if self.record in PAUSABLE_MODES:
            return True
        return None


# -- tokens --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebexRefreshCredentials:
    """What the token endpoint needs to issue a new access token (integration or Service App)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


class WebexTokenStore(Protocol):
    """Where renewed tokens survive a restart (the SQLite store implements it in production)."""

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


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- query parsing -------------------------------------------------------------------------------

# Webex IDs are unpadded base64 of "ciscospark://<region>/VIRTUAL_LINE/<uuid>", about 80 characters.
_WEBEX_ID = re.compile(r"^[A-Za-z0-9+/=_-]{40,}$")
_WEBEX_ID_PREFIX = "Y2lzY29"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
# Slack turns phone numbers typed in messages into <tel:+1415…|+1 415 …> links.
_SLACK_TEL_LINK = re.compile(r"^<tel:([^|>]+)(?:\|[^>]*)?>$")


def _decoded_id(webex_id: str) -> str | None:
    padded = webex_id + "=" * (-len(webex_id) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return decode(padded).decode("utf-8")
        except (binascii.Error, ValueError):
            continue
    return None


def _fold(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


# -- the client ----------------------------------------------------------------------------------


class _LineIndex:
    """The line list with lookup tables, built once per fetch: a lookup costs a dict access, not a scan."""

    def __init__(self, lines: tuple[VirtualLine, ...]) -> None:
        self.lines = lines
        self._extension: dict[str, list[VirtualLine]] = {}
        self._number: dict[str, list[VirtualLine]] = {}
        self._id: dict[str, list[VirtualLine]] = {}
        self._uuid: dict[str, list[VirtualLine]] = {}
        self._full_name: dict[str, list[VirtualLine]] = {}
        self._any_name: dict[str, list[VirtualLine]] = {}
        for line in lines:
            self._id.setdefault(line.id, []).append(line)
            decoded = (_decoded_id(line.id) or "").lower()
            if "/" in decoded:
                self._uuid.setdefault(decoded.rsplit("/", 1)[1], []).append(line)
            if line.number is not None:
                for extension in {line.number.extension, line.number.esn} - {None}:
                    self._extension.setdefault(str(extension), []).append(line)
            for number in _numbers_of(line):
                self._number.setdefault(number, []).append(line)
            full_names = {_fold(f"{line.first_name or ''} {line.last_name or ''}"), _fold(line.display_name)}
            for name in full_names:
                self._full_name.setdefault(name, []).append(line)
            for name in full_names | {_fold(line.first_name), _fold(line.last_name)}:
                self._any_name.setdefault(name, []).append(line)

    def by_extension(self, extension: str) -> list[VirtualLine]:
        return list(self._extension.get(extension, ()))

    def by_number(self, number: str) -> list[VirtualLine]:
        return list(self._number.get(number, ()))

    def by_id(self, line_id: str) -> list[VirtualLine]:
        return list(self._id.get(line_id, ()))

    def by_uuid(self, uuid: str) -> list[VirtualLine]:
        return list(self._uuid.get(uuid, ()))

    def by_full_name(self, folded: str) -> list[VirtualLine]:
        return _unique(self._full_name.get(folded, []))

    def by_any_name(self, folded: str) -> list[VirtualLine]:
        return _unique(self._any_name.get(folded, []))


def _unique(lines: list[VirtualLine]) -> list[VirtualLine]:
    """Keep list order, drop repeats (a line can match by more than one key)."""
    unique: list[VirtualLine] = []
    for line in lines:
        if not any(line is kept for kept in unique):
            unique.append(line)
    return unique


class WebexClient:
    """Reads virtual lines and their call-recording settings; thread-safe, one instance per process."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        org_id: str | None = None,
        refresh: WebexRefreshCredentials | None = None,
        token_store: WebexTokenStore | None = None,
        redactor: SecretRedactor = redaction.redactor,
        clock: Callable[[], datetime] = _utcnow,
        max_pages: int = 50,
        page_size: int = 100,
        list_cache_seconds: float = 300,
        settings_cache_seconds: float = 30,
        max_retries: int = 3,
        max_retry_after_seconds: float = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._base = httpx.URL(self._base_url)
        self._org_id = org_id
        self._refresh = refresh
        self._token_store = token_store
        self._redactor = redactor
        self._clock = clock
        self._max_pages = max(1, max_pages)
        self._page_size = max(1, page_size)
        self._max_retries = max(0, max_retries)
        self._max_retry_after = max(0.0, max_retry_after_seconds)
        self._sleep = sleep

        self._redactor.add(access_token)
        if refresh is not None:
            self._redactor.add(refresh.client_secret, refresh.refresh_token)

        # Everything about the current token is guarded by this lock; renewal happens while holding it,
        # so concurrent callers wait for the one new token instead of each spending the refresh token.
        self._token_lock = threading.Lock()
        self._access_token = access_token
        self._refresh_token: str | None = refresh.refresh_token if refresh else None
        self._expires_at: datetime | None = None
        stored = token_store.load() if token_store is not None else None
        if stored is not None:
            self._adopt_stored_tokens(stored)
        elif not access_token.strip() and refresh is not None:
            # Configured with a refresh token only: get an access token before the first call.
            self._expires_at = clock()

        self._cache_lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._list_cache: TTLCache[str, _LineIndex] | None = (
            TTLCache(maxsize=1, ttl=list_cache_seconds, timer=self._timer) if list_cache_seconds > 0 else None
        )
        self._settings_cache: TTLCache[str, CallRecordingSettings] | None = (
            TTLCache(maxsize=4096, ttl=settings_cache_seconds, timer=self._timer)
            if settings_cache_seconds > 0
            else None
        )

    # -- public API ------------------------------------------------------------------------------

    def list_virtual_lines(self) -> list[VirtualLine]:
        """All virtual lines of the organization (cached for `list_cache_seconds`)."""
        return list(self._line_index().lines)

    def _line_index(self) -> _LineIndex:
        with self._cache_lock:
            cached = self._list_cache.get(_LIST_CACHE_KEY) if self._list_cache is not None else None
        if cached is not None:
            return cached
        # One fetch at a time: requests arriving while the list is cold wait for it instead of each
        # paging through the whole list again.
        with self._fetch_lock:
            with self._cache_lock:
                cached = self._list_cache.get(_LIST_CACHE_KEY) if self._list_cache is not None else None
            if cached is not None:
                return cached
            index = _LineIndex(tuple(self._fetch_all_lines()))
            if self._list_cache is not None:
                with self._cache_lock:
                    self._list_cache[_LIST_CACHE_KEY] = index
            return index

    def get_call_recording(self, virtual_line_id: str) -> CallRecordingSettings:
        """The call-recording settings of one virtual line (cached for `settings_cache_seconds`)."""
        line_id = virtual_line_id.strip()
        if not line_id:
            raise NotFound(_MSG_NO_LINE, system=SYSTEM_NAME)
        with self._cache_lock:
            cached = self._settings_cache.get(line_id) if self._settings_cache is not None else None
        if cached is not None:
            return cached
        # Quoted as one path segment: the ID may come from a Slack user and must not add path parts.
        url = self._url(f"{_VIRTUAL_LINES_PATH}/{_quote_segment(line_id)}/callRecording")
        payload, response = self._get_json(url, params=None, not_found=_MSG_NO_LINE)
        try:
            settings = CallRecordingSettings.model_validate(payload)
        except ValidationError as exc:
            raise self._bad_response(
                "Webex sent call-recording settings in a shape the bot cannot read", response, exc
            ) from None
        if self._settings_cache is not None:
            with self._cache_lock:
                self._settings_cache[line_id] = settings
        return settings

    def find_virtual_lines(self, query: str) -> list[VirtualLine]:
        """Lines matching a Webex ID, an extension, an E.164 number or an owner name ("First Last")."""
        text = query.strip().strip("`'\"“”").strip()
        tel = _SLACK_TEL_LINK.match(text)
        if tel:
            text = tel.group(1).strip()
        if not text:
            return []
        index = self._line_index()

        phone = _PHONE_PUNCTUATION.sub("", text)
        if text.startswith("+") and _E164.match(phone):
            return index.by_number(phone)
        if _DIGITS.match(phone) and (text == phone or len(phone) > 6):
            # An extension; a long run of digits may also be an E.164 number typed without its "+".
            return _unique(index.by_extension(phone) + index.by_number(f"+{phone}"))
        if _UUID.match(text):
            # Control Hub shows the bare UUID that the opaque ID encodes.
            return index.by_uuid(text.lower())
        if text.startswith(_WEBEX_ID_PREFIX) or _WEBEX_ID.match(text):
            return index.by_id(text)
        wanted = _fold(text)
        return index.by_full_name(wanted) if " " in wanted else index.by_any_name(wanted)

    def verify(self) -> str:
        """A deployment check: reads one virtual line with the configured token; raises UpstreamError."""
        payload, response = self._get_json(
            self._url(_VIRTUAL_LINES_PATH), params={"max": "1"}, not_found=self._msg_no_list()
        )
        items = payload.get("virtualLines")
        if not isinstance(items, list):
            raise self._bad_response("Webex sent a virtual-line list without `virtualLines`", response)
        return f"token works; can read virtual lines ({len(items)} on the first page)"

    def clear_cache(self) -> None:
        """Forget cached lists and settings (after an admin changed something in Control Hub)."""
        with self._cache_lock:
            if self._list_cache is not None:
                self._list_cache.clear()
            if self._settings_cache is not None:
                self._settings_cache.clear()

    # -- listing ---------------------------------------------------------------------------------

    def _fetch_all_lines(self) -> list[VirtualLine]:
        url = self._url(_VIRTUAL_LINES_PATH)
        params: dict[str, str] | None = {"max": str(self._page_size)}
        lines: list[VirtualLine] = []
        visited: set[str] = set()
        for _page in range(self._max_pages):
            payload, response = self._get_json(url, params=params, not_found=self._msg_no_list())
            items = payload.get("virtualLines")
            if not isinstance(items, list):
                raise self._bad_response("Webex sent a virtual-line list without `virtualLines`", response)
            lines.extend(self._parse_lines(items))
            visited.add(str(response.request.url))
            next_url = self._next_page_url(response)
            if next_url is None or next_url in visited:
                break
            # The next link carries start/max (and the filters) itself.
            url, params = next_url, None
        else:
            logger.warning(
                "Webex lists more than %d pages of virtual lines; only the first %d lines were read",
                self._max_pages,
                len(lines),
            )
        return lines

    def _parse_lines(self, items: list[Any]) -> list[VirtualLine]:
        lines = []
        for index, item in enumerate(items):
            try:
                lines.append(VirtualLine.model_validate(item))
            except ValidationError as exc:
                # One odd entry must not hide every other line from lookups.
                logger.warning(
                    "skipping virtual line #%d that Webex sent in an unreadable shape: %s",
                    index,
                    self._redactor(str(exc))[:_MAX_DETAIL_CHARS],
                )
        return lines

    def _next_page_url(self, response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        next_url = response.request.url.join(link)
        # The bearer token goes with the request: never follow a link to another host.
        if (next_url.scheme, next_url.host, next_url.port) != (
            self._base.scheme,
            self._base.host,
            self._base.port,
        ):
            raise self._bad_response("Webex sent a next-page link to another host; the bot did not follow it", response)
        return str(next_url)

    def _msg_no_list(self) -> str:
        return f"Webex has no virtual-line list at {redact_url(self._base_url)} — check WEBEX_API_URL"

    # -- requests --------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self._base_url}{path}"

    def _get_json(
        self, url: str, *, params: dict[str, str] | None, not_found: str
    ) -> tuple[dict[str, Any], httpx.Response]:
        """GET with bearer auth, one renewal on 401, retries; returns the JSON object of a 2xx answer."""
        merged = dict(params or {})
        if self._org_id and "orgId" not in httpx.URL(url).params:
            merged["orgId"] = self._org_id
        renewed = False
        while True:
            token = self._token_for_request()
            response = self._exchange("GET", url, params=merged or None, headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 401 and self._refresh is not None and not renewed:
                renewed = True
                self._renew_after_rejection(token)
                continue
            if response.is_success:
                return self._json_object(response), response
            self._raise_for_status(response, not_found=not_found, renewed=renewed)

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request plus the bounded retries for 429/423/502/503/504; returns the last answer."""
        attempt = 0
        while True:
            response = self._send(method, url, params=params, data=data, headers=headers)
            status = response.status_code
            retryable = status in _RETRY_AFTER_STATUSES or status in _BACKOFF_STATUSES
            if not retryable or attempt >= self._max_retries:
                return response
            wait = self._retry_wait(response, attempt)
            logger.info(
                "Webex answered HTTP %d; retry %d of %d in %.1f s",
                status,
                attempt + 1,
                self._max_retries,
                wait,
            )
            self._sleep(wait)
            attempt += 1

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        full_url = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
        shown_url = redact_url(str(full_url))
        started = time.perf_counter()
        try:
            response = self._http.request(method, url, params=params, data=data, headers=headers)
            # Read now so a body that stalls counts as a timeout here, not somewhere later.
            response.read()
        except httpx.TimeoutException as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.warning("Webex %s %s timed out after %.0f ms", method, shown_url, elapsed_ms)
            raise UpstreamUnreachable(
                "Webex did not answer in time — it may be slow or unreachable; try again in a minute",
                system=SYSTEM_NAME,
                detail=self._redactor(f"{type(exc).__name__} after {elapsed_ms:.0f} ms: {method} {shown_url}"),
            ) from None
        except httpx.HTTPError as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            reason = self._redactor(str(exc)) or type(exc).__name__
            logger.warning("Webex %s %s failed after %.0f ms: %s", method, shown_url, elapsed_ms, reason)
            raise UpstreamUnreachable(
                f"Webex did not answer ({type(exc).__name__}) — check the network path to {self._base.host or 'Webex'}",
                system=SYSTEM_NAME,
                detail=self._redactor(f"{type(exc).__name__}: {reason}: {method} {shown_url}"),
            ) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "Webex %s %s -> %d in %.0f ms (trackingid %s)",
            method,
            shown_url,
            response.status_code,
            elapsed_ms,
            _tracking_id(response) or "-",
        )
        return response

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        wait = self._parse_retry_after(header) if header else None
        if wait is None:
            if response.status_code in _RETRY_AFTER_STATUSES:
                wait = _DEFAULT_RETRY_AFTER_SECONDS
            else:
                wait = _FIRST_BACKOFF_SECONDS * (2**attempt)
        return min(max(wait, 0.0), self._max_retry_after)

    def _parse_retry_after(self, header: str) -> float | None:
        value = header.strip()
        try:
            return float(value)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - self._clock()).total_seconds()

    # -- answers ---------------------------------------------------------------------------------

    def _json_object(self, response: httpx.Response, *, secret_body: bool = False) -> dict[str, Any]:
        """The JSON object in a 2xx answer; `secret_body` keeps a token answer's body out of `detail`."""
        text = response.text
        problem: str | None = None
        payload: Any = None
        if not text.strip():
            problem = "Webex sent an empty answer where JSON was expected"
        elif "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<"):
            problem = "Webex sent a web page instead of JSON — a proxy or sign-in page may be in the way"
        else:
            try:
                payload = json.loads(text)
            except ValueError:
                problem = "Webex sent malformed JSON"
            else:
                if not isinstance(payload, dict):
                    problem = "Webex sent JSON of an unexpected shape (not an object)"
        if problem is not None:
            raise self._bad_response(problem, response, with_body=not secret_body)
        assert isinstance(payload, dict)
        return payload

    def _raise_for_status(self, response: httpx.Response, *, not_found: str, renewed: bool) -> NoReturn:
        status = response.status_code
        said = self._upstream_said(response)
        if status == 401:
            message = _MSG_UNAUTHORIZED_AFTER_RENEWAL if renewed else _MSG_UNAUTHORIZED
            raise self._error(AuthenticationFailed, message, response, said)
        if status == 403:
            raise self._error(AuthenticationFailed, _MSG_FORBIDDEN, response, said)
        if status == 404:
            raise self._error(NotFound, not_found, response, said)
        if status in _RETRY_AFTER_STATUSES:
            what = "is rate-limiting the bot" if status == 429 else "reports the resource as locked"
            raise self._error(
                RateLimited,
                f"Webex {what} (HTTP {status}) and still did after {self._max_retries} retries — try again in a minute",
                response,
                said,
            )
        if status >= 500:
            retried = f", still after {self._max_retries} retries" if status in _BACKOFF_STATUSES else ""
            raise self._error(
                UpstreamUnreachable,
                f"Webex is not working right now (HTTP {status}{retried}) — try again later",
                response,
                said,
            )
        if 300 <= status < 400:
            # httpx does not follow redirects; Webex's API does not send them, proxies and wrong URLs do.
            raise self._bad_response(
                f"Webex answered with a redirect (HTTP {status}) — check WEBEX_API_URL and any proxy in between",
                response,
            )
        raise self._error(UpstreamRejected, f"Webex refused the request (HTTP {status})", response, said)

    def _error(
        self, kind: type[UpstreamError], message: str, response: httpx.Response, said: str | None
    ) -> UpstreamError:
        if said:
            message = f"{message} (Webex said: “{said}”)"
        return kind(
            self._redactor(message),
            system=SYSTEM_NAME,
            tracking_id=_tracking_id(response),
            detail=self._detail(response),
            status_code=response.status_code,
        )

    def _bad_response(
        self,
        message: str,
        response: httpx.Response,
        cause: Exception | None = None,
        *,
        with_body: bool = True,
    ) -> UpstreamBadResponse:
        detail = self._detail(response, with_body=with_body)
        if cause is not None:
            detail = f"{detail}\n{self._redactor(str(cause))[:_MAX_DETAIL_CHARS]}"
        return UpstreamBadResponse(
            message,
            system=SYSTEM_NAME,
            tracking_id=_tracking_id(response),
            detail=detail,
            status_code=response.status_code,
        )

    def _detail(self, response: httpx.Response, *, with_body: bool = True) -> str:
        body = response.text[:_MAX_DETAIL_CHARS] if with_body else f"({len(response.content)} bytes not kept)"
        return self._redactor(
            f"HTTP {response.status_code} {response.request.method} {redact_url(str(response.request.url))}: {body}"
        )

    def _upstream_said(self, response: httpx.Response) -> str | None:
        """Webex's own explanation, from whichever of its error-body shapes is present."""
        body = _error_body(response)
        if body is None:
            return None
        parts: list[str] = []
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
        errors = body.get("errors")
        if isinstance(errors, list):
            for item in errors:
                description = item.get("description") if isinstance(item, dict) else None
                if isinstance(description, str) and description.strip() and description.strip() not in parts:
                    parts.append(description.strip())
        if not parts:
            return None
        said = "; ".join(parts)
        if len(said) > _MAX_UPSTREAM_MESSAGE_CHARS:
            said = said[: _MAX_UPSTREAM_MESSAGE_CHARS - 1] + "…"
        return self._redactor(said)

    # -- tokens ----------------------------------------------------------------------------------

    def _adopt_stored_tokens(self, stored: WebexTokens) -> None:
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

    def _token_for_request(self) -> str:
        with self._token_lock:
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

    def _renew_after_rejection(self, rejected_token: str) -> None:
        with self._token_lock:
            if self._access_token != rejected_token:
                return  # another thread renewed it while this request was in flight
            self._renew_locked("Webex rejected the access token")

    def _renew_locked(self, reason: str) -> None:
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
        if self._token_store is not None:
            try:
                self._token_store.save(tokens)
            except Exception:
                # The new token works in memory; losing it only costs one renewal after a restart.
                logger.exception("could not save the renewed Webex tokens; they will be renewed again")

    def _request_tokens(self, refresh: WebexRefreshCredentials, refresh_token: str) -> WebexTokens:
        response = self._exchange(
            "POST",
            self._url("/access_token"),
            data={
                "grant_type": "refresh_token",
                "client_id": refresh.client_id,
                "client_secret": refresh.client_secret,
                "refresh_token": refresh_token,
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code in (400, 401):
            raise self._error(
                AuthenticationFailed,
                f"Webex refused to renew the access token (HTTP {response.status_code}) — the refresh token "
                "or client credentials are wrong or expired; an admin must re-authorize the integration "
                "and update WEBEX_REFRESH_TOKEN",
                response,
                self._upstream_said(response),
            )
        if not response.is_success:
            self._raise_for_status(response, not_found=self._msg_no_token_endpoint(), renewed=False)
        # A token answer the bot cannot read may still hold tokens the redactor does not know yet.
        payload = self._json_object(response, secret_body=True)
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise self._bad_response("Webex renewed the token but sent no access_token", response, with_body=False)
        # Register before anything else can log or raise with the new values in it.
        new_refresh = payload.get("refresh_token")
        new_refresh = new_refresh if isinstance(new_refresh, str) and new_refresh else refresh_token
        self._redactor.add(access_token, new_refresh)
        expires_in = payload.get("expires_in")
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            logger.warning("Webex token answer has no usable expires_in; assuming one hour")
            expires_in = _ASSUMED_TOKEN_LIFETIME_SECONDS
        return WebexTokens(
            access_token=access_token,
            refresh_token=new_refresh,
            expires_at=self._clock() + timedelta(seconds=float(expires_in)),
        )

    def _msg_no_token_endpoint(self) -> str:
        where = redact_url(f"{self._base_url}/access_token")
        return f"Webex has no token endpoint at {where} — check WEBEX_API_URL"

    def _timer(self) -> float:
        # Cache ages follow the injected clock, so tests can age entries without waiting.
        return self._clock().timestamp()


def _quote_segment(value: str) -> str:
    return quote(value, safe="")


def _numbers_of(line: VirtualLine) -> set[str]:
    if line.number is None:
        return set()
    numbers = {line.number.external} if line.number.external else set()
    if isinstance(line.number.primary, str) and line.number.primary:
        numbers.add(line.number.primary)
    return {_PHONE_PUNCTUATION.sub("", number) for number in numbers}


def _tracking_id(response: httpx.Response) -> str | None:
    header = response.headers.get("trackingid")
    if isinstance(header, str) and header.strip():
        return header.strip()
    body = _error_body(response)
    value = body.get("trackingId") if body else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _error_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = json.loads(response.text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
