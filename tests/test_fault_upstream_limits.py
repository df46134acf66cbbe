"""Upstream answers the bot must not swallow whole: huge, endless, trickling, compressed into a bomb, nested
past any parser's depth, in an unknown encoding. Each stops early (the simulators count what they sent)
and becomes the client's own error, which reaches Slack naming the system, and the audit.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from bot.clients.errors import UpstreamUnreachable
from bot.clients.limits import AnswerLimits
from bot.clients.recording_system import RecordingSystemClient
from bot.models import RecordingTarget, Role, TargetKind
from bot.sandbox.simulators.base import RecordedRequest, Reply, StreamedBody
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    SimulatedWebex,
)
from tests.conftest import AGENT, RECORDER_API_KEY, RECORDER_PASSWORD, RECORDER_USER, Running
from tests.support import web
from tests.support.pauses import audit_rows, wait_until
from tests.support.processes import acked_in_time

FIFTY_MB = 50 * 1024 * 1024
CHUNK = b"<" + b"x" * (64 * 1024 - 1)
# What may have left the simulator when the client stops reading at the cap: the cap plus the socket buffers.
STOPPED_EARLY_BYTES = FIFTY_MB // 2


class ScriptedReplies:
    """Canned answers for the next requests whose path matches, ahead of the simulator's own answer."""

    def __init__(self) -> None:
        self._replies: deque[tuple[Callable[[RecordedRequest], bool], Reply]] = deque()
        self._lock = threading.Lock()

    def add(self, matches: Callable[[RecordedRequest], bool], reply: Reply) -> None:
        with self._lock:
            self._replies.append((matches, reply))

    def take(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            for entry in self._replies:
                if entry[0](request):
                    self._replies.remove(entry)
                    return entry[1]
        return None


class OddMediaRepository(SimulatedRecordingSystem):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scripted = ScriptedReplies()

    def answer_next_mute(self, reply: Reply) -> None:
        self.scripted.add(lambda r: r.params.get("action") == "MuteRecording", reply)

    def handle(self, request: RecordedRequest) -> Reply:
        return self.scripted.take(request) or super().handle(request)


class OddWebex(SimulatedWebex):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scripted = ScriptedReplies()
        self.token_expires_in: Any = None

    def answer_next(self, path_suffix: str, reply: Reply) -> None:
        self.scripted.add(lambda r: r.path.endswith(path_suffix), reply)

    def handle(self, request: RecordedRequest) -> Reply:
        scripted = self.scripted.take(request)
        if scripted is not None:
            return scripted
        reply = super().handle(request)
        if request.path.endswith("/access_token") and reply.status == 200 and self.token_expires_in is not None:
            answer = json.loads(reply.body)
            answer["expires_in"] = self.token_expires_in
            reply.body = json.dumps(answer)
        return reply


@pytest.fixture
def recording_system() -> Iterator[OddMediaRepository]:
    simulated = OddMediaRepository(
        api_key=RECORDER_API_KEY, username=RECORDER_USER, password=RECORDER_PASSWORD, calls=DEMO_CALLS
    )
    with simulated:
        yield simulated


@pytest.fixture
def webex() -> Iterator[OddWebex]:
    with OddWebex() as simulated:
        yield simulated


@pytest.fixture
def start_bot_roles() -> Sequence[tuple[str, Role]]:
    """Only the agent, who asks: no approver is told of anything here."""
    return ((AGENT, Role.REQUESTER),)


def _gzip_bomb() -> bytes:
    # 50 MB of spaces pack into about 50 KB.
    return gzip.compress(b" " * FIFTY_MB, compresslevel=9)


def _xml(body: str) -> Reply:
    return Reply(body=body, content_type="text/xml; charset=utf-8")


# -- the Media Repository ------------------------------------------------------------------------------------

MEDIA_ANSWERS: dict[str, tuple[Callable[[], Reply], str]] = {
    "50 MB announced": (
        lambda: Reply(content_type="text/xml", stream=StreamedBody(CHUNK, FIFTY_MB // len(CHUNK))),
        "sent an answer larger than 4 MB; the bot stopped reading it",
    ),
    "50 MB not announced": (
        lambda: Reply(content_type="text/xml", stream=StreamedBody(CHUNK, FIFTY_MB // len(CHUNK), announce=False)),
        "sent an answer larger than 4 MB; the bot stopped reading it",
    ),
    "endless": (
        lambda: Reply(content_type="text/xml", stream=StreamedBody(CHUNK, None)),
        "sent an answer larger than 4 MB; the bot stopped reading it",
    ),
    "gzip bomb": (
        lambda: Reply(body=_gzip_bomb(), content_type="text/xml", headers={"Content-Encoding": "gzip"}),
        "sent an answer larger than 4 MB; the bot stopped reading it",
    ),
    "broken compression": (
        lambda: Reply(body=b"not gzip at all", content_type="text/xml", headers={"Content-Encoding": "gzip"}),
        "sent an answer the bot cannot decode (DecodingError)",
    ),
    "unknown XML encoding": (
        lambda: _xml('<?xml version="1.0" encoding="x-no-such-charset"?><VerbaApi><Response code="0"/></VerbaApi>'),
        "sent an answer the bot cannot read (XML the parser refused (LookupError))",
    ),
    "XML nested 20,000 deep": (
        lambda: _xml("<VerbaApi>" + "<a>" * 20_000 + "</a>" * 20_000 + "</VerbaApi>"),
        "sent XML without a result code",
    ),
}


@pytest.mark.parametrize("case", list(MEDIA_ANSWERS))
def test_an_odd_media_repository_answer_stops_early_and_is_told_naming_the_system(
    start_bot: Callable[..., Running], slack: SimulatedSlack, recording_system: OddMediaRepository, case: str
) -> None:
    reply, says = MEDIA_ANSWERS[case]
    running = start_bot()
    recording_system.answer_next_mute(reply())
    started = time.perf_counter()
    acked_in_time(lambda: running.sender.command("resume 8856", user=AGENT))
    (told,) = slack.wait_for_call("response_url", containing="Recording system", timeout=10)
    assert time.perf_counter() - started < 5
    assert told.payload["response_type"] == "ephemeral"
    assert f"Recording system: {says}" in told.rendered
    assert "Something went wrong" not in told.rendered
    (row,) = wait_until(lambda: audit_rows(running.bot, "command.resume"), what="the resume's audit row")
    assert row.outcome == "error" and says in row.details
    time.sleep(0.2)  # the simulator notices the client hung up
    assert recording_system.streamed_bytes < STOPPED_EARLY_BYTES

    # The recording system answers normally again, and so does the bot.
    acked_in_time(lambda: running.sender.command("resume 8857", user=AGENT))
    slack.wait_for_call("response_url", containing="sent a resume for the recording")


def test_a_trickling_media_repository_answer_is_given_up_after_its_time() -> None:
    with OddMediaRepository(api_key=RECORDER_API_KEY, calls=DEMO_CALLS) as simulated, web.client(timeout=1) as http:
        # A byte every 0.1 s: each well within the read timeout, the whole answer never complete.
        simulated.answer_next_mute(
            Reply(content_type="text/xml", stream=StreamedBody(b" ", None, interval_seconds=0.1, announce=False))
        )
        client = RecordingSystemClient(
            http=http, base_url=simulated.url, api_key=RECORDER_API_KEY, answer_limits=AnswerLimits(max_seconds=1)
        )
        started = time.perf_counter()
        with pytest.raises(UpstreamUnreachable) as caught:
            client.resume(RecordingTarget(TargetKind.EXTENSION, "8856"))
        assert 1 <= time.perf_counter() - started < 2
        assert caught.value.user_message() == (
            "Recording system: was still sending its answer after 1 s; the bot stopped waiting"
        )
        assert simulated.streamed_bytes < 20


# -- Webex ---------------------------------------------------------------------------------------------------

WEBEX_ANSWERS: dict[str, tuple[str, Callable[[], Reply], str]] = {
    "50 MB announced": (
        "/callRecording",
        lambda: Reply(stream=StreamedBody(CHUNK, FIFTY_MB // len(CHUNK))),
        "Webex sent an answer larger than 4 MB; the bot stopped reading it",
    ),
    "endless list page": (
        "/config/numbers",
        lambda: Reply(stream=StreamedBody(CHUNK, None)),
        "Webex sent an answer larger than 4 MB; the bot stopped reading it",
    ),
    "gzip bomb": (
        "/callRecording",
        lambda: Reply(body=_gzip_bomb(), headers={"Content-Encoding": "gzip"}),
        "Webex sent an answer larger than 4 MB; the bot stopped reading it",
    ),
    "broken compression": (
        "/callRecording",
        lambda: Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}),
        "Webex sent an answer the bot cannot decode (broken compression)",
    ),
    "JSON nested 100,000 deep": (
        "/callRecording",
        lambda: Reply(body="[" * 100_000 + "]" * 100_000),
        "Webex sent malformed JSON (nested too deeply)",
    ),
    "error answer nested 100,000 deep": (
        "/callRecording",
        lambda: Reply(status=500, body='{"message": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "Webex is not working right now (HTTP 500)",
    ),
    "next-page link that is no URL": (
        "/config/numbers",
        lambda: Reply(body='{"phoneNumbers": []}', headers={"Link": '<http://[::1>; rel="next"'}),
        "Webex sent a next-page link that is not a valid URL",
    ),
    "settings in the wrong shape": (
        "/callRecording",
        lambda: Reply(body='{"enabled": {"deep": [[[[]]]]}, "record": 42}'),
        "Webex sent call-recording settings in a shape the bot cannot read",
    ),
}


@pytest.mark.parametrize("case", list(WEBEX_ANSWERS))
def test_an_odd_webex_answer_stops_early_and_is_told_naming_webex(
    start_bot: Callable[..., Running], slack: SimulatedSlack, webex: OddWebex, case: str
) -> None:
    path, reply, says = WEBEX_ANSWERS[case]
    running = start_bot()
    webex.answer_next(path, reply())
    started = time.perf_counter()
    acked_in_time(lambda: running.sender.command("settings 1002", user=AGENT))
    (told,) = slack.wait_for_call("response_url", containing="Webex", timeout=10)
    assert time.perf_counter() - started < 5
    assert told.payload["response_type"] == "ephemeral"
    assert says in told.rendered
    assert "Something went wrong" not in told.rendered
    (row,) = wait_until(lambda: audit_rows(running.bot, "command.settings"), what="the settings audit row")
    assert row.outcome == "error" and says in row.details
    time.sleep(0.2)
    assert webex.streamed_bytes < STOPPED_EARLY_BYTES

    acked_in_time(lambda: running.sender.command("settings 1002", user=AGENT))
    slack.wait_for_call("response_url", containing="Sales Queue", timeout=10)


@pytest.mark.parametrize("expires_in", [float("inf"), float("nan"), 1e300, -5])
def test_a_token_answer_with_an_impossible_lifetime_is_used_for_an_hour_instead_of_failing(
    start_bot: Callable[..., Running], slack: SimulatedSlack, webex: OddWebex, expires_in: float
) -> None:
    webex.token_expires_in = expires_in
    running = start_bot(
        webex_access_token=None,
        webex_refresh_token=DEFAULT_REFRESH_TOKEN,
        webex_client_id=DEFAULT_CLIENT_ID,
        webex_client_secret=DEFAULT_CLIENT_SECRET,
    )
    acked_in_time(lambda: running.sender.command("settings 1002", user=AGENT))
    told = slack.wait_for_call("response_url", containing="Sales Queue", timeout=10)[0]
    assert "Always with Pause/Resume" in told.rendered
    assert len(webex.token_requests()) == 1
