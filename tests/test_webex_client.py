"""WebexClient against the simulated Webex Calling API over real loopback HTTP."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.clients.errors import (
    AuthenticationFailed,
    NotFound,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamUnreachable,
)
from bot.clients.webex import (
    SYSTEM_NAME,
    InMemoryWebexTokenStore,
    WebexClient,
    WebexRefreshCredentials,
)
from bot.models import VirtualLine, WebexTokens
from bot.redaction import SecretRedactor
from bot.sandbox.simulators.base import RecordedRequest, Reply, SimulatedServer
from bot.sandbox.simulators.webex import SimulatedWebex, virtual_line_id
from tests.support import web

# Distinctive values, so a leak anywhere is easy to spot.
ACCESS_TOKEN = "WXACCESS-LEAKCHECK-7c1d9e2f4a6b"
REFRESH_TOKEN = "WXREFRESH-LEAKCHECK-3e5f7a9b1c2d"
CLIENT_ID = "wx-client-id-recording-bot"
CLIENT_SECRET = "WXCLIENTSECRET-LEAKCHECK-8d0e2f4a"
ORG_ID = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9vcmctZm9yLXRlc3Rz"

MAIN_RECEPTION = virtual_line_id("main-reception")
FRONT_DESK_SJ = virtual_line_id("front-desk-sj")
SALES_QUEUE = virtual_line_id("sales-queue")
SUPPORT_LINE = virtual_line_id("support-line")
HELP_DESK_LONDON = virtual_line_id("help-desk-london")
HELP_DESK_AUSTIN = virtual_line_id("help-desk-austin")
LOBBY_LONDON = virtual_line_id("lobby-london")
SEED_SIZE = 9


class FakeClock:
    """UTC "now" that tests move by hand (token expiry and cache ages follow it)."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# One server for the module (stopping one takes a server poll interval); each test gets it reset.
