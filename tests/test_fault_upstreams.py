"""Every upstream failing in every way: the bot acks in time, says which system failed, and then works again.

Upstreams: the Media Repository (pause on approval, resume by command), Webex (`/recording settings`) and
the Slack Web API (posting the approval card). Faults: refused connection, timeout, HTTP 500/502/503,
429 with Retry-After, malformed XML/JSON, an HTML page, an empty body.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.models import RequestState
from bot.sandbox.simulators.base import RecordedRequest, Reply
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import SimulatedWebex
from tests.conftest import (
    AGENT,
    LEAD,
    RECORDER_API_KEY,
    RECORDER_PASSWORD,
    RECORDER_USER,
    Running,
)
from tests.support.pauses import buttons, card_text, cards, wait_for_state, wait_until
from tests.support.processes import acked_in_time, free_port
from tests.support.slack_requests import TEAM

CALL_8856 = DEMO_CALLS[0][0]
HTML_ERROR_PAGE = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


class ScriptedMediaRepository(SimulatedRecordingSystem):
    """The Media Repository simulator, plus canned answers for faults it has no switch for (502, 429)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._scripted: deque[Reply] = deque()
        self._scripted_lock = threading.Lock()

    def answer_next_mute(self, reply: Reply) -> None:
        with self._scripted_lock:
            self._scripted.append(reply)

    def handle(self, request: RecordedRequest) -> Reply:
        if request.params.get("action") == "MuteRecording":
            with self._scripted_lock:
                scripted = self._scripted.popleft() if self._scripted else None
            if scripted is not None:
                return scripted
        return super().handle(request)


def _media_repository(port: int = 0) -> ScriptedMediaRepository:
    return ScriptedMediaRepository(
        api_key=RECORDER_API_KEY, username=RECORDER_USER, password=RECORDER_PASSWORD, calls=DEMO_CALLS,
        slow_seconds=1.5, port=port,
    )  # fmt: skip


@pytest.fixture
def recording_system() -> Iterator[ScriptedMediaRepository]:
    """Overrides conftest's recording_system (make_config points the bot at it) with the scriptable one."""
    with _media_repository() as simulated:
        yield simulated


def _ask(running: Running, slack: SimulatedSlack, extension: str) -> int:
    before = len(cards(slack))
    acked_in_time(lambda: running.sender.command(f"pause {extension} 5m customer reads a card number", user=AGENT))
    card = wait_until(lambda: len(cards(slack)) > before and cards(slack)[-1], what="a new approval card")
    return int(buttons(card)[0]["value"])


def _card_of(slack: SimulatedSlack, request_id: int) -> dict[str, Any]:
    card = next(c for c in cards(slack) if c["text"].startswith(f"Pause request #{request_id} "))
    current = slack.message(card["channel"], card["ts"])
    assert current is not None
    return current


def _approve(running: Running, slack: SimulatedSlack, request_id: int) -> None:
    ts = _card_of(slack, request_id)["ts"]
    acked_in_time(lambda: running.sender.click("recording_approve", str(request_id), user=LEAD, message_ts=ts))


# -- the Media Repository --------------------------------------------------------------------------

MEDIA_FAULTS: dict[str, tuple[Callable[[ScriptedMediaRepository], None], str]] = {
    "refused": (lambda sim: None, "refused the connection"),
    "timeout": (lambda sim: sim.fail_next("slow"), "did not answer within 1 s"),
    "http_500": (lambda sim: sim.fail_next("http_500"), "answered with an error (HTTP 500)"),
    "http_502": (
        lambda sim: sim.answer_next_mute(Reply(status=502, body=HTML_ERROR_PAGE, content_type="text/html")),
        "not reachable right now (HTTP 502)",
    ),
    "http_503": (lambda sim: sim.fail_next("http_503"), "not reachable right now (HTTP 503)"),
    "http_429_retry_after": (
        lambda sim: sim.answer_next_mute(
            Reply(status=429, body="Too Many Requests", content_type="text/plain", headers={"Retry-After": "30"})
        ),
        "asked the bot to slow down",
    ),
    "malformed_xml": (lambda sim: sim.fail_next("malformed_xml"), "malformed XML"),
    "html_page": (lambda sim: sim.fail_next("html_page"), "sent a web page instead of an API answer"),
    "empty_body": (lambda sim: sim.fail_next("empty_body"), "sent an empty answer"),
}
# No usable answer: the pause may have happened anyway, so the bot sends a resume to be safe.
NO_ANSWER = {"timeout", "http_502", "http_503"}


