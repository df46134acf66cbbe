"""A small threaded HTTP server on loopback that records every request it answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from bot.serving.local import stop_serving


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)
    # The client's (address, port): requests over one kept-alive connection share it.
    peer: tuple[str, int] = ("", 0)

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    @property
    def params(self) -> dict[str, str]:
        """Query parameters and form fields together (a GET or a form POST reads the same)."""
        merged = dict(self.query)
        if "x-www-form-urlencoded" in self.headers.get("content-type", ""):
            merged.update(self.form)
        return merged


@dataclass(frozen=True)
class StreamedBody:
    """A body written piece by piece instead of held in memory: `chunk`, `count` times (None: until the client
    hangs up), `interval_seconds` apart. Its length is announced in Content-Length when known and `announce`."""

    chunk: bytes
    count: int | None
    interval_seconds: float = 0.0
    announce: bool = True

    @property
    def length(self) -> int | None:
        return len(self.chunk) * self.count if self.count is not None and self.announce else None


@dataclass
class Reply:
    """What the simulator sends back."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    # Close the connection without answering (the client sees a protocol error).
    drop: bool = False
    # Sent instead of `body` when set (see StreamedBody).
    stream: StreamedBody | None = None


Handler = Callable[[RecordedRequest], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 stalls concurrent clients (load and duplicate-click tests) for ~1 s each.
    request_queue_size = 128


class SimulatedServer:
    """Serves `handle(request) -> Reply` on 127.0.0.1, on a free port unless one is given.

    Subclasses implement `handle`. Every request is kept in `requests`, in arrival order, so tests can
    assert on exactly what the bot sent; `wait_for` polls with a bound instead of sleeping.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._arrived = threading.Condition(self._lock)
        owner = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle's algorithm holds the
            # body back ~40 ms waiting for an ACK, which would dwarf every latency we measure.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    peer=(str(self.client_address[0]), int(self.client_address[1])),
                )
                owner._record(request)
                reply = owner.handle(request)
                if reply.delay_seconds:
                    time.sleep(reply.delay_seconds)
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.stream is not None:
                    self._stream(reply, reply.stream)
                    return
                payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (its timeout); nothing more to do.
                    self.close_connection = True

            def _stream(self, reply: Reply, stream: StreamedBody) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if stream.length is not None:
                    self.send_header("Content-Length", str(stream.length))
                else:
                    # No length: the body ends when the connection closes.
                    self.close_connection = True
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                sent = 0
                try:
                    while stream.count is None or sent < stream.count:
                        self.wfile.write(stream.chunk)
                        owner._count_streamed(len(stream.chunk))
                        sent += 1
                        if stream.interval_seconds:
                            time.sleep(stream.interval_seconds)
                except (BrokenPipeError, ConnectionResetError):
                    # The client stopped reading and hung up.
                    self.close_connection = True

            do_GET = _serve  # noqa: N815
            do_POST = _serve  # noqa: N815
            do_PUT = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server((host, port), _RequestHandler)
        self._streamed_bytes = 0
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        stop_serving(self._server)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was received -----------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def _record(self, request: RecordedRequest) -> None:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()

    def _count_streamed(self, size: int) -> None:
        with self._lock:
            self._streamed_bytes += size

    @property
    def streamed_bytes(self) -> int:
        """How many body bytes of streamed replies (see StreamedBody) reached the network so far."""
        with self._lock:
            return self._streamed_bytes

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool],
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[RecordedRequest]:
        """Block until `count` recorded requests satisfy `predicate`; raise AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                matches = [r for r in self._requests if predicate(r)]
                if len(matches) >= count:
                    return matches
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{type(self).__name__}: expected {count} matching request(s) within {timeout}s, "
                        f"saw {len(matches)} of {len(self._requests)}"
                    )
                self._arrived.wait(remaining)
