"""Clients that misbehave at the HTTP level, against the real server process the Procfile starts.

Slow or stalled clients (headers sent a byte at a time, a body that never comes, a connection that
sends nothing, a client that never reads its answer nor closes) must not take the server's threads:
a signed command and the health check are answered at once while dozens of them hang on. Requests
malformed at the HTTP level are refused with a 4xx and one log line, never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.sandbox.simulators.slack import SimulatedSlack
from bot.serving.front_app import HEALTH_SECONDS
from bot.serving.settings import MAX_BODY_BYTES
from bot.serving.worker import MAX_BUFFERED_REQUEST_BYTES, MAX_REQUEST_HEADER_BYTES, REQUEST_READ_SECONDS
from tests.conftest import ADMIN, SIGNING_SECRET, ServedBot
from tests.support import web
from tests.support.pauses import wait_until
from tests.support.processes import BotProcess, procfile_environment
from tests.support.slack_requests import SlackSender, slack_signature

# How many of each kind of misbehaving client: more than the server's 8 threads, as in the incident.
CROWD = 12
FRONT_THREADS = 8
ANSWERED_WITHIN_SECONDS = 2.0


@pytest.fixture
def server(tmp_path: Path, slack: SimulatedSlack) -> Iterator[BotProcess]:
    process = BotProcess(env=procfile_environment(tmp_path, slack), cwd=tmp_path, log_path=tmp_path / "server.log")
    process.start()
    yield process
    process.stop()


class Crowd:
    """Raw sockets to the server, each misbehaving in its own way; closed together at the end."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self._address = (host, int(port))
        self.sockets: list[socket.socket] = []
        self._dribbling: list[socket.socket] = []
        self._stop = threading.Event()
        self._dribbler = threading.Thread(target=self._dribble, daemon=True)

    def connect(self, first_bytes: bytes = b"") -> socket.socket:
        sock = socket.create_connection(self._address, timeout=5)
        self.sockets.append(sock)
        if first_bytes:
            sock.sendall(first_bytes)
        return sock

    def dribble(self, sock: socket.socket) -> None:
        """Send one more header byte on `sock` every 0.2 s, as a slowloris client does."""
        self._dribbling.append(sock)
        if not self._dribbler.is_alive():
            self._dribbler.start()

    def _dribble(self) -> None:
        while not self._stop.wait(0.2):
            for sock in list(self._dribbling):
                try:
                    sock.sendall(b"a")
                except OSError:
                    self._dribbling.remove(sock)

    def close(self) -> None:
        self._stop.set()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def crowd(server: BotProcess) -> Iterator[Crowd]:
    clients = Crowd(server.url)
    yield clients
    clients.close()


