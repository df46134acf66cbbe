"""The production HTTP server of the front (bot/serving/front.py): gunicorn, one worker process with threads.

Why gunicorn's threaded worker is extended rather than configured
-----------------------------------------------------------------
The guarantee: **a client that is slow, silent or never finishes its request cannot take a thread**, so
Slack's signed requests and the platform's health check are answered within a second or two however many
such clients are connected (tests/test_fault_serving.py holds 60 of them open while a command and
/healthz must answer within 2 s). gunicorn offers no supported hook for it: its `gthread` worker hands a
connection to a thread on its first byte and the thread blocks until the request is whole, and its
configuration (`timeout`, `keepalive`, `limit_request_*`) bounds sizes, not the time a request may take to
arrive. So `WholeRequestWorker` overrides three of `ThreadWorker`'s methods, and relies on these internals:

    ThreadWorker.accept(listener)          every new connection; wrapped in _Connection, counted in nr_conns
    ThreadWorker.enqueue_req(conn)         every way a connection reaches a thread (new, kept alive,
                                           pipelined): a request is read whole here first
    ThreadWorker.murder_keepalived(force)  called by the event loop at least once a second: the clock for
                                           the deadlines of connections being read
    ThreadWorker.poller / nr_conns / alive the event loop's selector, its connection count, its run flag
    TConn.init() / .parser.unreader        the HTTP parser, fed the bytes already read (unread, take_buffered)
    TConn.close(graceful)                  its graceful close, which would wait up to 2 s in the event loop

tests/test_serving_worker_contract.py checks that each of these exists with the shape used here, and
tests/test_fault_serving.py checks the guarantee itself through the real process. The `<28` pin in
pyproject.toml is the gate: raising it is a deliberate change, and those two tests say what an upgrade broke
before it reaches production. Everything else is gunicorn's supported configuration (`BaseApplication`,
`logger_class`, `worker_class`, `threads`, `timeout`, `keepalive`, `control_socket_disable`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.gthread import TConn, ThreadWorker

from bot.serving.settings import MAX_BODY_BYTES
from bot.words import size_text

DEFAULT_THREADS = 8
# A request is read whole by the server's event loop before a thread serves it (see WholeRequestWorker), so
# waiting for one costs a socket and the bytes received so far, never a thread. Slack gives up on a request
# after 3 seconds: one that has not arrived whole within 5 never will be of use.
REQUEST_READ_SECONDS = 5
# Slack's headers are about 1 KB, and a platform's router adds a few hundred bytes.
MAX_REQUEST_HEADER_BYTES = 16 * 1024
# Everything being read at once, all connections together: a crowd of large slow bodies cannot take the memory.
MAX_BUFFERED_REQUEST_BYTES = 64 * 1024 * 1024
# After the server has answered and half-closed a connection, what the client still sends is dropped for this
# long, so that it reads the answer instead of a connection reset; the event loop never waits for it.
_LINGER_SECONDS = 2.0
_RECV_BYTES = 64 * 1024


class _ServerLogs(GunicornLogger):  # type: ignore[misc]
    # The server's own lines go through the bot's logging too: one format (text or JSON), redacted.
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True


@dataclass(frozen=True)
class _Framing:
    """How long the body after a request's headers is, or why the request is refused without reading it."""

    length: int = 0
    expects_continue: bool = False
    refusal: tuple[int, str] | None = None


def _framing(head: bytes) -> _Framing:
    lengths: set[bytes] = set()
    expects_continue = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"transfer-encoding":
            # Slack always sends a Content-Length; a chunked body could only be read by a thread, waiting.
            return _Framing(refusal=(411, "its body is sent in chunks; send it with a Content-Length"))
        if name == b"content-length":
            lengths.add(value)
        elif name == b"expect":
            expects_continue = value.lower() == b"100-continue"
    if len(lengths) > 1:
        return _Framing(refusal=(400, "it has conflicting Content-Length headers"))
    declared = next(iter(lengths), b"0")
    if not (declared.isdigit() and len(declared) <= 12):
        return _Framing(refusal=(400, "its Content-Length is not a number of bytes"))
    if int(declared) > MAX_BODY_BYTES:
        return _Framing(refusal=(413, f"its body is larger than {size_text(MAX_BODY_BYTES)}"))
    return _Framing(length=int(declared), expects_continue=expects_continue)