@pytest.fixture(scope="module")
def _server() -> Iterator[SimulatedWebex]:
    server = SimulatedWebex(
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    with server:
        yield server


@pytest.fixture
def sim(_server: SimulatedWebex) -> SimulatedWebex:
    _server.reset()
    return _server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with web.client(timeout=2.0) as client:
        yield client


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(
    sim: SimulatedWebex, http: httpx.Client, sleeps: list[float], clock: FakeClock
) -> Callable[..., WebexClient]:
    def build(**overrides: Any) -> WebexClient:
        options: dict[str, Any] = {
            "http": http,
            "base_url": sim.base_url,
            "access_token": ACCESS_TOKEN,
            "redactor": SecretRedactor(),
            "clock": clock,
            "sleep": sleeps.append,
            "page_size": 4,
        }
        options.update(overrides)
        return WebexClient(**options)

    return build


@pytest.fixture
def client(make_client: Callable[..., WebexClient]) -> WebexClient:
    return make_client()


@pytest.fixture
def store(clock: FakeClock) -> InMemoryWebexTokenStore:
    return InMemoryWebexTokenStore()


@pytest.fixture
def renewing_client(make_client: Callable[..., WebexClient], store: InMemoryWebexTokenStore) -> WebexClient:
    refresh = WebexRefreshCredentials(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    return make_client(refresh=refresh, token_store=store)


def ids(lines: list[VirtualLine]) -> set[str]:
    return {line.id for line in lines}


def bearer(request: RecordedRequest) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


def all_secrets(sim: SimulatedWebex) -> list[str]:
    issued = [t["access_token"] for t in sim.issued_tokens] + [t["refresh_token"] for t in sim.issued_tokens]
    return [ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET, *issued]


def assert_no_secret(text: str, sim: SimulatedWebex) -> None:
    for secret in all_secrets(sim):
        assert secret not in text


def error_texts(error: UpstreamError) -> str:
    return " | ".join([str(error), error.user_message(), error.detail or "", repr(error.args)])


# -- listing and pagination -----------------------------------------------------------------------


def test_listing_follows_next_links_over_several_pages_and_finds_every_line(
    sim: SimulatedWebex, client: WebexClient
) -> None:
    lines = client.list_virtual_lines()

    assert ids(lines) == {line.id for line in sim.lines}
    assert len(lines) == SEED_SIZE
    pages = sim.list_requests()
    assert [(r.query.get("start"), r.query.get("max")) for r in pages] == [
        (None, "4"),
        ("4", "4"),
        ("8", "4"),
    ]


def test_listing_stops_at_max_pages(sim: SimulatedWebex, make_client: Callable[..., WebexClient]) -> None:
    client = make_client(page_size=2, max_pages=2)

    lines = client.list_virtual_lines()

    assert len(lines) == 4
    assert len(sim.list_requests()) == 2


def test_org_id_is_sent_on_every_call(sim: SimulatedWebex, make_client: Callable[..., WebexClient]) -> None:
    client = make_client(org_id=ORG_ID)

    client.list_virtual_lines()
    client.get_call_recording(SALES_QUEUE)
    client.verify()

    assert len(sim.org_ids_seen()) == 5
    assert set(sim.org_ids_seen()) == {ORG_ID}


def test_every_call_carries_the_bearer_token(sim: SimulatedWebex, client: WebexClient) -> None:
    client.list_virtual_lines()
    client.get_call_recording(SALES_QUEUE)

    assert {bearer(r) for r in sim.api_requests()} == {ACCESS_TOKEN}


def test_a_next_link_to_another_host_is_not_followed(http: httpx.Client, sleeps: list[float]) -> None:
    class OffsiteLink(SimulatedServer):
        def handle(self, request: RecordedRequest) -> Reply:
            body = json.dumps({"virtualLines": [{"id": virtual_line_id("x"), "firstName": "X"}]})
            link = '<http://attacker.invalid/v1/telephony/config/virtualLines?start=1>; rel="next"'
            return Reply(body=body, headers={"Link": link})

    with OffsiteLink() as server:
        client = WebexClient(
            http=http, base_url=f"{server.url}/v1", access_token=ACCESS_TOKEN, redactor=SecretRedactor()
        )
        with pytest.raises(UpstreamBadResponse, match="another host"):
            client.list_virtual_lines()
        assert len(server.requests) == 1


# -- finding lines --------------------------------------------------------------------------------


def test_find_by_webex_id(client: WebexClient) -> None:
    assert ids(client.find_virtual_lines(SUPPORT_LINE)) == {SUPPORT_LINE}


def test_find_by_the_uuid_inside_the_webex_id(client: WebexClient) -> None:
    line = client.find_virtual_lines(SUPPORT_LINE)[0]
    uuid_part = client_uuid(line.id)

    assert ids(client.find_virtual_lines(uuid_part.upper())) == {SUPPORT_LINE}


def client_uuid(webex_id: str) -> str:
    decoded = base64.urlsafe_b64decode(webex_id + "=" * (-len(webex_id) % 4)).decode()
    return decoded.rsplit("/", 1)[1]


def test_find_by_extension(client: WebexClient) -> None:
    assert ids(client.find_virtual_lines("1002")) == {SALES_QUEUE}


def test_an_extension_used_in_two_locations_matches_both(client: WebexClient) -> None:
    lines = client.find_virtual_lines("1001")

    assert ids(lines) == {FRONT_DESK_SJ, LOBBY_LONDON}
    assert {line.location_name for line in lines} == {"San Jose HQ", "London Office"}


def test_find_by_e164_number_with_or_without_spacing(client: WebexClient) -> None:
    assert ids(client.find_virtual_lines("+442071838750")) == {HELP_DESK_LONDON}
    assert ids(client.find_virtual_lines("+1 408 555-0102")) == {SALES_QUEUE}
    assert ids(client.find_virtual_lines("<tel:+14085550102|+1 408 555 0102>")) == {SALES_QUEUE}


def test_find_by_owner_name_ignores_case_and_spacing(client: WebexClient) -> None:
    assert ids(client.find_virtual_lines("sales   QUEUE")) == {SALES_QUEUE}


def test_two_lines_with_the_same_owner_name_both_match(client: WebexClient) -> None:
    assert ids(client.find_virtual_lines("Help Desk")) == {HELP_DESK_LONDON, HELP_DESK_AUSTIN}


@pytest.mark.parametrize(
    "query",
    ["9999", "+15550000000", "Nobody Here", virtual_line_id("deleted-line"), "   "],
)
def test_nothing_matches_an_unknown_query(client: WebexClient, query: str) -> None:
    assert client.find_virtual_lines(query) == []


def test_finding_uses_the_cached_list(sim: SimulatedWebex, client: WebexClient) -> None:
    client.find_virtual_lines("1002")
    client.find_virtual_lines("Help Desk")
    client.find_virtual_lines("+442071838750")

    assert len(sim.list_requests()) == 3  # one listing of three pages, not three listings


# -- settings -------------------------------------------------------------------------------------


def test_selective_settings_and_an_unknown_field_are_parsed(client: WebexClient) -> None:
    support = client.get_call_recording(SUPPORT_LINE)
    london = client.get_call_recording(HELP_DESK_LONDON)

    assert support.record == "On Demand with User Initiated Start"
    assert support.notification is not None and support.notification.type == "Play Announcement"
    selective = support.selective_call_recording_settings
    assert selective is not None
    assert selective.record_inbound_external_calls_enabled is True
    assert selective.record_inbound_internal_calls_enabled is False
    assert london.record == "Always with Pause/Resume"
    assert "callRecordingAccessSettings" not in london.model_dump(by_alias=True)


def test_omitted_optional_settings_are_none(client: WebexClient) -> None:
    lobby = client.get_call_recording(LOBBY_LONDON)

    assert lobby.enabled is True
    assert lobby.record == "Always with Pause/Resume"
    assert lobby.notification is None
    assert lobby.repeat is None
    assert lobby.service_provider is None
    assert lobby.start_stop_announcement is None
    assert lobby.selective_call_recording_settings is None


def test_settings_are_cached_briefly_per_line(sim: SimulatedWebex, client: WebexClient, clock: FakeClock) -> None:
    first = client.get_call_recording(SALES_QUEUE)
    again = client.get_call_recording(SALES_QUEUE)
    client.get_call_recording(SUPPORT_LINE)

    assert again == first
    assert len(sim.api_requests("/callRecording")) == 2

    clock.advance(31)
    client.get_call_recording(SALES_QUEUE)
    assert len(sim.api_requests("/callRecording")) == 3


def test_the_list_is_cached_until_it_ages_out(sim: SimulatedWebex, client: WebexClient, clock: FakeClock) -> None:
    client.list_virtual_lines()
    client.list_virtual_lines()
    assert len(sim.list_requests()) == 3

    clock.advance(301)
    client.list_virtual_lines()
    assert len(sim.list_requests()) == 6


def test_verify_reads_one_line(sim: SimulatedWebex, client: WebexClient) -> None:
    assert client.verify() == "token works; can read virtual lines (1 on the first page)"
    assert [r.query.get("max") for r in sim.list_requests()] == ["1"]


# -- errors ---------------------------------------------------------------------------------------


def test_401_without_refresh_says_an_admin_must_renew_the_token(sim: SimulatedWebex, client: WebexClient) -> None:
    sim.expire_access_token(ACCESS_TOKEN)

    with pytest.raises(AuthenticationFailed) as caught:
        client.get_call_recording(SALES_QUEUE)

    error = caught.value
    assert "invalid or expired" in str(error)
    assert "WEBEX_ACCESS_TOKEN" in str(error)
    assert error.system == SYSTEM_NAME
    assert error.status_code == 401
    assert error.tracking_id == sim.last_tracking_id
    assert f"tracking ID {sim.last_tracking_id}" in error.user_message()
    assert len(sim.api_requests()) == 1


def test_403_says_the_scope_or_role_is_missing(sim: SimulatedWebex, client: WebexClient) -> None:
    sim.fail_with_status(403)

    with pytest.raises(AuthenticationFailed, match="spark-admin:telephony_config_read") as caught:
        client.get_call_recording(SALES_QUEUE)

    assert caught.value.tracking_id == sim.last_tracking_id


def test_unknown_line_id_is_not_found_with_tracking_id(sim: SimulatedWebex, client: WebexClient) -> None:
    with pytest.raises(NotFound, match="no such virtual line") as caught:
        client.get_call_recording(virtual_line_id("deleted-line"))

    assert caught.value.tracking_id == sim.last_tracking_id
    assert caught.value.detail is not None and "404" in caught.value.detail


def test_a_line_id_cannot_add_path_segments(sim: SimulatedWebex, client: WebexClient) -> None:
    with pytest.raises(NotFound):
        client.get_call_recording("../../people/x")

    assert sim.api_requests()[-1].path.endswith("..%2F..%2Fpeople%2Fx/callRecording")


def test_429_is_retried_after_the_retry_after_seconds(
    sim: SimulatedWebex, client: WebexClient, sleeps: list[float]
) -> None:
    sim.fail_with_status(429, times=1, retry_after=2)

    settings = client.get_call_recording(SALES_QUEUE)

    assert settings.record == "Always with Pause/Resume"
    assert sleeps == [2.0]
    assert len(sim.api_requests("/callRecording")) == 2


def test_retry_after_is_capped_and_defaults_to_one_second(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient], sleeps: list[float]
) -> None:
    client = make_client(max_retry_after_seconds=5)
    sim.fail_with_status(429, times=1, retry_after=120)
    sim.fail_with_status(429, times=1)

    client.get_call_recording(SALES_QUEUE)

    assert sleeps == [5.0, 1.0]


def test_429_that_persists_becomes_rate_limited(sim: SimulatedWebex, client: WebexClient, sleeps: list[float]) -> None:
    sim.fail_with_status(429, times=None, retry_after=1)

    with pytest.raises(RateLimited) as caught:
        client.get_call_recording(SALES_QUEUE)

    assert sleeps == [1.0, 1.0, 1.0]
    assert len(sim.api_requests()) == 4  # the first try and three retries
    assert caught.value.tracking_id == sim.last_tracking_id


def test_423_is_retried_and_persistent_423_is_rate_limited(
    sim: SimulatedWebex, client: WebexClient, sleeps: list[float]
) -> None:
    sim.fail_with_status(423, times=1, retry_after=3)
    assert client.get_call_recording(SALES_QUEUE).enabled is True
    assert sleeps == [3.0]

    sim.fail_with_status(423, times=None)
    with pytest.raises(RateLimited, match="locked"):
        client.get_call_recording(SUPPORT_LINE)


def test_503_is_retried_with_exponential_backoff_then_succeeds(
    sim: SimulatedWebex, client: WebexClient, sleeps: list[float]
) -> None:
    sim.fail_with_status(503, times=2)

    lines = client.list_virtual_lines()

    assert len(lines) == SEED_SIZE
    assert sleeps == [0.5, 1.0]


def test_503_that_persists_becomes_unreachable(sim: SimulatedWebex, client: WebexClient, sleeps: list[float]) -> None:
    sim.fail_with_status(503, times=None)

    with pytest.raises(UpstreamUnreachable, match="HTTP 503") as caught:
        client.get_call_recording(SALES_QUEUE)

    assert sleeps == [0.5, 1.0, 2.0]
    assert len(sim.api_requests()) == 4
    assert caught.value.tracking_id == sim.last_tracking_id


def test_a_slow_answer_becomes_unreachable(sim: SimulatedWebex, make_client: Callable[..., WebexClient]) -> None:
    sim.answer_slowly(1.0, times=1)
    with web.client(timeout=0.2) as impatient:
        client = make_client(http=impatient)
        with pytest.raises(UpstreamUnreachable, match="did not answer"):
            client.get_call_recording(SALES_QUEUE)


def test_a_refused_connection_becomes_unreachable(http: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = WebexClient(
        http=http, base_url=f"http://127.0.0.1:{port}/v1", access_token=ACCESS_TOKEN, redactor=SecretRedactor()
    )

    with pytest.raises(UpstreamUnreachable, match="Webex did not answer"):
        client.list_virtual_lines()


@pytest.mark.parametrize(
    ("switch", "words"),
    [
        (SimulatedWebex.answer_malformed_json, "malformed JSON"),
        (SimulatedWebex.answer_html, "web page"),
        (SimulatedWebex.answer_empty, "empty"),
    ],
)
def test_an_unreadable_answer_is_a_bad_response(
    sim: SimulatedWebex,
    client: WebexClient,
    switch: Callable[[SimulatedWebex], None],
    words: str,
) -> None:
    switch(sim)
    with pytest.raises(UpstreamBadResponse, match=words) as caught:
        client.get_call_recording(SALES_QUEUE)
    assert caught.value.tracking_id == sim.last_tracking_id

    switch(sim)
    with pytest.raises(UpstreamBadResponse):
        client.list_virtual_lines()


def test_webex_own_error_message_is_included(sim: SimulatedWebex, client: WebexClient) -> None:
    sim.fail_with_status(404, message="Virtual line is in another organization.")

    with pytest.raises(NotFound, match="another organization"):
        client.get_call_recording(SALES_QUEUE)


# -- token renewal --------------------------------------------------------------------------------


def test_a_401_renews_the_token_once_and_retries_with_the_new_bearer(
    sim: SimulatedWebex, renewing_client: WebexClient, store: InMemoryWebexTokenStore, clock: FakeClock
) -> None:
    sim.expire_access_token(ACCESS_TOKEN)

    settings = renewing_client.get_call_recording(SALES_QUEUE)

    assert settings.enabled is True
    [renewal] = sim.token_requests()
    assert renewal.form == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    new_token = sim.issued_tokens[0]["access_token"]
    [saved] = store.saved
    assert saved.access_token == new_token
    assert saved.refresh_token == REFRESH_TOKEN
    assert saved.expires_at == clock.now + timedelta(days=14)
    assert [bearer(r) for r in sim.api_requests()] == [ACCESS_TOKEN, new_token]


def test_the_token_is_renewed_shortly_before_it_expires(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient], clock: FakeClock
) -> None:
    store = InMemoryWebexTokenStore(WebexTokens(ACCESS_TOKEN, REFRESH_TOKEN, expires_at=clock.now + timedelta(hours=1)))
    refresh = WebexRefreshCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    client = make_client(refresh=refresh, token_store=store)

    client.get_call_recording(SALES_QUEUE)
    assert sim.token_requests() == []

    clock.advance(58 * 60)
    client.get_call_recording(SUPPORT_LINE)

    new_token = sim.issued_tokens[0]["access_token"]
    assert len(sim.token_requests()) == 1
    assert [bearer(r) for r in sim.api_requests()] == [ACCESS_TOKEN, new_token]  # no 401 in between
    assert store.load() == store.saved[-1]
    assert store.saved[-1].access_token == new_token


def test_stored_tokens_are_preferred_over_the_configured_one(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient], clock: FakeClock
) -> None:
    store = InMemoryWebexTokenStore(WebexTokens(ACCESS_TOKEN, REFRESH_TOKEN, expires_at=clock.now + timedelta(days=3)))
    refresh = WebexRefreshCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    client = make_client(access_token="WXOLD-CONFIGURED-TOKEN-000", refresh=refresh, token_store=store)

    client.get_call_recording(SALES_QUEUE)

    assert [bearer(r) for r in sim.api_requests()] == [ACCESS_TOKEN]
    assert sim.token_requests() == []