@dataclass
class MediaFault:
    name: str
    running: Running
    says: str  # what the user is shown, after "Recording system: "
    recover: Callable[[], ScriptedMediaRepository]  # the healthy recording system the bot reaches afterwards


@pytest.fixture
def media_fault(
    request: pytest.FixtureRequest, start_bot: Callable[..., Running], recording_system: ScriptedMediaRepository
) -> Iterator[MediaFault]:
    """A running bot whose next MuteRecording fails as `request.param` says. For a refused connection the bot
    points at a dead port, and `recover()` starts a recording system there."""
    name: str = request.param
    inject, says = MEDIA_FAULTS[name]
    revived: list[ScriptedMediaRepository] = []
    if name == "refused":
        dead_port = free_port()
        running = start_bot(media_repository_url=f"http://127.0.0.1:{dead_port}")

        def recover() -> ScriptedMediaRepository:
            revived.append(_media_repository(port=dead_port).start())
            return revived[-1]
    else:
        running = start_bot()
        inject(recording_system)

        def recover() -> ScriptedMediaRepository:
            return recording_system

    yield MediaFault(name, running, says, recover)
    for simulated in revived:
        simulated.stop()


@pytest.mark.parametrize("media_fault", list(MEDIA_FAULTS), indirect=True)
def test_media_repository_fault_on_approval_fails_the_request_on_its_card_then_the_next_pause_works(
    media_fault: MediaFault, slack: SimulatedSlack, recording_system: ScriptedMediaRepository
) -> None:
    running, says = media_fault.running, media_fault.says
    request_id = _ask(running, slack, "8856")
    _approve(running, slack, request_id)

    failed = wait_for_state(running.bot, request_id, RequestState.FAILED, timeout=8)
    assert failed.error is not None and failed.error.startswith("Recording system: ") and says in failed.error
    wait_until(lambda: "the pause failed" in card_text(_card_of(slack, request_id)), what="the card to show it")
    card = _card_of(slack, request_id)
    assert "the pause failed: Recording system: " in card_text(card) and says in card_text(card)
    assert [b["action_id"] for b in buttons(card)] == ["recording_retry", "recording_abandon"]
    assert RECORDER_API_KEY not in card_text(card)
    slack.wait_for_call("chat.postMessage", containing="the pause failed")  # the requester is told privately
    # One pause was attempted upstream, never retried by itself; after no answer, a resume follows to be safe,
    # so a failed pause never leaves the recording paused with nothing to end it.
    if media_fault.name == "refused":
        expected = []  # nothing listened; the bot's calls never arrived anywhere
    elif media_fault.name in NO_ANSWER:
        expected = [("8856", "3"), ("8856", "0")]
    else:
        expected = [("8856", "3")]
    assert [(c["extension"], c["mute"]) for c in recording_system.mute_calls()] == expected
    assert recording_system.mute_state(CALL_8856) == 0

    upstream = media_fault.recover()
    before = len(upstream.mute_calls())
    next_id = _ask(running, slack, "8857")
    _approve(running, slack, next_id)
    wait_for_state(running.bot, next_id, RequestState.ACTIVE)
    assert [(c["extension"], c["mute"]) for c in upstream.mute_calls()[before:]] == [("8857", "3")]
    wait_until(lambda: "Recording paused until" in card_text(_card_of(slack, next_id)), what="the next card paused")


def test_a_resume_sent_to_be_safe_and_refused_is_sent_again_until_the_recording_is_resumed(
    start_bot: Callable[..., Running], slack: SimulatedSlack, recording_system: ScriptedMediaRepository
) -> None:
    """The MuteRecording gets no answer in time but pauses the call (the server did the work); the resume
    sent to be safe is refused. Nothing else would ever end that pause: the scheduler sends the resume again
    until the recording system takes it, and the request stays failed, for an approver to retry."""
    running = start_bot()
    recording_system.fail_next("slow")  # the pause: done by the server, answered too late
    recording_system.fail_next("http_500")  # the resume sent to be safe: refused once
    request_id = _ask(running, slack, "8856")
    _approve(running, slack, request_id)

    wait_for_state(running.bot, request_id, RequestState.FAILED, timeout=8)
    wait_until(lambda: recording_system.mute_state(CALL_8856) == 0, timeout=8, what="the recording resumed")
    assert [(c["extension"], c["mute"]) for c in recording_system.mute_calls()] == [
        ("8856", "3"), ("8856", "0"), ("8856", "0"),
    ]  # fmt: skip
    assert wait_for_state(running.bot, request_id, RequestState.FAILED).resumed_at is None
    wait_until(lambda: "the pause failed" in card_text(_card_of(slack, request_id)), what="the card to show it")
    assert [b["action_id"] for b in buttons(_card_of(slack, request_id))] == ["recording_retry", "recording_abandon"]
    wait_until(lambda: not running.bot.services.pauses.has_unwritten, what="nothing more owed")