def _answer(sock: socket.socket, *, timeout: float) -> bytes:
    """Everything the server sends on `sock` until it closes the connection."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server neither answered nor closed within {timeout} s; got {received[:200]!r}")
    return received


def _signed_command_and_health_are_prompt(server: BotProcess, slack: SimulatedSlack) -> None:
    sender = SlackSender(base_url=server.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    try:
        started = time.perf_counter()
        assert sender.command("help", user=ADMIN).status_code == 200
        assert time.perf_counter() - started < ANSWERED_WITHIN_SECONDS
        started = time.perf_counter()
        health = web.get(server.url + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert time.perf_counter() - started < ANSWERED_WITHIN_SECONDS
    finally:
        sender.close()


def test_slow_stalled_and_silent_clients_do_not_stop_a_signed_command_or_the_health_check(
    server: BotProcess, crowd: Crowd, slack: SimulatedSlack
) -> None:
    for _ in range(CROWD):
        # Headers a byte at a time, never finished.
        crowd.dribble(crowd.connect(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slow: "))
        # Headers complete, the body promised and never sent.
        crowd.connect(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        # A connection that says nothing at all.
        crowd.connect()
        # A request answered with "Connection: close" by a client that neither reads the answer nor closes.
        crowd.connect(b"GET /healthz HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n\r\n")
        # A whole request on a kept-alive connection, then the next one a byte at a time.
        crowd.dribble(crowd.connect(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\nGET /healthz HTTP/1.1\r\nX-Slow: "))
    time.sleep(0.5)  # the server has taken them all in

    for _ in range(3):
        _signed_command_and_health_are_prompt(server, slack)
    slack.wait_for_call("response_url", count=3, containing="/recording pause", timeout=10)
    assert "Traceback" not in server.log()


def test_requests_malformed_at_the_http_level_are_refused_with_a_4xx_and_one_log_line(
    server: BotProcess, crowd: Crowd, slack: SimulatedSlack
) -> None:
    refusals = {
        "headers too large": (
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Big: " + b"a" * MAX_REQUEST_HEADER_BYTES + b"\r\n\r\n",
            b"HTTP/1.1 431 ",
        ),
        "body too large": (
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1),
            b"HTTP/1.1 413 ",
        ),
        "chunked body": (
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            b"HTTP/1.1 411 ",
        ),
        "length not a number": (
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 12abc\r\n\r\n",
            b"HTTP/1.1 400 ",
        ),
        "length of 300 digits": (
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: " + b"9" * 300 + b"\r\n\r\n",
            b"HTTP/1.1 400 ",
        ),
        "two different lengths": (
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 400 ",
        ),
    }
    sockets = {name: crowd.connect(request) for name, (request, _) in refusals.items()}
    slow = crowd.connect(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slow: ")
    crowd.dribble(slow)
    stalled = crowd.connect(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 1000\r\n\r\nxx")

    for name, sock in sockets.items():
        answer = _answer(sock, timeout=3)
        assert answer.startswith(refusals[name][1]), f"{name}: {answer[:100]!r}"
        assert b"Connection: close" in answer
    # Cut off once their time is up, with a 408 they may still read.
    started = time.perf_counter()
    for sock in (slow, stalled):
        answer = _answer(sock, timeout=REQUEST_READ_SECONDS + 3)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert time.perf_counter() - started < REQUEST_READ_SECONDS + 2

    # The cases the loopback tests below send to the app: through gunicorn, refused by the server or by the app.
    for name, (build, status, _) in MALFORMED.items():
        answer = _exchange(server.url, build().replace(b"\r\n", b"\r\nConnection: close\r\n", 1))
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), f"{name}: {answer[:100]!r}"
    # What the HTTP parser itself refuses: a 400 and gunicorn's one line.
    for request in (b"NOT HTTP AT ALL\r\n\r\n", b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Bad: a\x00b\r\n\r\n"):
        assert _exchange(server.url, request).startswith(b"HTTP/1.1 400 ")

    _signed_command_and_health_are_prompt(server, slack)
    log = server.log()
    # One line per refused request: by the server, the app or the HTTP parser.
    refused = [line for line in log.splitlines() if "refused a request" in line or "refused a Slack request" in line]
    assert len(refused) == len(refusals) + 2 + len(MALFORMED), refused
    assert sum("did not arrive whole within" in line for line in refused) == 2
    assert len([line for line in log.splitlines() if "Invalid request from" in line]) == 2
    assert "Traceback" not in log and " 500 " not in log
    # Nothing of the refused requests reached Slack: only the genuine command's reply.
    slack.wait_for_call("response_url", containing="/recording pause", timeout=10)
    assert [c.method for c in slack.calls() if c.method != "auth.test"] == ["response_url"]


def test_a_crowd_of_large_unfinished_bodies_is_refused_past_the_memory_budget_and_the_bot_keeps_serving(
    server: BotProcess, crowd: Crowd, slack: SimulatedSlack
) -> None:
    body = MAX_BODY_BYTES - 1000
    head = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: %d\r\n\r\n" % (body + 1)
    # Each body is one byte short of complete, so the server must hold every one of them.
    sockets = [crowd.connect(head + b"x" * body) for _ in range(MAX_BUFFERED_REQUEST_BYTES // body + 4)]
    _signed_command_and_health_are_prompt(server, slack)

    # Well before the read deadline: only the refused connections have an answer to read.
    readable, _, _ = select.select(sockets, [], [], 0.5)
    refused = [sock.recv(100) for sock in readable]
    assert refused and all(answer.startswith(b"HTTP/1.1 503 ") for answer in refused)
    assert len(refused) < 10, "only the bodies past the budget are refused"
    lines = [line for line in server.log().splitlines() if "receiving too much at once" in line]
    assert len(lines) == len(refused)


# -- malformed before the signature is verified: the app's own checks, over the loopback server ------------


def _raw_request(
    headers: dict[str, bytes], body: bytes = b"", *, content_length: bytes | None = None, path: bytes = b"/slack/events"
) -> bytes:
    headers = {"Content-Type": b"application/x-www-form-urlencoded", **headers}
    lines = [b"POST " + path + b" HTTP/1.1", b"Host: bot"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    if content_length is None:
        content_length = str(len(body)).encode()
    if content_length:
        lines.append(b"Content-Length: " + content_length)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _signed(body: bytes, *, timestamp: str | None = None, content_type: str | None = None) -> dict[str, bytes]:
    ts = timestamp or str(int(time.time()))
    headers = {
        "X-Slack-Request-Timestamp": ts.encode(),
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, ts, body).encode(),
    }
    if content_type:
        headers["Content-Type"] = content_type.encode()
    return headers


def _exchange(url: str, request: bytes, *, half_close: bool = False) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return _answer(sock, timeout=5)


def _request_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the bot logged about the request: the web layer and the edge (the scheduler logs on its own)."""
    return [r.getMessage() for r in caplog.records if r.name in ("bot.serving.web", "bot.serving.edge")]