def test_a_refresh_token_only_configuration_renews_before_the_first_call(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient]
) -> None:
    refresh = WebexRefreshCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    client = make_client(access_token="", refresh=refresh)

    client.get_call_recording(SALES_QUEUE)

    assert len(sim.token_requests()) == 1
    assert [bearer(r) for r in sim.api_requests()] == [sim.issued_tokens[0]["access_token"]]


def test_a_rotated_refresh_token_is_saved_and_used_next_time(
    sim: SimulatedWebex, renewing_client: WebexClient, store: InMemoryWebexTokenStore
) -> None:
    sim.rotate_refresh_tokens()
    sim.expire_access_token()
    renewing_client.get_call_recording(SALES_QUEUE)
    rotated = sim.issued_tokens[0]["refresh_token"]
    assert store.saved[-1].refresh_token == rotated

    sim.expire_access_token()
    renewing_client.get_call_recording(SUPPORT_LINE)

    assert sim.token_requests()[-1].form["refresh_token"] == rotated
    assert len(store.saved) == 2


def test_a_refused_renewal_tells_the_admin_to_reauthorize(sim: SimulatedWebex, renewing_client: WebexClient) -> None:
    sim.expire_access_token()
    sim.revoke_refresh_token()

    with pytest.raises(AuthenticationFailed, match="re-authorize") as caught:
        renewing_client.get_call_recording(SALES_QUEUE)

    assert caught.value.tracking_id == sim.last_tracking_id
    assert_no_secret(error_texts(caught.value), sim)