def test_a_resume_owed_to_be_safe_survives_a_restart_and_is_sent_until_the_recording_is_resumed(
    start_bot: Callable[..., Running], slack: SimulatedSlack, recording_system: ScriptedMediaRepository
) -> None:
    """As above, but the recording system refuses every resume until the bot has restarted: the resume owed
    is kept in the database (not only in the stopped process's memory), and the restarted bot sends it."""
    running = start_bot()
    recording_system.fail_next("slow")
    recording_system.fail_next("http_500", times=1_000)  # every resume, until the faults are cleared
    request_id = _ask(running, slack, "8856")
    _approve(running, slack, request_id)
    wait_for_state(running.bot, request_id, RequestState.FAILED, timeout=8)
    wait_until(lambda: len(recording_system.mute_calls()) >= 2, what="the refused resume")
    assert recording_system.mute_state(CALL_8856) == 3  # paused, with nothing on record to end it
    owed = running.bot.database.one("SELECT resume_owed_since FROM pause_requests WHERE id = ?", [request_id])
    assert owed is not None and owed["resume_owed_since"] is not None

    running.served.stop()
    recording_system.clear_faults()
    running.served.start()

    wait_until(lambda: recording_system.mute_state(CALL_8856) == 0, timeout=8, what="the resume after the restart")
    wait_until(lambda: not running.bot.services.pauses.has_unwritten, what="nothing more owed")
    paid = running.bot.database.one("SELECT resume_owed_since FROM pause_requests WHERE id = ?", [request_id])
    assert paid is not None and paid["resume_owed_since"] is None
    assert wait_for_state(running.bot, request_id, RequestState.FAILED).resumed_at is None
    assert all(c["mute"] == "0" for c in recording_system.mute_calls()[1:])  # nothing paused it again


@pytest.mark.parametrize("media_fault", list(MEDIA_FAULTS), indirect=True)
def test_media_repository_fault_on_resume_command_is_told_privately_then_the_next_resume_works(
    media_fault: MediaFault, slack: SimulatedSlack
) -> None:
    running = media_fault.running
    acked_in_time(lambda: running.sender.command("resume 8856", user=AGENT))
    (reply,) = slack.wait_for_call("response_url", containing="Recording system", timeout=8)
    assert reply.payload["response_type"] == "ephemeral"
    assert media_fault.says in reply.rendered
    assert "Something went wrong" not in reply.rendered

    upstream = media_fault.recover()
    before = len(upstream.mute_calls())
    acked_in_time(lambda: running.sender.command("resume 8857", user=AGENT))
    slack.wait_for_call("response_url", containing="sent a resume for the recording")
    assert [(c["extension"], c["mute"]) for c in upstream.mute_calls()[before:]] == [("8857", "0")]


# -- Webex -----------------------------------------------------------------------------------------

WEBEX_FAULTS: dict[str, tuple[Callable[[SimulatedWebex], None], str]] = {
    "refused": (lambda sim: None, "Webex did not answer (ConnectError)"),
    "timeout": (lambda sim: sim.answer_slowly(2.0, times=1), "did not answer in time"),
    "http_500": (lambda sim: sim.fail_with_status(500, times=None), "not working right now (HTTP 500)"),
    # 502 and 504 take the same path (retried with backoff, then reported) as this one.
    "http_503": (lambda sim: sim.fail_with_status(503, times=None), "(HTTP 503, still after 3 retries)"),
    # Retry-After: 0 keeps the test quick; that a real wait is honoured is shown by the passing-429 test below.
    "http_429_retry_after": (
        lambda sim: sim.fail_with_status(429, times=None, retry_after=0),
        "rate-limiting the bot (HTTP 429) and still did after 3 retries",
    ),
    "malformed_json": (lambda sim: sim.answer_malformed_json(times=1), "malformed JSON"),
    "html_page": (lambda sim: sim.answer_html(times=1), "web page instead of JSON"),
    "empty_body": (lambda sim: sim.answer_empty(times=1), "empty answer"),
}


