"""WebexClient: virtual lines and their call-recording settings, read-only, cached briefly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from cachetools import TTLCache
from pydantic import ValidationError

from bot import redaction
from bot.clients.errors import NotFound
from bot.clients.limits import DEFAULT_LIMITS, AnswerLimits
from bot.clients.webex.lines import LineIndex
from bot.clients.webex.tokens import WebexRefreshCredentials, WebexTokenKeeper, WebexTokenStore
from bot.clients.webex.transport import SYSTEM_NAME, WebexTransport
from bot.metrics.registry import upstream_call
from bot.models import CallRecordingSettings, VirtualLine
from bot.redaction import SecretRedactor, redact_url

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://webexapis.com/v1"

_VIRTUAL_LINES_PATH = "/telephony/config/virtualLines"
_PEOPLE_PATH = "/people"
_MAX_DETAIL_CHARS = 2000
_LIST_CACHE_KEY = "virtual-lines"
_MSG_NO_LINE = "no such virtual line"


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        answer_limits: AnswerLimits = DEFAULT_LIMITS,
    ) -> None:
        self._transport = WebexTransport(
            http=http,
            base_url=base_url,
            redactor=redactor,
            clock=clock,
            max_retries=max_retries,
            max_retry_after_seconds=max_retry_after_seconds,
            sleep=sleep,
            answer_limits=answer_limits,
        )
        self._tokens = WebexTokenKeeper(
            transport=self._transport,
            access_token=access_token,
            refresh=refresh,
            store=token_store,
            redactor=redactor,
            clock=clock,
        )
        self._org_id = org_id
        self._redactor = redactor
        self._clock = clock
        self._max_pages = max(1, max_pages)
        self._page_size = max(1, page_size)

        self._cache_lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._list_cache: TTLCache[str, LineIndex] | None = (
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

    def find_virtual_lines(self, query: str) -> list[VirtualLine]:
        """Lines matching a Webex ID, an extension, an E.164 number or an owner name ("First Last")."""
        if not query.strip():
            return []
        return self._line_index().find(query)

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
        url = self._transport.url(f"{_VIRTUAL_LINES_PATH}/{quote(line_id, safe='')}/callRecording")
        payload, response = self._get_json(
            url, params=None, not_found=_MSG_NO_LINE, operation="get_call_recording"
        )
        try:
            settings = CallRecordingSettings.model_validate(payload)
        except ValidationError as exc:
            raise self._transport.bad_response(
                "Webex sent call-recording settings in a shape the bot cannot read", response, exc
            ) from None
        if self._settings_cache is not None:
            with self._cache_lock:
                self._settings_cache[line_id] = settings
        return settings

    def extensions_of_people_with(self, email: str) -> list[str | None]:
        """The Webex Calling extension (None: they have none) of each person whose e-mail address is exactly
        this one, ignoring case (People API, `callingData`). Webex's search may answer with others too (an
        alias, a partial match): those are left out, so nobody is taken for someone else."""
        payload, response = self._get_json(
            self._transport.url(_PEOPLE_PATH),
            params={"email": email, "callingData": "true"},
            not_found="Webex has no People API at this address — check WEBEX_API_URL",
            operation="find_people",
        )
        items = payload.get("items")
        if not isinstance(items, list):
            raise self._transport.bad_response("Webex sent a people list without `items`", response)
        wanted = email.strip().casefold()
        found: list[str | None] = []
        for person in items:
            if not isinstance(person, dict):
                continue
            emails = person.get("emails")
            if not isinstance(emails, list) or not any(
                isinstance(e, str) and e.strip().casefold() == wanted for e in emails
            ):
                continue
            extension = str(person.get("extension") or "").strip()
            found.append(extension or None)
        return found

    def verify(self) -> str:
        """A deployment check: reads one virtual line with the configured token; raises UpstreamError."""
        payload, response = self._get_json(
            self._transport.url(_VIRTUAL_LINES_PATH), params={"max": "1"}, not_found=self._msg_no_list(),
            operation="verify",
        )
        items = payload.get("virtualLines")
        if not isinstance(items, list):
            raise self._transport.bad_response("Webex sent a virtual-line list without `virtualLines`", response)
        return f"token works; can read virtual lines ({len(items)} on the first page)"

    def clear_cache(self) -> None:
        """Forget cached lists and settings (after an admin changed something in Control Hub)."""
        with self._cache_lock:
            if self._list_cache is not None:
                self._list_cache.clear()
            if self._settings_cache is not None:
                self._settings_cache.clear()

    # -- listing ---------------------------------------------------------------------------------

    def _line_index(self) -> LineIndex:
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
            index = LineIndex(tuple(self._fetch_all_lines()))
            if self._list_cache is not None:
                with self._cache_lock:
                    self._list_cache[_LIST_CACHE_KEY] = index
            return index

    def _fetch_all_lines(self) -> list[VirtualLine]:
        url = self._transport.url(_VIRTUAL_LINES_PATH)
        params: dict[str, str] | None = {"max": str(self._page_size)}
        lines: list[VirtualLine] = []
        visited: set[str] = set()
        for _page in range(self._max_pages):
            payload, response = self._get_json(
                url, params=params, not_found=self._msg_no_list(), operation="list_lines"
            )
            items = payload.get("virtualLines")
            if not isinstance(items, list):
                raise self._transport.bad_response("Webex sent a virtual-line list without `virtualLines`", response)
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
        try:
            next_url = response.request.url.join(link)
        except httpx.InvalidURL:
            raise self._transport.bad_response(
                "Webex sent a next-page link that is not a valid URL; the bot did not follow it", response
            ) from None
        base = self._transport.base
        # The bearer token goes with the request: never follow a link to another host.
        if (next_url.scheme, next_url.host, next_url.port) != (base.scheme, base.host, base.port):
            raise self._transport.bad_response(
                "Webex sent a next-page link to another host; the bot did not follow it", response
            )
        return str(next_url)

    def _msg_no_list(self) -> str:
        return f"Webex has no virtual-line list at {redact_url(self._transport.base_url)} — check WEBEX_API_URL"

    # -- one authenticated GET -------------------------------------------------------------------

    def _get_json(
        self, url: str, *, params: dict[str, str] | None, not_found: str, operation: str
    ) -> tuple[dict[str, Any], httpx.Response]:
        """GET with bearer auth, one renewal on 401, retries; returns the JSON object of a 2xx answer.
        Counted and timed as `operation` (the metrics' name for it), renewal and retries included."""
        with upstream_call("webex", operation):
            return self._get_json_once(url, params=params, not_found=not_found)

    def _get_json_once(
        self, url: str, *, params: dict[str, str] | None, not_found: str
    ) -> tuple[dict[str, Any], httpx.Response]:
        merged = dict(params or {})
        if self._org_id and "orgId" not in httpx.URL(url).params:
            merged["orgId"] = self._org_id
        renewed = False
        while True:
            token = self._tokens.current()
            response = self._transport.exchange(
                "GET", url, params=merged or None, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code == 401 and self._tokens.can_renew and not renewed:
                renewed = True
                self._tokens.renew_after_rejection(token)
                continue
            if response.is_success:
                return self._transport.json_object(response), response
            self._transport.raise_for_status(response, not_found=not_found, renewed=renewed)

    def _timer(self) -> float:
        # Cache ages follow the injected clock, so tests can age entries without waiting.
        return self._clock().timestamp()