FORM = b"command=%2Frecording&text=help&user_id=U0ADMIN&team_id=T0TEST"
NESTED_JSON = b"[" * 100_000 + b"]" * 100_000

MALFORMED: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "body not UTF-8": (
        lambda: _raw_request(_signed(b"text=\xff\xfe\xfd"), b"text=\xff\xfe\xfd"),
        400,
        "its body is not UTF-8",
    ),
    "timestamp of 300 digits": (
        lambda: _raw_request(_signed(FORM, timestamp="9" * 300), FORM),
        401,
        "timestamp header is not a Unix time",
    ),
    "negative timestamp": (
        lambda: _raw_request(_signed(FORM, timestamp="-1700000000"), FORM),
        401,
        "timestamp header is not a Unix time",
    ),
    "timestamp in other digits": (
        lambda: _raw_request({**_signed(FORM), "X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠".encode()}, FORM),
        401,
        "timestamp header is not a Unix time",
    ),
    "stale timestamp": (
        lambda: _raw_request(_signed(FORM, timestamp=str(int(time.time()) - 3600)), FORM),
        401,
        "5 minutes away",
    ),
    "signature not ASCII": (
        lambda: _raw_request({**_signed(FORM), "X-Slack-Signature": "v0=é".encode() + b"a" * 62}, FORM),
        401,
        "not a Slack signature",
    ),
    "signature of another secret": (
        lambda: _raw_request(
            {**_signed(FORM), "X-Slack-Signature": slack_signature("other", str(int(time.time())), FORM).encode()}, FORM
        ),
        401,
        "signature does not match",
    ),
    "no signing headers": (
        lambda: _raw_request({}, FORM),
        401,
        "has no X-Slack-Request-Timestamp or X-Slack-Signature",
    ),
    "Content-Length not a number": (
        lambda: _raw_request(_signed(FORM), FORM, content_length=b"12abc"),
        400,
        "Content-Length is not a number",
    ),
    "negative Content-Length": (
        lambda: _raw_request(_signed(FORM), FORM, content_length=b"-5"),
        400,
        "Content-Length is not a number",
    ),
    "Content-Length of 300 digits": (
        lambda: _raw_request(_signed(FORM), FORM, content_length=b"9" * 300),
        400,
        "Content-Length is not a number",
    ),
    "body over the cap": (
        lambda: _raw_request(_signed(FORM), b"", content_length=str(MAX_BODY_BYTES + 1).encode()),
        413,
        "larger than",
    ),
    "chunked without Content-Length": (
        lambda: _raw_request(
            {**_signed(FORM), "Transfer-Encoding": b"chunked"}, b"5\r\nhello\r\n0\r\n\r\n", content_length=b""
        ),
        411,
        "sent in chunks",
    ),
    "signed form whose payload has bad percent-encoding": (
        lambda: _raw_request(_signed(b"payload=%ZZ%E0%A4"), b"payload=%ZZ%E0%A4"),
        400,
        "payload field is not",
    ),
    "signed form whose payload is nested 5,000 deep": (
        lambda: _raw_request(_signed(b"payload=" + b"%5B" * 5000), b"payload=" + b"%5B" * 5000),
        400,
        "payload field is not a JSON object (nested too deeply)",
    ),
    "signed JSON that is not an object": (
        lambda: _raw_request(_signed(b"[1, 2]", content_type="application/json"), b"[1, 2]"),
        400,
        "not an object",
    ),
    "signed JSON nested 100,000 deep": (
        lambda: _raw_request(_signed(NESTED_JSON, content_type="application/json"), NESTED_JSON),
        400,
        "JSON body cannot be read",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_request_malformed_before_its_signature_is_checked_gets_a_4xx_and_one_log_line(
    served: ServedBot, slack: SimulatedSlack, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    build, status, logged = MALFORMED[case]
    caplog.clear()
    answer = _exchange(served.url, build())
    assert answer.startswith(f"HTTP/1.0 {status} ".encode()) or answer.startswith(f"HTTP/1.1 {status} ".encode()), (
        answer[:200]
    )
    (line,) = _request_log_lines(caplog)
    assert line.startswith("refused a ") and logged in line and len(line) < 200
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert [c.method for c in slack.calls() if c.method != "auth.test"] == []


def test_a_body_shorter_than_its_content_length_is_refused_with_400(
    served: ServedBot, slack: SimulatedSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    answer = _exchange(served.url, _raw_request(_signed(FORM), FORM[:10], content_length=b"100"), half_close=True)
    assert answer.startswith(b"HTTP/1.0 400 "), answer[:200]
    assert _request_log_lines(caplog) == [
        "refused a request to /slack/events: its body ended after 10 of the 100 bytes its Content-Length announced"
    ]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# -- a local process that connects to the link and says nothing ------------------------------------------


def _link_address(server: BotProcess) -> str:
    """The link socket of the bot's process `server` runs (its folder names that process)."""
    assert server.process is not None
    for folder in Path(tempfile.gettempdir()).glob("recording-bot-*"):
        with contextlib.suppress(OSError):
            if (folder / "pid").read_text().split()[0] == str(server.process.pid):
                return str(folder / "link")
    raise AssertionError("the bot's process has no link folder")


def test_a_silent_connection_to_the_link_stops_neither_acks_nor_the_health_check(
    server: BotProcess, slack: SimulatedSlack
) -> None:
    silent = [socket.socket(socket.AF_UNIX) for _ in range(4)]
    try:
        for sock in silent:
            sock.connect(_link_address(server))
        # As many requests at once as the front has threads: each thread opens its own link connection, and
        # would wait behind the silent ones (then answer 503 once its HEALTH_SECONDS are up).
        with web.client(timeout=10) as client, ThreadPoolExecutor(max_workers=FRONT_THREADS) as pool:
            started = time.perf_counter()
            answers = list(pool.map(lambda _: client.get(server.url + "/healthz"), range(FRONT_THREADS)))
            elapsed = time.perf_counter() - started
        assert [a.status_code for a in answers] == [200] * FRONT_THREADS, [a.text for a in answers]
        # All at once on a busy machine's 2 cores: a little longer than one request alone.
        assert elapsed < 2 * ANSWERED_WITHIN_SECONDS < HEALTH_SECONDS, elapsed
        _signed_command_and_health_are_prompt(server, slack)
        slack.wait_for_call("response_url", containing="/recording pause", timeout=10)
        refused = "refused a connection to the bot's process: it did not prove it holds the key within 1 s"
        wait_until(lambda: server.log().count(refused) == len(silent), what="the silent connections to be cut off")
    finally:
        for sock in silent:
            sock.close()