@pytest.mark.parametrize("fault", list(WEBEX_FAULTS))
def test_webex_fault_on_settings_is_told_privately_naming_webex_then_the_next_lookup_works(
    start_bot: Callable[..., Running], slack: SimulatedSlack, webex: SimulatedWebex, fault: str
) -> None:
    inject, says = WEBEX_FAULTS[fault]
    upstream = webex
    revived: SimulatedWebex | None = None
    if fault == "refused":
        dead_port = free_port()
        running = start_bot(webex_api_url=f"http://127.0.0.1:{dead_port}/v1")
    else:
        running = start_bot()
        inject(webex)
    try:
        acked_in_time(lambda: running.sender.command("settings 1002", user=AGENT))
        (reply,) = slack.wait_for_call("response_url", containing="Webex", timeout=10)
        assert reply.payload["response_type"] == "ephemeral"
        assert says in reply.rendered
        assert "Something went wrong" not in reply.rendered
        if fault == "refused":
            assert webex.requests == []
            upstream = revived = SimulatedWebex(port=dead_port).start()
        else:
            assert webex.requests, "the fault never reached Webex"
            webex.clear_faults()

        before = len(upstream.requests)
        acked_in_time(lambda: running.sender.command("settings 1002", user=AGENT))
        _kind_and_text = slack.wait_for_call("response_url", containing="Sales Queue", timeout=10)[0]
        assert "Always with Pause/Resume" in _kind_and_text.rendered
        assert any(r.path.endswith("/callRecording") for r in upstream.requests[before:])
    finally:
        if revived is not None:
            revived.stop()


@pytest.mark.parametrize(
    ("status", "retry_after", "at_least"),
    [(429, 1, 0.9), (502, None, 0.4), (503, None, 0.4)],
    ids=["http_429_retry_after", "http_502", "http_503"],
)
def test_a_passing_webex_429_or_5xx_is_retried_after_a_wait_and_the_answer_arrives(
    start_bot: Callable[..., Running],
    slack: SimulatedSlack,
    webex: SimulatedWebex,
    status: int,
    retry_after: int | None,
    at_least: float,
) -> None:
    running = start_bot()
    webex.fail_with_status(status, times=1, retry_after=retry_after)
    acked_in_time(lambda: running.sender.command("settings 1002", user=AGENT))
    reply = slack.wait_for_call("response_url", containing="Sales Queue", timeout=10)[0]
    assert reply.payload["response_type"] == "in_channel"
    assert len(webex.api_requests()) >= 2
    assert running.served.clock.waits and running.served.clock.waits[0] >= at_least  # Retry-After, or a backoff
    assert slack.calls("response_url") == [reply]  # one answer, no error before it


# -- the Slack Web API -----------------------------------------------------------------------------

SLACK_FAULTS: dict[str, tuple[list[Reply], str]] = {
    "http_500": ([Reply(status=500, body="Internal Server Error", content_type="text/plain")], "approval card"),
    "http_502": ([Reply(status=502, body=HTML_ERROR_PAGE, content_type="text/html")], "approval card"),
    "http_503": ([Reply(status=503, body='{"ok": false, "error": "service_unavailable"}')], "service_unavailable"),
    "http_429_retries_exhausted": (
        [Reply(status=429, body='{"ok": false, "error": "ratelimited"}', headers={"Retry-After": "0"})] * 3,
        "ratelimited",
    ),
    "invalid_json": ([Reply(body='{"ok": tru')], "approval card"),
    "html_page": ([Reply(body=HTML_ERROR_PAGE, content_type="text/html")], "approval card"),
    "empty_body": ([Reply(body=b"")], "approval card"),
}


@pytest.mark.parametrize("fault", list(SLACK_FAULTS))
def test_slack_fault_posting_the_card_is_told_via_response_url_and_nothing_is_left_pending(
    start_bot: Callable[..., Running], slack: SimulatedSlack, recording_system: ScriptedMediaRepository, fault: str
) -> None:
    replies, says = SLACK_FAULTS[fault]
    running = start_bot()
    for reply in replies:
        slack.fail_next("chat.postMessage", reply)
    acked_in_time(lambda: running.sender.command("pause 8856 5m card number", user=AGENT))

    (told,) = slack.wait_for_call("response_url", containing="Slack", timeout=8)
    assert told.payload["response_type"] == "ephemeral"
    assert says in told.rendered and "ask again" in told.rendered
    assert "Something went wrong" not in told.rendered
    assert running.bot.services.pauses.open_requests(TEAM) == []
    assert running.bot.services.pauses.get(1).state is RequestState.ABANDONED  # type: ignore[union-attr]
    assert len(slack.calls("chat.postMessage")) == len(replies)
    assert recording_system.requests == []

    # The next request is served normally: a card, a pending request, a private confirmation.
    request_id = _ask(running, slack, "8856")
    slack.wait_for_call("response_url", containing=f"Pause request #{request_id} is waiting for an approver")
    assert [r.id for r in running.bot.services.pauses.open_requests(TEAM)] == [request_id]


