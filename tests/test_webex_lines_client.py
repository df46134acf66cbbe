"""WebexClient's people, workspaces and numbers against the simulated Webex over loopback HTTP: each kind of
line found by each key, and every Webex rule (orgId, paging, 401 renewal, 403 naming the scope, 404, 429,
5xx, trackingid, unknown fields, the cache) on each new endpoint. No bot, no database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from bot.clients.errors import (
    AuthenticationFailed,
    NotFound,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamUnreachable,
)
from bot.clients.webex import WebexClient, WebexRefreshCredentials
from bot.models import Line, LineKind, PersonRecordingSettings
from bot.redaction import SecretRedactor
from bot.sandbox.simulators.webex import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    SimulatedWebex,
    person_id,
    virtual_line_id,
    workspace_id,
)
from tests.support import web

ORG_ID = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9saW5lcy10ZXN0cw"
JANE = person_id("jane-doe")
RAJ = person_id("raj-patel")
TRADING = workspace_id("trading-room-3")
FRONT_DESK_WS = workspace_id("front-desk-austin")
FRONT_DESK_VL = virtual_line_id("front-desk-sj")
SALES_QUEUE = virtual_line_id("sales-queue")


@pytest.fixture(scope="module")
def _server() -> Iterator[SimulatedWebex]:
    with SimulatedWebex() as server:
        yield server


@pytest.fixture
def sim(_server: SimulatedWebex) -> SimulatedWebex:
    _server.reset()
    return _server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sim: SimulatedWebex, sleeps: list[float]) -> Iterator[Callable[..., WebexClient]]:
    with web.client(timeout=2.0) as http:

        def build(**overrides: Any) -> WebexClient:
            options: dict[str, Any] = {
                "http": http, "base_url": sim.base_url, "access_token": sim.access_token,
                "redactor": SecretRedactor(), "sleep": sleeps.append, "page_size": 2,
            }  # fmt: skip
            options.update(overrides)
            return WebexClient(**options)

        yield build


@pytest.fixture
def client(make_client: Callable[..., WebexClient]) -> WebexClient:
    return make_client()


def found(client: WebexClient, query: str) -> list[tuple[LineKind, str]]:
    return [(line.kind, line.id) for line in client.find_lines(query)]


# -- each kind found by each key -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("4001", [(LineKind.PERSON, JANE)]),
        ("+14085554001", [(LineKind.PERSON, JANE)]),
        ("14085554001", [(LineKind.PERSON, JANE)]),
        ("<tel:+14085554001|+1 408 555 4001>", [(LineKind.PERSON, JANE)]),
        ("Jane.Doe@example.com", [(LineKind.PERSON, JANE)]),
        ("<mailto:jane.doe@example.com|jane.doe@example.com>", [(LineKind.PERSON, JANE)]),
        ("jane doe", [(LineKind.PERSON, JANE)]),
        (JANE, [(LineKind.PERSON, JANE)]),
        ("5003", [(LineKind.WORKSPACE, TRADING)]),
        ("+14085555003", [(LineKind.WORKSPACE, TRADING)]),
        ("Trading room 3", [(LineKind.WORKSPACE, TRADING)]),
        (TRADING, [(LineKind.WORKSPACE, TRADING)]),
        ("1002", [(LineKind.VIRTUAL_LINE, SALES_QUEUE)]),
        ("+14085550102", [(LineKind.VIRTUAL_LINE, SALES_QUEUE)]),
        ("Sales Queue", [(LineKind.VIRTUAL_LINE, SALES_QUEUE)]),
        (SALES_QUEUE, [(LineKind.VIRTUAL_LINE, SALES_QUEUE)]),
        ("front desk", [(LineKind.WORKSPACE, FRONT_DESK_WS), (LineKind.VIRTUAL_LINE, FRONT_DESK_VL)]),
    ],
)
def test_each_kind_is_found_by_each_key(client: WebexClient, query: str, expected: list[tuple[LineKind, str]]) -> None:
    assert found(client, query) == expected


def test_a_found_line_carries_what_the_card_shows(client: WebexClient) -> None:
    (jane,) = client.find_lines("4001")
    (trading,) = client.find_lines("Trading room 3")
    assert (jane.name, jane.extension, jane.phone_number, jane.location_name) == (
        "Jane Doe", "4001", "+14085554001", "San Jose HQ",
    )  # fmt: skip
    assert (trading.name, trading.extension, trading.phone_number, trading.location_name) == (
        "Trading room 3", "5003", "+14085555003", "San Jose HQ",
    )  # fmt: skip
    assert jane.names == {"4001", "+14085554001", "14085554001"}
    # By e-mail address: the People API's answer, placed by the numbers API.
    assert client.find_lines("jane.doe@example.com") == [replace(jane, email="jane.doe@example.com")]


@pytest.mark.parametrize(
    "query",
    ["6000", "Boardroom", "nobody@example.com", person_id("gone"), workspace_id("boardroom"), "Jane Doe Smith"],
)
def test_owners_without_a_recording_line_and_unknown_keys_find_nothing(client: WebexClient, query: str) -> None:
    # 6000 is a hunt group's; the Boardroom has no Webex Calling; the person ID is nobody's.
    assert client.find_lines(query) == []


def test_a_person_answer_keeps_the_recording_access_settings_and_ignores_unknown_fields(
    sim: SimulatedWebex, client: WebexClient
) -> None:
    answer = {**sim.call_recording(JANE), "aFieldOfANewerApi": {"x": 1}}
    sim.set_call_recording(JANE, answer)
    settings = client.get_line_recording(Line(kind=LineKind.PERSON, id=JANE, name="Jane Doe"))
    assert isinstance(settings, PersonRecordingSettings)
    assert settings.record == "Always with Pause/Resume"
    access = settings.call_recording_access_settings
    assert access is not None
    assert access.download_recordings_enabled is True and access.delete_recordings_enabled is False


def test_lists_are_paged_by_link_and_every_call_carries_the_org_id(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient]
) -> None:
    client = make_client(org_id=ORG_ID, page_size=1)
    assert found(client, "front desk") == [(LineKind.WORKSPACE, FRONT_DESK_WS), (LineKind.VIRTUAL_LINE, FRONT_DESK_VL)]
    # "Front Desk" is a prefix of one workspace name: one page; the numbers of the workspace: one page.
    pages = [r for r in sim.api_requests() if r.path.endswith("/virtualLines")]
    assert len(pages) == len(sim.lines)  # one line per page, each page from the Link header
    assert set(sim.org_ids_seen()) == {ORG_ID}


def test_lookups_and_settings_are_cached(sim: SimulatedWebex, client: WebexClient) -> None:
    (jane,) = client.find_lines("4001")
    client.get_line_recording(jane)
    before = len(sim.api_requests())
    assert client.find_lines("4001") == [jane]
    client.get_line_recording(jane)
    assert len(sim.api_requests()) == before


def test_successful_reads_prove_their_scopes(client: WebexClient) -> None:
    assert client.proven_scopes == frozenset()
    client.find_lines("4001")
    assert client.proven_scopes == {"spark-admin:telephony_config_read"}
    client.find_lines("jane.doe@example.com")
    assert client.proven_scopes == {"spark-admin:telephony_config_read", "spark-admin:people_read"}


# -- the error matrix: every endpoint, every error ---------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One new endpoint: the path part a fault targets, the call that reaches it, the scope a 403 names."""

    target: str
    call: Callable[[WebexClient], object]
    scope: str
    not_found: str | None  # what a 404 says; None: a 404 means "no such line" (found nothing)