@dataclass(eq=False)
class _Incoming:
    """A connection the event loop is reading a request from, or dropping input from before closing it."""

    conn: Any
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    continue_sent: bool = False
    # Answered and half-closed: what the client still sends is dropped until it closes or time is up.
    closing: bool = False
    # Still in gunicorn's connection count (a connection gunicorn closed itself no longer is).
    counted: bool = True


class _Connection(TConn):  # type: ignore[misc]
    def __init__(self, *args: Any, linger: Callable[[Any], None]) -> None:
        super().__init__(*args)
        self._linger = linger

    def close(self, graceful: bool = False) -> None:
        if graceful:
            # gunicorn's graceful close waits in the event loop, up to 2 s, for the client to close: a client
            # that never does would hold up every other connection for that long.
            self._linger(self)
        else:
            super().close()


class WholeRequestWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, except that the event loop reads each request whole before a thread serves it.

    gunicorn's own worker gives a thread to a connection as soon as its first byte arrives, and the thread
    then blocks until the request is complete: a few clients sending headers slowly, or a body that never
    comes, held every thread, and Slack's requests and the health check waited behind them. Here reading is
    non-blocking, bounded in time (REQUEST_READ_SECONDS) and size (MAX_REQUEST_HEADER_BYTES, MAX_BODY_BYTES,
    MAX_BUFFERED_REQUEST_BYTES); a thread only ever parses bytes already received. Requests refused here get
    their 4xx and one log line. TLS and HTTP/2 (not used: the platform's router terminates TLS) keep
    gunicorn's own reading.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._incoming: dict[Any, _Incoming] = {}
        # Connections whose next request has been read whole: the next enqueue hands them to a thread.
        self._whole: set[Any] = set()
        self._buffered_bytes = 0

    def accept(self, listener: Any) -> None:
        try:
            sock, client = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self.enqueue_req(_Connection(self.cfg, sock, client, listener.getsockname(), linger=self._linger))

    def enqueue_req(self, conn: Any) -> None:
        # Every way a connection reaches a thread (accepted, kept alive, pipelined) passes here.
        plain_http = not self.cfg.is_ssl and getattr(self.cfg, "http2_cleartext", "off") == "off"
        if conn in self._whole or not plain_http:
            self._whole.discard(conn)
            super().enqueue_req(conn)
            return
        incoming = _Incoming(conn, deadline=time.monotonic() + REQUEST_READ_SECONDS)
        if conn.parser is not None:
            # What was read ahead with the previous request (pipelining) is the start of this one.
            self._add(incoming, conn.parser.unreader.take_buffered())
        if self._watch(incoming):
            self._examine(incoming)

    def murder_keepalived(self, *args: Any, **kwargs: Any) -> None:
        super().murder_keepalived(*args, **kwargs)
        # The event loop calls this at least once a second: the clock for the connections read here too.
        force = bool(args[0] if args else kwargs.get("force", False))
        now = time.monotonic()
        for incoming in list(self._incoming.values()):
            if force or (incoming.closing and now >= incoming.deadline):
                self._close(incoming)
            elif incoming.closing:
                continue
            elif not incoming.data and (now >= incoming.deadline or not self.alive):
                self._close(incoming)  # it never sent anything: nothing to answer, nothing to log
            elif now >= incoming.deadline:
                self._refuse(incoming, 408, f"its request did not arrive whole within {REQUEST_READ_SECONDS} s")

    # -- reading -------------------------------------------------------------------------------------

    def _watch(self, incoming: _Incoming) -> bool:
        self._incoming[incoming.conn] = incoming
        try:
            incoming.conn.sock.setblocking(False)
            self.poller.register(incoming.conn.sock, selectors.EVENT_READ, partial(self._on_readable, incoming))
        except (OSError, ValueError, KeyError):
            self._close(incoming)
            return False
        return True

    def _on_readable(self, incoming: _Incoming, _sock: Any) -> None:
        try:
            data = incoming.conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(incoming)  # the client went away, or closed after its answer
        elif not incoming.closing:
            self._add(incoming, data)
            if self._buffered_bytes > MAX_BUFFERED_REQUEST_BYTES:
                self._refuse(incoming, 503, "the server is receiving too much at once; try again in a moment")
            else:
                self._examine(incoming)

    def _add(self, incoming: _Incoming, data: bytes) -> None:
        incoming.data += data
        self._buffered_bytes += len(data)

    def _examine(self, incoming: _Incoming) -> None:
        end = incoming.data.find(b"\r\n\r\n", 0, MAX_REQUEST_HEADER_BYTES + 4)
        if end < 0:
            if len(incoming.data) > MAX_REQUEST_HEADER_BYTES:
                self._refuse(incoming, 431, f"its headers are larger than {size_text(MAX_REQUEST_HEADER_BYTES)}")
            return
        framing = _framing(bytes(incoming.data[:end]))
        if framing.refusal is not None:
            self._refuse(incoming, *framing.refusal)
        elif len(incoming.data) - (end + 4) >= framing.length:
            self._hand_over(incoming)
        elif framing.expects_continue and not incoming.continue_sent:
            incoming.continue_sent = True
            self._send(incoming, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _hand_over(self, incoming: _Incoming) -> None:
        conn = incoming.conn
        request = self._release(incoming)
        self._unwatch(incoming)
        conn.init()  # the HTTP/1.x parser; the socket goes back to blocking for the thread's answer
        conn.parser.unreader.unread(request)
        self._whole.add(conn)
        self.enqueue_req(conn)

    # -- answering and closing -----------------------------------------------------------------------

    def _refuse(self, incoming: _Incoming, status: int, why: str) -> None:
        client = incoming.conn.client
        peer = client[0] if isinstance(client, tuple) and client else str(client)
        self.log.info("refused a request from %s: %s (HTTP %d)", peer, why, status)
        body = json.dumps({"error": f"request refused: {why}"}).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self._send(incoming, head.encode() + body)
        self._release(incoming)
        self._drop_input_then_close(incoming)

    def _linger(self, conn: Any) -> None:
        # gunicorn has answered and stopped counting this connection; it is closed without waiting here.
        incoming = _Incoming(conn, deadline=0.0, counted=False)
        if self._watch(incoming):
            self._drop_input_then_close(incoming)

    def _drop_input_then_close(self, incoming: _Incoming) -> None:
        try:
            incoming.conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(incoming)
            return
        incoming.closing = True
        incoming.deadline = time.monotonic() + _LINGER_SECONDS

    def _send(self, incoming: _Incoming, data: bytes) -> None:
        # A short answer fits the socket's send buffer; if it does not, the client was not reading anyway.
        with contextlib.suppress(OSError):
            incoming.conn.sock.send(data)

    def _release(self, incoming: _Incoming) -> bytes:
        data = bytes(incoming.data)
        self._buffered_bytes -= len(data)
        incoming.data = bytearray()
        return data

    def _unwatch(self, incoming: _Incoming) -> None:
        if self._incoming.pop(incoming.conn, None) is not None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.poller.unregister(incoming.conn.sock)

    def _close(self, incoming: _Incoming) -> None:
        self._release(incoming)
        self._unwatch(incoming)
        if incoming.counted:
            incoming.counted = False
            self.nr_conns -= 1
        TConn.close(incoming.conn)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, load: Callable[[], Any], *, bind: str, threads: int) -> None:
        self._load = load
        self._bind = bind
        self._threads = threads
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("logger_class", _ServerLogs)
        self.cfg.set("bind", self._bind)
        # One worker with threads serves Slack's concurrent requests; it only verifies, acks and hands each
        # request on (bot/serving/), so one process is plenty, and the SQLite file keeps one owner.
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", WholeRequestWorker)
        self.cfg.set("threads", max(1, self._threads))
        self.cfg.set("timeout", 30)
        self.cfg.set("graceful_timeout", 20)
        self.cfg.set("keepalive", 5)
        # gunicorn's control socket (in $HOME or $XDG_RUNTIME_DIR) is not used here: two bots on one machine
        # would share its path, and a read-only home would fill the log with its errors.
        self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        return self._load()


def run_gunicorn(load: Callable[[], Any], *, bind: str, threads: int = DEFAULT_THREADS) -> None:
    """Serve the WSGI app that `load()` builds until the server is told to stop."""
    _Gunicorn(load, bind=bind, threads=threads).run()