@pytest.mark.slow
# Ten seconds of waiting for Slack, the same on either engine: the request's state on both is covered above.
@pytest.mark.engines("sqlite")
def test_slack_not_answering_the_card_post_in_time_is_told_and_nothing_is_left_pending(
    start_bot: Callable[..., Running], slack: SimulatedSlack
) -> None:
    # The bot waits 1 s for Slack here instead of its usual 10 s.
    running = start_bot(slack_timeout_seconds=1)
    # The simulator holds its answer a little longer than the bot's Slack client waits.
    slack.fail_next("chat.postMessage", Reply(body='{"ok": true, "ts": "1.000001"}', delay_seconds=1.5))
    acked_in_time(lambda: running.sender.command("pause 8856 5m card number", user=AGENT))
    (told,) = slack.wait_for_call("response_url", containing="could not be reached", timeout=15)
    assert "approval card" in told.rendered and "ask again" in told.rendered
    assert running.bot.services.pauses.open_requests(TEAM) == []
    _ask(running, slack, "8856")


def test_slack_429_with_retry_after_on_the_card_is_retried_and_the_card_is_posted(
    start_bot: Callable[..., Running], slack: SimulatedSlack
) -> None:
    running = start_bot()
    slack.fail_next("chat.postMessage", Reply(status=429, body='{"ok": false, "error": "ratelimited"}',
                                              headers={"Retry-After": "1"}))  # fmt: skip
    request_id = _ask(running, slack, "8856")
    slack.wait_for_call("response_url", containing=f"Pause request #{request_id} is waiting for an approver")
    first, second = slack.calls("chat.postMessage")[:2]
    assert second.at - first.at >= 0.9  # Retry-After honoured
    assert running.bot.services.pauses.get(request_id).state is RequestState.PENDING  # type: ignore[union-attr]
    assert len(cards(slack)) == 1


def test_slack_dropping_the_connection_once_is_retried_and_the_card_is_posted(
    start_bot: Callable[..., Running], slack: SimulatedSlack
) -> None:
    running = start_bot()
    slack.fail_next("chat.postMessage", Reply(drop=True))
    request_id = _ask(running, slack, "8856")
    slack.wait_for_call("response_url", containing=f"Pause request #{request_id} is waiting for an approver")
    # The dropped post and its retry (the approvers' DMs go to D… channels and are not counted).
    assert len([c for c in slack.calls("chat.postMessage") if not c.payload["channel"].startswith("D")]) == 2
    assert len(cards(slack)) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=500, body="Internal Server Error", content_type="text/plain"),
        Reply(status=503, body=HTML_ERROR_PAGE, content_type="text/html"),
        Reply(body='{"ok": tru'),
        Reply(body=b""),
    ],
    ids=["http_500", "http_503_html", "invalid_json", "empty_body"],
)
def test_a_card_update_lost_to_a_slack_fault_does_not_stop_the_pause_and_the_card_catches_up(
    start_bot: Callable[..., Running], slack: SimulatedSlack, recording_system: ScriptedMediaRepository, reply: Reply
) -> None:
    running = start_bot()
    request_id = _ask(running, slack, "8856")
    slack.fail_next("chat.update", reply)
    _approve(running, slack, request_id)
    wait_for_state(running.bot, request_id, RequestState.ACTIVE)
    assert [(c["extension"], c["mute"]) for c in recording_system.mute_calls()] == [("8856", "3")]
    # The card's update was lost once; the bot tries once more, so the card does not stay stale.
    wait_until(lambda: "Recording paused until" in card_text(_card_of(slack, request_id)), what="the card to catch up")
    assert buttons(_card_of(slack, request_id)) == []
    slack.wait_for_call("chat.postMessage", containing="was approved by")  # the requester is told
    assert [c.text for c in slack.calls("response_url") if "Something went wrong" in c.rendered] == []