ENDPOINTS = {
    "numbers": Endpoint("/config/numbers", lambda c: c.find_lines("5003"), "telephony_config_read", "numbers API"),
    "people": Endpoint("/people", lambda c: c.find_lines("jane.doe@example.com"), "people_read", "People API"),
    "person": Endpoint("/people/", lambda c: c.find_lines(JANE), "people_read", None),
    "workspaces": Endpoint("/workspaces", lambda c: c.find_lines("Trading room 3"), "workspaces_read", "Workspaces"),
    "workspace": Endpoint("/workspaces/", lambda c: c.find_lines(TRADING), "workspaces_read", None),
    "person settings": Endpoint(
        "/features/callRecording",
        lambda c: c.get_line_recording(Line(kind=LineKind.PERSON, id=JANE, name="Jane")),
        "people_read",
        "no such person",
    ),
    "workspace settings": Endpoint(
        "/features/callRecordings",
        lambda c: c.get_line_recording(Line(kind=LineKind.WORKSPACE, id=TRADING, name="Trading")),
        "telephony_config_read",
        "no such workspace",
    ),
}


def _failing(sim: SimulatedWebex, client: WebexClient, endpoint: Endpoint, status: int) -> UpstreamError:
    sim.fail_with_status(status, times=None, target=endpoint.target, retry_after=1 if status == 429 else None)
    with pytest.raises(UpstreamError) as caught:
        endpoint.call(client)
    assert caught.value.tracking_id == sim.last_tracking_id
    assert sim.access_token not in caught.value.user_message()
    return caught.value