def test_a_token_rejected_even_after_renewal_is_reported(sim: SimulatedWebex, renewing_client: WebexClient) -> None:
    sim.fail_with_status(401, times=2)

    with pytest.raises(AuthenticationFailed, match="even after renewing"):
        renewing_client.get_call_recording(SALES_QUEUE)

    assert len(sim.token_requests()) == 1
    assert len(sim.api_requests()) == 2


def test_an_unreadable_token_answer_is_a_bad_response_without_its_body(
    sim: SimulatedWebex, renewing_client: WebexClient
) -> None:
    sim.expire_access_token()
    sim.answer_malformed_json(target="/access_token")

    with pytest.raises(UpstreamBadResponse, match="malformed JSON") as caught:
        renewing_client.get_call_recording(SALES_QUEUE)

    assert caught.value.detail is not None
    assert "bytes not kept" in caught.value.detail
    assert "virtualLines" not in caught.value.detail


def test_a_failed_early_renewal_keeps_using_the_still_valid_token(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = InMemoryWebexTokenStore(
        WebexTokens(ACCESS_TOKEN, REFRESH_TOKEN, expires_at=clock.now + timedelta(minutes=2))
    )
    refresh = WebexRefreshCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    client = make_client(refresh=refresh, token_store=store)
    sim.fail_with_status(503, times=None, target="/access_token")

    assert client.get_call_recording(SALES_QUEUE).enabled is True

    assert len(sim.token_requests()) == 4
    assert [bearer(r) for r in sim.api_requests()] == [ACCESS_TOKEN]
    assert "could not renew the Webex access token early" in caplog.text
    assert store.saved == []


def test_concurrent_callers_share_one_renewal(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient], store: InMemoryWebexTokenStore
) -> None:
    refresh = WebexRefreshCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    client = make_client(refresh=refresh, token_store=store, settings_cache_seconds=0)
    sim.expire_access_token()
    # Five callers: the simulator's listen backlog is five, and more would wait on a SYN retry.
    line_ids = [line.id for line in sim.lines][:5]
    start = threading.Barrier(len(line_ids))

    def read(line_id: str) -> bool | None:
        start.wait(timeout=5)
        return client.get_call_recording(line_id).enabled

    with ThreadPoolExecutor(max_workers=len(line_ids)) as pool:
        results = list(pool.map(read, line_ids))

    assert len(results) == len(line_ids)
    assert len(sim.token_requests()) == 1
    assert len(store.saved) == 1


