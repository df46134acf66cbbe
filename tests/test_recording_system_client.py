"""RecordingSystemClient against the simulated Media Repository over real loopback HTTP."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bot.clients.errors import (
    Ambiguous,
    AuthenticationFailed,
    NotFound,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnreachable,
)
from bot.clients.recording_system import (
    MUTE_MASK,
    RESUME_MASK,
    SYSTEM_NAME,
    MuteOutcome,
    RecordingSystemClient,
)
from bot.models import Channels, RecordingTarget, TargetKind
from bot.redaction import SecretRedactor
from bot.sandbox.simulators.recording_system import Fault, SimulatedRecordingSystem
from tests.support import web
from tests.support.processes import free_port

# Distinctive values, so a leak anywhere is easy to spot.
API_KEY = "APIKEY-9f8e7d6c-LEAKCHECK-5b4a3928"
USERNAME = "svc-recording-bot"
PASSWORD = "PASSWORD-Quokka-Marmalade-4471"

CALL_8856 = "3f2b8c1d-6a4e-4f0b-9c7d-1e2a3b4c5d6e"
CALL_8857 = "a7e4d2c9-1b3f-4e8a-8d6c-5f0e9b2a7c31"
CALL_8860_A = "c0d1e2f3-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
CALL_8860_B = "e9f8a7b6-c5d4-4e3f-a2b1-0c9d8e7f6a5b"
CALLS = [
    (CALL_8856, {"8856", "+14085551234"}),
    (CALL_8857, {"8857"}),
    (CALL_8860_A, {"8860", "+14085550199"}),
    (CALL_8860_B, {"8860", "8861"}),
]

EXT_8856 = RecordingTarget(TargetKind.EXTENSION, "8856")
EXT_8860 = RecordingTarget(TargetKind.EXTENSION, "8860")
EXT_NOBODY = RecordingTarget(TargetKind.EXTENSION, "4242")
BY_CALL_ID = RecordingTarget(TargetKind.CALL_ID, CALL_8857)


# One server per mode for the whole module (stopping one takes a server poll interval); each test
# gets it reset to the calls above with no faults, tokens or recorded requests.
@pytest.fixture(scope="module")
def _token_server() -> Iterator[SimulatedRecordingSystem]:
    server = SimulatedRecordingSystem(api_key=API_KEY, username=USERNAME, password=PASSWORD)
    with server:
        yield server


@pytest.fixture(scope="module")
def _key_only_server() -> Iterator[SimulatedRecordingSystem]:
    server = SimulatedRecordingSystem(api_key=API_KEY)
    with server:
        yield server


@pytest.fixture
def sim(_token_server: SimulatedRecordingSystem) -> SimulatedRecordingSystem:
    _token_server.reset(calls=CALLS)
    _token_server.slow_seconds = 1.0
    return _token_server


@pytest.fixture
def key_only_sim(_key_only_server: SimulatedRecordingSystem) -> SimulatedRecordingSystem:
    _key_only_server.reset(calls=CALLS)
    return _key_only_server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with web.client(timeout=2.0) as client:
        yield client


ClientFactory = Callable[..., RecordingSystemClient]


@pytest.fixture
def make_client(http: httpx.Client, sim: SimulatedRecordingSystem) -> ClientFactory:
    def make(**overrides: Any) -> RecordingSystemClient:
        arguments: dict[str, Any] = {
            "http": http,
            "base_url": sim.url + "/",
            "api_key": API_KEY,
            "username": USERNAME,
            "password": PASSWORD,
            # A private redactor, so tests neither depend on nor pollute the process-wide one.
            "redactor": SecretRedactor(),
        }
        arguments.update(overrides)
        return RecordingSystemClient(**arguments)

    return make


@pytest.fixture
def client(make_client: ClientFactory) -> RecordingSystemClient:
    return make_client()


def _assert_no_secret(text: str, sim: SimulatedRecordingSystem) -> None:
    for secret in (API_KEY, PASSWORD, *sim.issued_tokens()):
        assert secret not in text


def _assert_error_is_clean(error: UpstreamError, sim: SimulatedRecordingSystem) -> None:
    assert error.system == SYSTEM_NAME
    _assert_no_secret(str(error), sim)
    _assert_no_secret(error.user_message(), sim)
    _assert_no_secret(error.detail or "", sim)
    assert "apiKey=" not in str(error)


# -- what is sent --------------------------------------------------------------------------------


def test_pause_by_extension_sends_exactly_the_documented_parameters(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    outcome = client.pause(EXT_8856, Channels.BOTH)

    [token] = sim.issued_tokens()
    assert sim.mute_calls() == [
        {
            "action": "MuteRecording",
            "apiKey": API_KEY,
            "token": token,
            "responseType": "XML",
            "extension": "8856",
            "status": "ongoing",
            "mute": "3",
        }
    ]
    assert all(r.method == "POST" and r.path == "/verba/api" for r in sim.requests)
    # Credentials travel in the form body, never in the URL (URLs end up in access logs).
    assert all(not r.query for r in sim.requests)
    assert isinstance(outcome, MuteOutcome)
    assert outcome.mute == 3
    assert outcome.target == EXT_8856
    assert outcome.response_code == "0"
    assert 'code="0"' in outcome.detail
    assert outcome.elapsed_ms >= 0
    assert sim.mute_state(CALL_8856) == 3


def test_pause_by_call_id_sends_call_id_and_no_extension(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    client.pause(BY_CALL_ID, Channels.BOTH)

    [params] = sim.mute_calls()
    assert params["callID"] == CALL_8857
    assert "extension" not in params
    assert "status" not in params
    assert params["mute"] == "3"
    assert sim.mute_state(CALL_8857) == 3


@pytest.mark.parametrize(("channels", "mask"), [(Channels.CALLER, "1"), (Channels.CALLEE, "2")])
def test_pause_one_side_sends_its_channel_mask(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem, channels: Channels, mask: str
) -> None:
    outcome = client.pause(EXT_8856, channels)

    assert sim.mute_calls()[0]["mute"] == mask
    assert outcome.mute == MUTE_MASK[channels] == int(mask)


def test_resume_sends_mute_zero_and_unmutes_the_call(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    client.pause(EXT_8856, Channels.BOTH)
    outcome = client.resume(EXT_8856)

    assert [p["mute"] for p in sim.mute_calls()] == ["3", "0"]
    assert outcome.mute == RESUME_MASK == 0
    assert sim.mute_state(CALL_8856) == 0


def test_mute_mask_outside_two_bits_is_refused_before_anything_is_sent(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    with pytest.raises(ValueError, match="0-3"):
        client.mute_recording(EXT_8856, 4)
    assert sim.requests == []


def test_key_only_mode_sends_no_token_and_never_requests_one(
    http: httpx.Client, key_only_sim: SimulatedRecordingSystem
) -> None:
    client = RecordingSystemClient(
        http=http, base_url=key_only_sim.url, api_key=API_KEY, redactor=SecretRedactor()
    )

    client.pause(EXT_8856, Channels.BOTH)
    client.resume(EXT_8856)

    assert key_only_sim.token_requests() == []
    assert all("token" not in p for p in key_only_sim.mute_calls())
    assert len(key_only_sim.mute_calls()) == 2
    # The deployment check proves the key with a harmless resume, still without a token.
    assert "key-only mode; the API key is accepted" in client.verify_credentials()
    assert key_only_sim.token_requests() == []


# -- tokens --------------------------------------------------------------------------------------


def test_token_request_uses_basic_auth_and_the_api_key(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    client.pause(EXT_8856, Channels.BOTH)

    [token_request] = sim.token_requests()
    expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert token_request.params["apiKey"] == API_KEY
    assert "password" not in token_request.params


def test_token_is_cached_across_calls(client: RecordingSystemClient, sim: SimulatedRecordingSystem) -> None:
    client.pause(EXT_8856, Channels.BOTH)
    client.resume(EXT_8856)
    client.pause(BY_CALL_ID, Channels.CALLER)

    assert len(sim.token_requests()) == 1
    [token] = sim.issued_tokens()
    assert {p["token"] for p in sim.mute_calls()} == {token}


def test_threads_arriving_together_share_one_token(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: client.pause(EXT_8856, Channels.BOTH), range(8)))

    assert len(outcomes) == 8
    assert len(sim.token_requests()) == 1


def test_token_is_renewed_before_its_lifetime_ends(
    make_client: ClientFactory, sim: SimulatedRecordingSystem
) -> None:
    now = [1000.0]
    client = make_client(clock=lambda: now[0], token_lifetime_seconds=3600, token_renew_margin_seconds=300)

    client.pause(EXT_8856, Channels.BOTH)
    now[0] += 3299  # still outside the renewal margin
    client.resume(EXT_8856)
    assert len(sim.token_requests()) == 1

    now[0] += 2  # inside the last 300 s of the hour
    client.pause(EXT_8856, Channels.BOTH)

    assert len(sim.token_requests()) == 2
    first, second = sim.issued_tokens()
    assert [p["token"] for p in sim.mute_calls()] == [first, first, second]


def test_expired_token_answer_renews_once_and_retries_once(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    client.pause(EXT_8856, Channels.BOTH)
    sim.fail_next("expired_token")

    outcome = client.resume(EXT_8856)

    assert outcome.response_code == "0"
    assert len(sim.token_requests()) == 2
    first, second = sim.issued_tokens()
    assert [p["token"] for p in sim.mute_calls()] == [first, first, second]
    assert sim.mute_state(CALL_8856) == 0


@pytest.mark.parametrize("fault", ["expired_token", "http_401"])
def test_persistent_token_refusal_raises_authentication_failed_after_one_retry(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem, fault: Fault
) -> None:
    sim.fault = fault

    with pytest.raises(AuthenticationFailed) as caught:
        client.pause(EXT_8856, Channels.BOTH)

    assert type(caught.value) is AuthenticationFailed
    assert "tell a bot admin" in str(caught.value)
    assert len(sim.token_requests()) == 2
    assert len(sim.mute_calls()) == 2
    _assert_error_is_clean(caught.value, sim)


def test_wrong_password_is_an_authentication_failure(
    make_client: ClientFactory, sim: SimulatedRecordingSystem
) -> None:
    client = make_client(password="PASSWORD-Wrong-Wombat-0000")

    with pytest.raises(AuthenticationFailed, match="tell a bot admin") as caught:
        client.pause(EXT_8856, Channels.BOTH)

    assert sim.mute_calls() == []
    assert "PASSWORD-Wrong-Wombat-0000" not in str(caught.value)
    assert "PASSWORD-Wrong-Wombat-0000" not in (caught.value.detail or "")


def test_verify_credentials_requests_a_token(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    assert "token issued" in client.verify_credentials()
    assert len(sim.token_requests()) == 1
    # The only MuteRecording is the harmless probe: a resume for the nil call ID, which no call has.
    (probe,) = sim.mute_calls()
    assert (probe["callID"], probe["mute"]) == ("00000000-0000-0000-0000-000000000000", "0")


# -- refusals ------------------------------------------------------------------------------------


def test_no_ongoing_call_is_not_found(client: RecordingSystemClient, sim: SimulatedRecordingSystem) -> None:
    with pytest.raises(NotFound) as caught:
        client.pause(EXT_NOBODY, Channels.BOTH)

    assert str(caught.value) == "no ongoing call found for extension 4242 — the call may have ended"
    assert "Call not found" in (caught.value.detail or "")
    _assert_error_is_clean(caught.value, sim)


def test_ended_call_by_call_id_is_not_found(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    sim.end_call(CALL_8857)

    with pytest.raises(NotFound, match="may have ended"):
        client.pause(BY_CALL_ID, Channels.BOTH)


def test_two_calls_on_one_extension_is_ambiguous(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    with pytest.raises(Ambiguous) as caught:
        client.pause(EXT_8860, Channels.BOTH)

    assert str(caught.value) == (
        "more than one ongoing call on extension 8860, so it cannot tell which one to pause — pause by the call's "
        "ID, as the recording system's call list shows it (`/recording pause <call ID>`)"
    )
    assert sim.mute_state(CALL_8860_A) == sim.mute_state(CALL_8860_B) == 0


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("not_found", NotFound), ("multiple_calls", Ambiguous)],
)
def test_switchable_call_lookup_faults(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem, fault: Fault, error_type: type[Exception]
) -> None:
    sim.fail_next(fault)

    with pytest.raises(error_type, match="extension 8856"):
        client.pause(EXT_8856, Channels.BOTH)


def test_bad_api_key_is_a_configuration_problem_and_the_echoed_key_is_redacted(
    make_client: ClientFactory, sim: SimulatedRecordingSystem, key_only_sim: SimulatedRecordingSystem
) -> None:
    wrong_key = "APIKEY-WRONG-0badc0de-LEAKCHECK"
    client = make_client(base_url=key_only_sim.url, api_key=wrong_key, username=None, password=None)

    with pytest.raises(AuthenticationFailed) as caught:
        client.pause(EXT_8856, Channels.BOTH)

    error = caught.value
    assert "configuration problem — tell a bot admin" in str(error)
    assert "API key" in str(error)
    # The simulator echoes the key in its error text; the redactor must have masked it.
    assert "is not valid" in (error.detail or "")
    assert wrong_key not in (error.detail or "")
    assert wrong_key not in str(error)


def test_bad_api_key_fault_in_token_mode_is_not_retried(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    sim.fail_next("bad_api_key")

    with pytest.raises(AuthenticationFailed, match="tell a bot admin") as caught:
        client.pause(EXT_8856, Channels.BOTH)

    assert len(sim.token_requests()) == 1
    assert len(sim.mute_calls()) == 1
    _assert_error_is_clean(caught.value, sim)


def test_source_address_not_allowed_is_a_configuration_problem(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    sim.fail_next("address_not_allowed")

    with pytest.raises(AuthenticationFailed, match="address it calls from"):
        client.pause(EXT_8856, Channels.BOTH)


# -- answers that cannot be read, and no answer at all -------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        ("http_500", UpstreamBadResponse, "HTTP 500"),
        ("http_503", UpstreamUnreachable, "not reachable right now"),
        ("html_page", UpstreamBadResponse, "web page"),
        ("empty_body", UpstreamBadResponse, "empty answer"),
        ("malformed_xml", UpstreamBadResponse, "malformed XML"),
    ],
)
def test_unreadable_answers_are_reported_plainly(
    client: RecordingSystemClient,
    sim: SimulatedRecordingSystem,
    fault: Fault,
    error_type: type[UpstreamError],
    words: str,
) -> None:
    sim.fail_next(fault)

    with pytest.raises(error_type, match=words) as caught:
        client.pause(EXT_8856, Channels.BOTH)

    assert type(caught.value) is error_type
    assert len(sim.mute_calls()) == 1  # no retry for anything but a refused token
    _assert_error_is_clean(caught.value, sim)


def test_unknown_refusal_keeps_the_upstream_description(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem
) -> None:
    sim.fail_next("other_error")

    with pytest.raises(UpstreamRejected) as caught:
        client.pause(EXT_8856, Channels.BOTH)

    assert type(caught.value) is UpstreamRejected
    assert str(caught.value) == "refused the request: Recorder busy (code 20)"
    assert caught.value.user_message().startswith("Recording system: ")


def test_slow_answer_past_the_timeout_is_unreachable(sim: SimulatedRecordingSystem) -> None:
    sim.fail_next("slow")
    with web.client(timeout=0.3) as http:
        client = RecordingSystemClient(
            http=http,
            base_url=sim.url,
            api_key=API_KEY,
            username=USERNAME,
            password=PASSWORD,
            redactor=SecretRedactor(),
        )
        with pytest.raises(UpstreamUnreachable, match=r"did not answer within 0\.3 s") as caught:
            client.pause(EXT_8856, Channels.BOTH)

    _assert_error_is_clean(caught.value, sim)


def test_refused_connection_is_unreachable_and_names_the_setting(http: httpx.Client) -> None:
    client = RecordingSystemClient(
        http=http,
        base_url=f"http://127.0.0.1:{free_port()}",
        api_key=API_KEY,
        redactor=SecretRedactor(),
    )

    with pytest.raises(UpstreamUnreachable, match="refused the connection") as caught:
        client.pause(EXT_8856, Channels.BOTH)

    assert "MEDIA_REPOSITORY_URL" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in (caught.value.detail or "")


# -- secrets -------------------------------------------------------------------------------------


def test_no_secret_reaches_the_logs_or_any_error(
    client: RecordingSystemClient, sim: SimulatedRecordingSystem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[UpstreamError] = []

    client.pause(EXT_8856, Channels.BOTH)
    sim.fail_next("expired_token")
    client.resume(EXT_8856)
    faults: tuple[Fault, ...] = ("http_500", "html_page", "malformed_xml", "bad_api_key", "not_found")
    for fault in faults:
        sim.fail_next(fault)
        try:
            client.pause(EXT_8856, Channels.BOTH)
        except UpstreamError as error:
            errors.append(error)
    sim.fault = "expired_token"
    try:
        client.pause(EXT_8856, Channels.BOTH)
    except UpstreamError as last_error:
        errors.append(last_error)

    assert len(errors) == 6
    assert len(sim.issued_tokens()) == 3  # first, after the one-off expiry, after the persistent one
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "Media Repository MuteRecording" in logged  # the calls were logged, without credentials
    _assert_no_secret(logged, sim)
    for each in errors:
        _assert_error_is_clean(each, sim)


def test_demo_calls_give_one_call_two_calls_and_an_external_number(
    http: httpx.Client, key_only_sim: SimulatedRecordingSystem
) -> None:
    key_only_sim.reset()
    key_only_sim.seed_demo_calls()
    client = RecordingSystemClient(
        http=http, base_url=key_only_sim.url, api_key=API_KEY, redactor=SecretRedactor()
    )

    assert client.pause(RecordingTarget(TargetKind.EXTENSION, "8857"), Channels.BOTH).mute == 3
    assert client.pause(RecordingTarget(TargetKind.EXTENSION, "+14085551234"), Channels.BOTH).mute == 3
    with pytest.raises(Ambiguous):
        client.pause(RecordingTarget(TargetKind.EXTENSION, "8860"), Channels.BOTH)
