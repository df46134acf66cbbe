"""A simulated Webex Calling admin API: virtual lines, their call-recording settings, token renewal, faults.

Written from the protocol notes (webex-calling-api.md in the project's reference), not from our client, so
tests catch misreadings of the protocol. Serves under `/v1` like webexapis.com (`base_url`) and also
without the prefix.

    sim = SimulatedWebex().start()
    client = WebexClient(http=httpx.Client(), base_url=sim.base_url, access_token=sim.access_token)
    sim.fail_with_status(429, times=1, retry_after=2)   # faults can be switched at any time
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import secrets
import threading
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from bot.sandbox.simulators.base import RecordedRequest, Reply, SimulatedServer
from bot.sandbox.simulators.webex_faults import (
    RENEWAL_PATH,
    Fault,
    error_reply,
    fault_reply,
    oauth_error,
    retry_after_text,
)
from bot.sandbox.simulators.webex_lines import SimulatedLine, default_lines, virtual_line_id
from bot.sandbox.simulators.webex_paths import LINES_PATH, PEOPLE_PATH, put_route, scope_of, strip_prefix
from bot.sandbox.simulators.webex_people import (
    DEFAULT_SCOPES,
    SimulatedPerson,
    SimulatedWorkspace,
    answer_people,
    default_people,
    default_workspaces,
    person_id,
    workspace_id,
)
from bot.sandbox.simulators.webex_writes import (
    PEOPLE_WRITE,
    TELEPHONY_WRITE,
    apply_put,
    put_problem,
    terms_not_accepted,
)

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "Fault",
    "SimulatedLine",
    "SimulatedPerson",
    "SimulatedWebex",
    "SimulatedWorkspace",
    "default_lines",
    "person_id",
    "virtual_line_id",
    "workspace_id",
]

# Fake credentials the simulator accepts; they open nothing outside it.
DEFAULT_ACCESS_TOKEN = "sim-webex-access-token-0001"  # noqa: S105
DEFAULT_REFRESH_TOKEN = "sim-webex-refresh-token-0001"  # noqa: S105
DEFAULT_CLIENT_ID = "sim-webex-client-id"
DEFAULT_CLIENT_SECRET = "sim-webex-client-secret"  # noqa: S105

# Webex integration tokens: 14 days for the access token, 90 days for the refresh token.
_ACCESS_TOKEN_LIFETIME_SECONDS = 14 * 24 * 3600
_REFRESH_TOKEN_LIFETIME_SECONDS = 90 * 24 * 3600
_DEFAULT_PAGE_SIZE = 2000

class SimulatedWebex(SimulatedServer):
    """Fake `webexapis.com/v1` for virtual-line call-recording settings; every method is thread-safe.

    Endpoints: `GET /telephony/config/virtualLines` (start/max pagination with a `Link: rel="next"`
    header; ownerName/phoneNumber/locationName filters), `GET …/virtualLines/{id}/callRecording`
    (404 for unknown IDs), the people, workspaces and numbers of webex_people.py, `POST /access_token`
    (refresh_token grant). Every answer has a `trackingid` header; every API call needs
    `Authorization: Bearer <a valid access token>` whose scopes cover it (`remove_scope`: then 403).
    """

    def __init__(
        self,
        *,
        lines: Iterable[SimulatedLine] | None = None,
        people: Iterable[SimulatedPerson] | None = None,
        workspaces: Iterable[SimulatedWorkspace] | None = None,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        rotate_refresh_token: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self._state = threading.RLock()
        self._seed: list[SimulatedLine] = copy.deepcopy(list(default_lines() if lines is None else lines))
        self._lines: list[SimulatedLine] = copy.deepcopy(self._seed)
        self._access_tokens: set[str] = {access_token}
        self._refresh_tokens: set[str] = {refresh_token}
        self._client_id = client_id
        self._client_secret = client_secret
        self._rotate_refresh_token = rotate_refresh_token
        self._initial_rotate_refresh_token = rotate_refresh_token
        self._initial_access_token = access_token
        self._initial_refresh_token = refresh_token
        self._issued: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._tracking_ids: list[str] = []
        self._counter = itertools.count(1)
        self._seed_people = copy.deepcopy(list(default_people() if people is None else people))
        self._seed_workspaces = copy.deepcopy(list(default_workspaces() if workspaces is None else workspaces))
        self._people: list[SimulatedPerson] = copy.deepcopy(self._seed_people)
        self._fuzzy_people: list[dict[str, Any]] | None = None
        self._workspaces: list[SimulatedWorkspace] = copy.deepcopy(self._seed_workspaces)
        self._scopes: set[str] = set(DEFAULT_SCOPES)
        self._terms_pending: dict[str, str] = {}
        self._puts: list[dict[str, Any]] = []

    def add_person(
        self,
        email: str,
        *,
        extension: str | None,
        display_name: str = "Calling User",
        call_recording: dict[str, Any] | None = None,
        phone_number: str | None = None,
        location_name: str | None = None,
    ) -> str:
        """A person `GET /people?email=…&callingData=true` finds (with a Webex Calling extension, or none),
        and the numbers API names as the owner of their extension; their ID."""
        first, _, last = display_name.partition(" ")
        person = SimulatedPerson(
            id=base64.urlsafe_b64encode(f"ciscospark://us/PEOPLE/{uuid.uuid4()}".encode()).decode().rstrip("="),
            emails=[email], display_name=display_name, first_name=first, last_name=last or None,
            extension=extension, phone_number=phone_number, location_name=location_name,
            call_recording=call_recording or {"enabled": True, "record": "Always with Pause/Resume"},
        )  # fmt: skip
        with self._state:
            self._people.append(person)
        return person.id

    def add_workspace(self, workspace: SimulatedWorkspace) -> None:
        with self._state:
            self._workspaces.append(copy.deepcopy(workspace))

    @property
    def people(self) -> list[SimulatedPerson]:
        with self._state:
            return copy.deepcopy(self._people)

    @property
    def workspaces(self) -> list[SimulatedWorkspace]:
        with self._state:
            return copy.deepcopy(self._workspaces)

    def remove_scope(self, scope: str) -> None:
        """The token no longer carries `scope`: the endpoints that need it answer 403."""
        with self._state:
            self._scopes.discard(scope)

    def reset(self, *, lines: Iterable[SimulatedLine] | None = None) -> None:
        """Back to a fresh state (cheaper than a new server, which takes a poll interval to stop).

        The seed lines (or `lines`), only the initial tokens valid, refresh-token rotation as at
        construction, no faults, nothing recorded.
        """
        with self._state:
            self._lines = copy.deepcopy(self._seed if lines is None else list(lines))
            self._people = copy.deepcopy(self._seed_people)
            self._workspaces = copy.deepcopy(self._seed_workspaces)
            self._scopes = set(DEFAULT_SCOPES)
            self._terms_pending.clear()
            self._puts.clear()
            self._access_tokens = {self._initial_access_token}
            self._refresh_tokens = {self._initial_refresh_token}
            self._rotate_refresh_token = self._initial_rotate_refresh_token
            self._issued.clear()
            self._faults.clear()
            self._tracking_ids.clear()
        self.clear()

    # -- addresses and credentials ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What to configure as the client's base URL (like https://webexapis.com/v1)."""
        return f"{self.url}/v1"

    @property
    def access_token(self) -> str:
        """The access token valid at start."""
        return self._initial_access_token

    @property
    def refresh_token(self) -> str:
        """The refresh token valid at start."""
        return self._initial_refresh_token

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def client_secret(self) -> str:
        return self._client_secret

    # -- lines -----------------------------------------------------------------------------------

    @property
    def lines(self) -> list[SimulatedLine]:
        """A copy of the seeded lines, in list order."""
        with self._state:
            return copy.deepcopy(self._lines)

    def line(self, line_id: str) -> SimulatedLine:
        """The line with this ID (KeyError if none)."""
        with self._state:
            for line in self._lines:
                if line.id == line_id:
                    return copy.deepcopy(line)
        raise KeyError(line_id)

    def line_ids(self, *, extension: str | None = None, owner_name: str | None = None) -> list[str]:
        """IDs of the lines with this extension and/or owner name ("First Last"), in list order."""
        with self._state:
            return [
                line.id
                for line in self._lines
                if (extension is None or line.extension == extension)
                and (owner_name is None or line.owner_name.casefold() == owner_name.casefold())
            ]

    def add_line(self, line: SimulatedLine) -> None:
        with self._state:
            self._lines.append(copy.deepcopy(line))

    def remove_line(self, line_id: str) -> None:
        with self._state:
            self._lines = [line for line in self._lines if line.id != line_id]

    def set_call_recording(self, line_id: str, settings: dict[str, Any]) -> None:
        """Replace the call-recording settings of a virtual line, person or workspace (the JSON Webex will
        answer with)."""
        with self._state:
            for line in self._holders():
                if line.id == line_id:
                    line.call_recording = copy.deepcopy(settings)
                    return
        raise KeyError(line_id)

    def call_recording(self, line_id: str) -> dict[str, Any]:
        """The call-recording settings Webex holds now for a virtual line, person or workspace."""
        with self._state:
            for line in self._holders():
                if line.id == line_id:
                    return copy.deepcopy(line.call_recording)
        raise KeyError(line_id)

    def _holders(self) -> list[SimulatedLine | SimulatedPerson | SimulatedWorkspace]:
        return [*self._lines, *self._people, *self._workspaces]

    # -- tokens ----------------------------------------------------------------------------------

    def valid_access_tokens(self) -> set[str]:
        with self._state:
            return set(self._access_tokens)

    def valid_refresh_tokens(self) -> set[str]:
        with self._state:
            return set(self._refresh_tokens)

    def expire_access_token(self, token: str | None = None) -> None:
        """Make an access token (default: all current ones) answer 401 from now on."""
        with self._state:
            if token is None:
                self._access_tokens.clear()
            else:
                self._access_tokens.discard(token)

    revoke_access_token = expire_access_token

    def revoke_refresh_token(self, token: str | None = None) -> None:
        """Make a refresh token (default: all) unusable: renewal then answers 400 invalid_grant."""
        with self._state:
            if token is None:
                self._refresh_tokens.clear()
            else:
                self._refresh_tokens.discard(token)

    def rotate_refresh_tokens(self, rotate: bool = True) -> None:
        """Whether each renewal replaces the refresh token (Webex usually keeps it; some flows rotate)."""
        with self._state:
            self._rotate_refresh_token = rotate

    @property
    def issued_tokens(self) -> list[dict[str, Any]]:
        """Every token answer the simulator gave, oldest first (access_token, refresh_token, …)."""
        with self._state:
            return copy.deepcopy(self._issued)

    # -- faults ----------------------------------------------------------------------------------

    def fail_with_status(
        self,
        status: int,
        *,
        times: int | None = 1,
        retry_after: float | str | None = None,
        target: str = "api",
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests (None = until cleared) with `status` and a Webex error body.

        Use 401/403/404/423/429/500/502/503/504; `retry_after` adds a `Retry-After` header (seconds).
        `target` is "api" (all but the token endpoint) or a path substring such as "/callRecording".
        """
        self._add_fault(
            Fault(
                kind="status",
                remaining=times,
                status=status,
                retry_after=None if retry_after is None else retry_after_text(retry_after),
                target=target,
                message=message,
            )
        )

    def answer_slowly(self, delay_seconds: float, *, times: int | None = None, target: str = "api") -> None:
        """Delay the next `times` answers (None = until cleared) by `delay_seconds`, then answer normally."""
        self._add_fault(Fault(kind="slow", remaining=times, delay_seconds=delay_seconds, target=target))

    def answer_malformed_json(self, *, times: int | None = 1, target: str = "api") -> None:
        """Answer 200 with a truncated JSON document."""
        self._add_fault(Fault(kind="malformed_json", remaining=times, target=target))

    def answer_html(self, *, times: int | None = 1, target: str = "api") -> None:
        """Answer 200 with an HTML page, like a captive portal or proxy sign-in page."""
        self._add_fault(Fault(kind="html", remaining=times, target=target))

    def answer_empty(self, *, times: int | None = 1, target: str = "api") -> None:
        """Answer 200 with an empty body."""
        self._add_fault(Fault(kind="empty", remaining=times, target=target))

    def answer_every_people_search(self, people: list[dict[str, Any]] | None) -> None:
        """Answer every `GET /people` search with these entries, whatever it asked for, as a fuzzy search
        may (None: search the simulated people again)."""
        with self._state:
            self._fuzzy_people = copy.deepcopy(people)

    def clear_faults(self) -> None:
        with self._state:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults still switched on, in the order they apply."""
        with self._state:
            return copy.deepcopy(self._faults)

    def _add_fault(self, fault: Fault) -> None:
        with self._state:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> Fault | None:
        with self._state:
            for fault in self._faults:
                if fault.applies_to(path):
                    taken = copy.copy(fault)
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return taken
        return None

    # -- what was received -----------------------------------------------------------------------

    @property
    def tracking_ids(self) -> list[str]:
        """The `trackingid` of every answer, in order."""
        with self._state:
            return list(self._tracking_ids)

    @property
    def last_tracking_id(self) -> str | None:
        with self._state:
            return self._tracking_ids[-1] if self._tracking_ids else None

    def org_ids_seen(self) -> list[str | None]:
        """The `orgId` query parameter of every API request (None where it was missing)."""
        return [r.query.get("orgId") for r in self.requests if not r.path.endswith(RENEWAL_PATH)]

    def api_requests(self, path_suffix: str = "") -> list[RecordedRequest]:
        """Recorded requests other than token renewals, optionally only those whose path ends so."""
        return [r for r in self.requests if not r.path.endswith(RENEWAL_PATH) and r.path.endswith(path_suffix)]

    def list_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if strip_prefix(r.path) == LINES_PATH]

    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith(RENEWAL_PATH)]

    # -- serving ---------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        tracking_id = f"SIMWEBEX_{uuid.uuid4()}_{next(self._counter)}"
        with self._state:
            self._tracking_ids.append(tracking_id)
        reply = self._answer(request, tracking_id)
        reply.headers.setdefault("trackingid", tracking_id)
        return reply

    def _answer(self, request: RecordedRequest, tracking_id: str) -> Reply:
        path = strip_prefix(request.path)
        delay = 0.0
        fault = self._take_fault(path)
        if fault is not None:
            if fault.kind == "slow":
                delay = fault.delay_seconds
            else:
                return fault_reply(fault, tracking_id)

        if request.method == "POST" and path == RENEWAL_PATH:
            reply = self._token(request, tracking_id)
        elif not self._authorized(request):
            reply = error_reply(401, tracking_id)
        elif request.method == "PUT":
            reply = self._put(path, request.body, tracking_id)
        elif request.method != "GET":
            reply = error_reply(405, tracking_id, "Method not allowed.")
        elif (scope := scope_of(path)) is not None and not self._has_scope(scope):
            reply = error_reply(403, tracking_id)
        elif path == LINES_PATH:
            reply = self._list(request, tracking_id)
        elif path.startswith(LINES_PATH + "/") and path.endswith("/callRecording"):
            line_id = path[len(LINES_PATH) + 1 : -len("/callRecording")]
            reply = self._call_recording(line_id, tracking_id)
        else:
            reply = self._answer_people(request, path, tracking_id)
        reply.delay_seconds = delay
        return reply

    def _has_scope(self, scope: str) -> bool:
        with self._state:
            return scope in self._scopes

    def _answer_people(self, request: RecordedRequest, path: str, tracking_id: str) -> Reply:
        def error(status: int, message: str) -> Reply:
            return error_reply(status, tracking_id, message)

        with self._state:
            fuzzy = copy.deepcopy(self._fuzzy_people)
        if fuzzy is not None and path == PEOPLE_PATH:
            return Reply(status=200, body=json.dumps({"items": fuzzy}))
        with self._state:
            people, places, lines = copy.deepcopy((self._people, self._workspaces, self._lines))
        return answer_people(request, path, people=people, workspaces=places, lines=lines, server_url=self.url,
                             error=error)  # fmt: skip

    def _authorized(self, request: RecordedRequest) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._state:
            return scheme.lower() == "bearer" and token.strip() in self._access_tokens

    def _list(self, request: RecordedRequest, tracking_id: str) -> Reply:
        try:
            start = int(request.query.get("start", "0"))
            size = int(request.query.get("max", str(_DEFAULT_PAGE_SIZE)))
        except ValueError:
            return error_reply(400, tracking_id, "start and max must be integers.")
        if start < 0 or size < 1:
            return error_reply(400, tracking_id, "start must be >= 0 and max >= 1.")
        owner = request.query.get("ownerName", "").casefold()
        phone = request.query.get("phoneNumber", "")
        location = request.query.get("locationName", "").casefold()
        with self._state:
            matching = [
                line.list_entry()
                for line in self._lines
                if (not owner or owner in line.owner_name.casefold())
                and (not phone or line.external == phone)
                and (not location or location == (line.location_name or "").casefold())
            ]
        page = matching[start : start + size]
        headers: dict[str, str] = {}
        if start + size < len(matching):
            params = {k: v for k, v in request.query.items() if k not in ("start", "max")}
            params.update({"start": str(start + size), "max": str(size)})
            query = "&".join(f"{k}={_quote(v)}" for k, v in params.items())
            headers["Link"] = f'<{self.url}{request.path}?{query}>; rel="next"'
        return Reply(status=200, body=json.dumps({"virtualLines": page}), headers=headers)

    def _call_recording(self, line_id: str, tracking_id: str) -> Reply:
        with self._state:
            for line in self._lines:
                if line.id == line_id:
                    return Reply(status=200, body=json.dumps(line.call_recording))
        return error_reply(404, tracking_id, "Virtual line not found.")

    def _put(self, path: str, body: bytes, tracking_id: str) -> Reply:
        """PUT of a line's call-recording settings (webex_writes.py): the write scope, the body checked against
        the schema, a workspace's vendor terms (409), then merged: 204 No Content."""
        found = put_route(path)
        if found is None:
            return error_reply(404, tracking_id, "Resource not found.")
        kind, line_id = found
        if not self._has_scope(PEOPLE_WRITE if kind == "person" else TELEPHONY_WRITE):
            return error_reply(403, tracking_id)
        problem = put_problem(body)
        if problem is not None:
            return error_reply(400, tracking_id, problem)
        with self._state:
            holders: list[Any] = list(
                self._people if kind == "person" else self._workspaces if kind == "workspace" else self._lines
            )
            for holder in holders:
                if holder.id != line_id:
                    continue
                vendor = self._terms_pending.get(line_id) if kind == "workspace" else None
                if vendor is not None:
                    return Reply(status=409, body=json.dumps({**terms_not_accepted(vendor), "trackingId": tracking_id}))
                holder.call_recording = apply_put(holder.call_recording, body)
                self._puts.append({"path": path, "body": json.loads(body or b"{}")})
                return Reply(status=204, body=b"")
        return error_reply(404, tracking_id, "Not found.")

    def require_vendor_terms(self, workspace_id: str, vendor_name: str) -> None:
        """The workspace's recording vendor's terms of service are not accepted yet: its PUTs answer 409."""
        with self._state:
            self._terms_pending[workspace_id] = vendor_name

    def accept_vendor_terms(self, workspace_id: str) -> None:
        with self._state:
            self._terms_pending.pop(workspace_id, None)

    def add_scope(self, scope: str) -> None:
        """The token carries `scope` (again)."""
        with self._state:
            self._scopes.add(scope)

    @property
    def puts(self) -> list[dict[str, Any]]:
        """Every PUT the simulator accepted: its path and JSON body, oldest first."""
        with self._state:
            return copy.deepcopy(self._puts)

    def _token(self, request: RecordedRequest, tracking_id: str) -> Reply:
        form = request.form
        if form.get("grant_type") != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "Only refresh_token is supported.", tracking_id)
        if form.get("client_id") != self._client_id or form.get("client_secret") != self._client_secret:
            return oauth_error(401, "invalid_client", "Client authentication failed.", tracking_id)
        with self._state:
            refresh_token = form.get("refresh_token", "")
            if refresh_token not in self._refresh_tokens:
                return oauth_error(400, "invalid_grant", "The refresh token is invalid.", tracking_id)
            serial = len(self._issued) + 2
            access_token = f"sim-webex-access-token-{serial:04d}-{secrets.token_hex(8)}"
            self._access_tokens.add(access_token)
            if self._rotate_refresh_token:
                self._refresh_tokens.discard(refresh_token)
                refresh_token = f"sim-webex-refresh-token-{serial:04d}-{secrets.token_hex(8)}"
                self._refresh_tokens.add(refresh_token)
            answer = {
                "access_token": access_token,
                "expires_in": _ACCESS_TOKEN_LIFETIME_SECONDS,
                "refresh_token": refresh_token,
                "refresh_token_expires_in": _REFRESH_TOKEN_LIFETIME_SECONDS,
                "token_type": "Bearer",
            }
            self._issued.append(dict(answer))
        return Reply(status=200, body=json.dumps(answer))



def _quote(value: str) -> str:
    return quote(value, safe="")