# -- secrets --------------------------------------------------------------------------------------


def test_no_secret_reaches_logs_or_errors(
    sim: SimulatedWebex,
    renewing_client: WebexClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[UpstreamError] = []

    sim.expire_access_token()
    renewing_client.list_virtual_lines()
    renewing_client.get_call_recording(SALES_QUEUE)
    faults: list[Callable[[], None]] = [
        lambda: sim.fail_with_status(401, times=2),
        lambda: sim.fail_with_status(403),
        lambda: sim.fail_with_status(503, times=None),
        sim.answer_html,
        sim.answer_malformed_json,
    ]
    for fault in faults:
        renewing_client.clear_cache()
        fault()
        try:
            renewing_client.get_call_recording(SUPPORT_LINE)
        except UpstreamError as error:
            errors.append(error)
        sim.clear_faults()
    sim.revoke_refresh_token()
    sim.expire_access_token()
    with pytest.raises(AuthenticationFailed) as refused:
        renewing_client.get_call_recording(HELP_DESK_LONDON)
    errors.append(refused.value)

    assert len(errors) == 6
    assert sim.issued_tokens  # renewal happened, so its new tokens are in the check too
    assert_no_secret(caplog.text, sim)
    for caught in errors:
        assert_no_secret(error_texts(caught), sim)
    assert "/callRecording" in caplog.text  # calls are logged, just without secrets


def test_concurrent_lookups_on_a_cold_cache_fetch_the_list_once(
    sim: SimulatedWebex, make_client: Callable[..., WebexClient]
) -> None:
    import threading

    client = make_client()
    sim.answer_slowly(0.2, times=1)  # the first page is slow, so the other lookups arrive meanwhile
    start = threading.Barrier(5)
    found: list[int] = []

    def lookup(query: str) -> None:
        start.wait()
        found.append(len(client.find_virtual_lines(query)))

    threads = [threading.Thread(target=lookup, args=(q,)) for q in ("1000", "1002", "1003", "1004", "2001")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [1, 1, 1, 1, 1]
    assert len(sim.list_requests()) == 3  # one listing of three pages of four, not five listings