@pytest.mark.parametrize("name", list(ENDPOINTS))
@pytest.mark.parametrize("status", [401, 403, 404, 429, 503])
def test_every_error_on_every_endpoint_is_explained_with_the_tracking_id(
    sim: SimulatedWebex, client: WebexClient, sleeps: list[float], name: str, status: int
) -> None:
    endpoint = ENDPOINTS[name]
    if status == 404 and endpoint.not_found is None:
        sim.fail_with_status(404, times=None, target=endpoint.target)
        assert endpoint.call(client) == []  # an ID Webex does not know is no line
        return
    error = _failing(sim, client, endpoint, status)
    expected: dict[int, tuple[type[UpstreamError], str]] = {
        401: (AuthenticationFailed, "invalid or expired"),
        403: (AuthenticationFailed, f"spark-admin:{endpoint.scope}"),
        404: (NotFound, endpoint.not_found or ""),
        429: (RateLimited, "rate-limiting"),
        503: (UpstreamUnreachable, "HTTP 503, still after 3 retries"),
    }
    kind, words = expected[status]
    assert isinstance(error, kind) and words in str(error), str(error)
    if status in (429, 503):
        assert len(sleeps) == 3


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_an_unreadable_answer_on_every_endpoint_is_a_bad_response(
    sim: SimulatedWebex, client: WebexClient, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    sim.answer_html(times=None, target=endpoint.target)
    with pytest.raises(UpstreamBadResponse, match="web page instead of JSON") as caught:
        endpoint.call(client)
    assert caught.value.tracking_id == sim.last_tracking_id


@pytest.mark.parametrize("name", list(ENDPOINTS))
@pytest.mark.parametrize("fault", ["429 once", "503 once", "expired token"])
def test_a_passing_fault_on_every_endpoint_is_retried_or_renewed_and_answered(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient], sleeps: list[float], name: str, fault: str
) -> None:
    endpoint = ENDPOINTS[name]
    refresh = WebexRefreshCredentials(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN)
    client = make_client(refresh=refresh)
    if fault == "429 once":
        sim.fail_with_status(429, times=1, retry_after=2, target=endpoint.target)
    elif fault == "503 once":
        sim.fail_with_status(503, times=1, target=endpoint.target)
    else:
        sim.fail_with_status(401, times=1, target=endpoint.target)

    assert endpoint.call(client)

    if fault == "429 once":
        assert sleeps == [2.0]  # Retry-After honoured
    elif fault == "503 once":
        assert sleeps == [0.5]
    else:
        assert len(sim.token_requests()) == 1
        last = sim.api_requests(endpoint.target if not endpoint.target.endswith("/") else "")[-1]
        assert last.headers["authorization"] == f"Bearer {sim.issued_tokens[0]['access_token']}"


def test_the_scope_probe_names_each_read_scope_proven_or_refused(sim: SimulatedWebex, client: WebexClient) -> None:
    sim.remove_scope("spark-admin:people_read")
    results = client.probe_scopes()
    assert results["spark-admin:telephony_config_read"] is None
    assert results["spark-admin:workspaces_read"] is None
    refused = results["spark-admin:people_read"]
    assert isinstance(refused, AuthenticationFailed) and "spark-admin:people_read" in str(refused)
