"""WebexClient: lines (people, workspaces, virtual lines) and their call-recording settings, read-only, cached
briefly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from cachetools import TTLCache
from pydantic import BaseModel, ValidationError

from bot import redaction
from bot.clients.errors import NotFound, UpstreamError
from bot.clients.limits import DEFAULT_LIMITS, AnswerLimits
from bot.clients.webex.lines import LineIndex
from bot.clients.webex.owners import (
    Query,
    QueryKind,
    classify,
    fold,
    has_email,
    line_of_person,
    line_of_workspace,
    lines_of_numbers,
    person_named,
)
from bot.clients.webex.tokens import WebexRefreshCredentials, WebexTokenKeeper, WebexTokenStore
from bot.clients.webex.transport import SYSTEM_NAME, WebexTransport
from bot.metrics.registry import upstream_call
from bot.models import (
    CallRecordingSettings,
    Line,
    LineKind,
    NumberEntry,
    PersonRecordingSettings,
    VirtualLine,
    WebexPerson,
    WebexWorkspace,
)
from bot.redaction import SecretRedactor, redact_url

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://webexapis.com/v1"

_VIRTUAL_LINES_PATH = "/telephony/config/virtualLines"
_PEOPLE_PATH = "/people"
_WORKSPACES_PATH = "/workspaces"
_WORKSPACE_SETTINGS_PATH = "/telephony/config/workspaces"
_NUMBERS_PATH = "/telephony/config/numbers"
_MAX_DETAIL_CHARS = 2000
_LIST_CACHE_KEY = "virtual-lines"
_MSG_NO_LINE = "no such virtual line"
_MSG_NO_PERSON = "no such person"
_MSG_NO_WORKSPACE = "no such workspace with Webex Calling"
# Workspaces found by name get their numbers from the numbers API, one call each: at most this many.
_MAX_ENRICHED = 20

# The read scope each endpoint needs (webex-people-workspaces.md); a 403 names it.
SCOPE_PEOPLE_READ = "spark-admin:people_read"
SCOPE_WORKSPACES_READ = "spark-admin:workspaces_read"
SCOPE_TELEPHONY_READ = "spark-admin:telephony_config_read"
READ_SCOPES = (SCOPE_TELEPHONY_READ, SCOPE_PEOPLE_READ, SCOPE_WORKSPACES_READ)
_FORBIDDEN = {
    SCOPE_PEOPLE_READ: f"the token lacks the {SCOPE_PEOPLE_READ} scope or an admin role",
    SCOPE_TELEPHONY_READ: f"the token lacks the {SCOPE_TELEPHONY_READ} scope or an admin role",
    # Webex's Workspaces API (listing, details) has a scope of its own; the workspace's call-recording
    # settings are telephony configuration.
    SCOPE_WORKSPACES_READ: (
        f"the token lacks the {SCOPE_WORKSPACES_READ} scope (to find workspaces; their recording settings "
        f"need {SCOPE_TELEPHONY_READ}) or an admin role"
    ),
}


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
        # What a query found among people, workspaces and numbers, as long as the virtual-line list is kept.
        self._lookup_cache: TTLCache[Hashable, tuple[Line, ...]] | None = (
            TTLCache(maxsize=1024, ttl=list_cache_seconds, timer=self._timer) if list_cache_seconds > 0 else None
        )
        self._proven: set[str] = set()

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
        return self._settings(LineKind.VIRTUAL_LINE, virtual_line_id)

    def find_lines(self, query: str) -> list[Line]:
        """The lines (people, workspaces, virtual lines) `query` names: an extension or +E.164 number (whose
        owner the numbers API says), a person's e-mail address, a person's or workspace's display name or a
        virtual line's name, or a Webex ID of any of the three kinds. People first, then workspaces, then
        virtual lines. Cached for `list_cache_seconds`."""
        parsed = classify(query)
        if parsed is None:
            return []
        key = (parsed.kind, parsed.text if parsed.kind is not QueryKind.NAME else fold(parsed.text))
        with self._cache_lock:
            cached = self._lookup_cache.get(key) if self._lookup_cache is not None else None
        if cached is not None:
            return list(cached)
        found = _unique(self._find(parsed))
        if self._lookup_cache is not None:
            with self._cache_lock:
                self._lookup_cache[key] = tuple(found)
        return found

    def get_line_recording(self, line: Line) -> CallRecordingSettings:
        """The call-recording settings of a line of any kind (a person's: PersonRecordingSettings)."""
        return self._settings(line.kind, line.id)

    def _settings(self, kind: LineKind, line_id: str) -> CallRecordingSettings:
        line_id = line_id.strip()
        path, model, scope, not_found = _SETTINGS[kind]
        if not line_id:
            raise NotFound(not_found, system=SYSTEM_NAME)
        with self._cache_lock:
            cached = self._settings_cache.get(line_id) if self._settings_cache is not None else None
        if cached is not None:
            return cached
        # Quoted as one path segment: the ID may come from a Slack user and must not add path parts.
        url = self._transport.url(path.format(id=quote(line_id, safe="")))
        payload, response = self._get_json(
            url, params=None, not_found=not_found, scope=scope, operation="get_call_recording"
        )
        try:
            settings = model.model_validate(payload)
        except ValidationError as exc:
            raise self._transport.bad_response(
                "Webex sent call-recording settings in a shape the bot cannot read", response, exc
            ) from None
        if self._settings_cache is not None:
            with self._cache_lock:
                self._settings_cache[line_id] = settings
        return settings

    # -- finding lines ---------------------------------------------------------------------------

    def _find(self, query: Query) -> list[Line]:
        kind = query.kind
        if kind is QueryKind.NUMBER:
            return self._owners_of({"phoneNumber": query.text})
        if kind is QueryKind.DIGITS:
            # An extension; a long run of digits may also be an E.164 number typed without its "+".
            found = self._owners_of({"extension": query.text})
            if len(query.text) > 6:
                found += self._owners_of({"phoneNumber": f"+{query.text}"})
            return found
        if kind is QueryKind.EMAIL:
            by_email = self._people({"email": query.text, "callingData": "true"})
            return self._located([line_of_person(p, email=query.text) for p in by_email if has_email(p, query.text)])
        if kind is QueryKind.WEBEX_ID and query.id_kind is LineKind.PERSON:
            return self._person_by_id(query.text)
        if kind is QueryKind.WEBEX_ID and query.id_kind is LineKind.WORKSPACE:
            return self._workspace_by_id(query.text)
        if kind in (QueryKind.WEBEX_ID, QueryKind.UUID):
            return [Line.of_virtual_line(line) for line in self._line_index().find(query.text)]
        wanted = fold(query.text)
        people = [
            line_of_person(p)
            for p in self._people({"displayName": query.text, "callingData": "true"})
            if person_named(p, wanted)
        ]
        places = [
            w for w in self._workspaces({"displayName": query.text}) if w.has_calling and fold(w.display_name) == wanted
        ]
        virtual = [Line.of_virtual_line(line) for line in self._line_index().find(query.text)]
        return self._located(people) + self._with_numbers(places) + virtual

    def _owners_of(self, params: dict[str, str]) -> list[Line]:
        items = self._get_all(
            _NUMBERS_PATH, params=params, key="phoneNumbers", what="number list", scope=SCOPE_TELEPHONY_READ,
            operation="find_numbers",
            not_found=f"Webex has no numbers API at {redact_url(self._transport.base_url)} — check WEBEX_API_URL",
        )  # fmt: skip
        return lines_of_numbers(self._parse(items, NumberEntry, "number"))

    def _people(self, params: dict[str, str]) -> list[WebexPerson]:
        items = self._get_all(
            _PEOPLE_PATH, params=params, key="items", what="people list", scope=SCOPE_PEOPLE_READ,
            operation="find_people",
            not_found="Webex has no People API at this address — check WEBEX_API_URL",
        )  # fmt: skip
        return self._parse(items, WebexPerson, "person")

    def _workspaces(self, params: dict[str, str]) -> list[WebexWorkspace]:
        items = self._get_all(
            _WORKSPACES_PATH, params=params, key="items", what="workspace list", scope=SCOPE_WORKSPACES_READ,
            operation="find_workspaces",
            not_found="Webex has no Workspaces API at this address — check WEBEX_API_URL",
        )  # fmt: skip
        return self._parse(items, WebexWorkspace, "workspace")

    def _person_by_id(self, person_id: str) -> list[Line]:
        url = self._transport.url(f"{_PEOPLE_PATH}/{quote(person_id, safe='')}")
        try:
            payload, _response = self._get_json(
                url, params={"callingData": "true"}, not_found=_MSG_NO_PERSON, scope=SCOPE_PEOPLE_READ,
                operation="get_person",
            )
        except NotFound:
            return []
        return self._located([line_of_person(person) for person in self._parse([payload], WebexPerson, "person")])

    def _workspace_by_id(self, workspace_id: str) -> list[Line]:
        url = self._transport.url(f"{_WORKSPACES_PATH}/{quote(workspace_id, safe='')}")
        try:
            payload, _response = self._get_json(
                url, params=None, not_found=_MSG_NO_WORKSPACE, scope=SCOPE_WORKSPACES_READ,
                operation="get_workspace",
            )
        except NotFound:
            return []
        places = [w for w in self._parse([payload], WebexWorkspace, "workspace") if w.has_calling]
        return self._with_numbers(places)

    def _located(self, people: list[Line]) -> list[Line]:
        """People as the numbers API knows their line: its location (the People API gives only its ID)."""
        located = []
        for index, person in enumerate(people):
            own = next((n for n in self._owners_of({"ownerId": person.id}) if n.id == person.id), None)
            if index >= _MAX_ENRICHED or own is None:
                located.append(person)
                continue
            located.append(
                replace(
                    person,
                    extension=person.extension or own.extension,
                    phone_numbers=person.phone_numbers or own.phone_numbers,
                    location_name=own.location_name,
                )
            )
        return located

    def _with_numbers(self, places: list[WebexWorkspace]) -> list[Line]:
        """Workspaces as lines, with the extension, numbers and location the numbers API gives them."""
        lines = []
        for index, place in enumerate(places):
            numbers = self._owners_of({"ownerId": place.id}) if index < _MAX_ENRICHED else []
            lines.append(line_of_workspace(place, numbers))
        return lines

    def _parse(self, items: list[Any], model: type[_Parsed], what: str) -> list[_Parsed]:
        parsed = []
        for index, item in enumerate(items):
            try:
                parsed.append(model.model_validate(item))
            except ValidationError as exc:
                # One odd entry must not hide every other one from lookups.
                logger.warning(
                    "skipping %s #%d that Webex sent in an unreadable shape: %s",
                    what,
                    index,
                    self._redactor(str(exc))[:_MAX_DETAIL_CHARS],
                )
        return parsed

    def extensions_of_people_with(self, email: str) -> list[str | None]:
        """The Webex Calling extension (None: they have none) of each person whose e-mail address is exactly
        this one, ignoring case (People API, `callingData`). Webex's search may answer with others too (an
        alias, a partial match): those are left out, so nobody is taken for someone else."""
        payload, response = self._get_json(
            self._transport.url(_PEOPLE_PATH),
            params={"email": email, "callingData": "true"},
            not_found="Webex has no People API at this address — check WEBEX_API_URL",
            scope=SCOPE_PEOPLE_READ,
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

    def probe_scopes(self) -> dict[str, UpstreamError | None]:
        """A deployment check: one small read per read scope; each scope → None (proven) or why it failed."""
        probes = {
            SCOPE_TELEPHONY_READ: _VIRTUAL_LINES_PATH,
            SCOPE_PEOPLE_READ: _PEOPLE_PATH,
            SCOPE_WORKSPACES_READ: _WORKSPACES_PATH,
        }
        results: dict[str, UpstreamError | None] = {}
        for scope, path in probes.items():
            try:
                self._get_json(
                    self._transport.url(path), params={"max": "1"}, scope=scope, operation="verify",
                    not_found=f"Webex has no {path} at {redact_url(self._transport.base_url)} — check WEBEX_API_URL",
                )  # fmt: skip
                results[scope] = None
            except UpstreamError as error:
                results[scope] = error
        return results

    @property
    def proven_scopes(self) -> frozenset[str]:
        """The read scopes a successful answer has proven the token to have, since this client was made."""
        with self._cache_lock:
            return frozenset(self._proven)

    def clear_cache(self) -> None:
        """Forget cached lists and settings (after an admin changed something in Control Hub)."""
        with self._cache_lock:
            if self._list_cache is not None:
                self._list_cache.clear()
            if self._settings_cache is not None:
                self._settings_cache.clear()
            if self._lookup_cache is not None:
                self._lookup_cache.clear()

    # -- for the writes (clients/webex/writes.py) -------------------------------------------------

    def url(self, path: str) -> str:
        return self._transport.url(path)

    @property
    def transport(self) -> WebexTransport:
        return self._transport

    def authorized(
        self, method: str, url: str, *, json_body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """One request with bearer auth and `orgId`, one renewal on 401, the transport's retries: Webex's
        last answer, whatever its status (the caller reads it)."""
        params = {"orgId": self._org_id} if self._org_id else None
        renewed = False
        while True:
            token = self._tokens.current()
            response = self._transport.exchange(
                method, url, params=params, headers={"Authorization": f"Bearer {token}"}, json_body=json_body
            )
            if response.status_code == 401 and self._tokens.can_renew and not renewed:
                renewed = True
                self._tokens.renew_after_rejection(token)
                continue
            if response.status_code == 401:
                self._transport.raise_for_status(response, not_found="", renewed=renewed)
            return response

    def forget_settings(self, line_id: str) -> None:
        """Drop one line's cached settings (after a change was written)."""
        with self._cache_lock:
            if self._settings_cache is not None:
                self._settings_cache.pop(line_id.strip(), None)

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
        items = self._get_all(
            _VIRTUAL_LINES_PATH, params={}, key="virtualLines", what="virtual-line list",
            not_found=self._msg_no_list(), scope=SCOPE_TELEPHONY_READ, operation="list_lines",
        )  # fmt: skip
        return self._parse(items, VirtualLine, "virtual line")

    def _get_all(
        self, path: str, *, params: dict[str, str], key: str, what: str, not_found: str, scope: str, operation: str
    ) -> list[Any]:
        """Every item under `key` of a Webex list, following `Link: rel="next"` for at most `max_pages` pages."""
        url = self._transport.url(path)
        query: dict[str, str] | None = {**params, "max": str(self._page_size)}
        items: list[Any] = []
        visited: set[str] = set()
        for _page in range(self._max_pages):
            payload, response = self._get_json(url, params=query, not_found=not_found, scope=scope, operation=operation)
            page = payload.get(key)
            if not isinstance(page, list):
                raise self._transport.bad_response(f"Webex sent a {what} without `{key}`", response)
            items.extend(page)
            visited.add(str(response.request.url))
            next_url = self._next_page_url(response)
            if next_url is None or next_url in visited:
                break
            # The next link carries start/max (and the filters) itself.
            url, query = next_url, None
        else:
            logger.warning(
                "Webex lists more than %d pages in its %s; only the first %d entries were read",
                self._max_pages,
                what,
                len(items),
            )
        return items

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
        self, url: str, *, params: dict[str, str] | None, not_found: str, operation: str,
        scope: str = SCOPE_TELEPHONY_READ,
    ) -> tuple[dict[str, Any], httpx.Response]:  # fmt: skip
        """GET with bearer auth, one renewal on 401, retries; returns the JSON object of a 2xx answer (which
        proves `scope`; a 403 names it). Counted and timed as `operation` (the metrics' name for it)."""
        with upstream_call("webex", operation):
            return self._get_json_once(url, params=params, not_found=not_found, scope=scope)

    def _get_json_once(
        self, url: str, *, params: dict[str, str] | None, not_found: str, scope: str
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
                payload = self._transport.json_object(response)
                with self._cache_lock:
                    self._proven.add(scope)
                return payload, response
            self._transport.raise_for_status(
                response, not_found=not_found, renewed=renewed, forbidden=_FORBIDDEN[scope]
            )

    def _timer(self) -> float:
        # Cache ages follow the injected clock, so tests can age entries without waiting.
        return self._clock().timestamp()


_Parsed = TypeVar("_Parsed", bound=BaseModel)

# Where each kind's settings are read, the model they are read into, the scope and the 404's words.
_SETTINGS: dict[LineKind, tuple[str, type[CallRecordingSettings], str, str]] = {
    LineKind.VIRTUAL_LINE: (f"{_VIRTUAL_LINES_PATH}/{{id}}/callRecording", CallRecordingSettings,
                            SCOPE_TELEPHONY_READ, _MSG_NO_LINE),
    LineKind.PERSON: (f"{_PEOPLE_PATH}/{{id}}/features/callRecording", PersonRecordingSettings,
                      SCOPE_PEOPLE_READ, _MSG_NO_PERSON),
    LineKind.WORKSPACE: (f"{_WORKSPACE_SETTINGS_PATH}/{{id}}/features/callRecordings", CallRecordingSettings,
                         SCOPE_TELEPHONY_READ, _MSG_NO_WORKSPACE),
}  # fmt: skip


def _unique(lines: list[Line]) -> list[Line]:
    """Keep list order, drop repeats (a line can match by more than one key)."""
    seen: set[str] = set()
    unique = []
    for line in lines:
        if line.id not in seen:
            seen.add(line.id)
            unique.append(line)
    return unique
