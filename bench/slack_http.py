"""Slack-signed request bodies and a minimal HTTP/1.1 keep-alive client, shared by the driver and the load generator.

Raw sockets rather than httpx: a request costs the load generator a few microseconds of Python, so on a
2-core machine nearly all CPU goes to the server being measured (the per-run CPU columns show it).
"""

from __future__ import annotations

import asyncio
import socket

from bot.action_ids import ACTION_APPROVE
from bot.sandbox.simulators import slack_sender
from bot.sandbox.simulators.slack_sender import signed_headers

EVENTS_PATH = "/slack/events"
# The benchmark's workspace and channel (bench/upstreams.py serves the same workspace).
TEAM = "T0BENCH"
CHANNEL = "C0BENCH"

__all__ = [
    "ACTION_APPROVE", "CHANNEL", "EVENTS_PATH", "TEAM", "HttpError", "click_body", "command_body", "get_bytes",
    "post_bytes",
    "read_response", "signed_headers",
]  # fmt: skip


def command_body(text: str, *, user: str, response_url: str) -> bytes:
    """A signed-to-be `/recording` command from the benchmark's workspace and channel."""
    return slack_sender.command_body(text, user=user, response_url=response_url, team=TEAM, channel=CHANNEL)


def click_body(action_id: str, value: str, *, user: str, response_url: str, message_ts: str) -> bytes:
    """A button click on a card in the benchmark's channel."""
    return slack_sender.click_body(
        action_id, value, user=user, response_url=response_url, team=TEAM, channel=CHANNEL, message_ts=message_ts
    )


def post_bytes(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The whole HTTP/1.1 request, built once so the timed section only writes it."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get_bytes(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


class HttpError(Exception):
    """The peer closed the connection or answered something this client cannot read."""


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise HttpError(f"bad status line {lines[0]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


class Connection:
    """A blocking keep-alive connection to one loopback server (reconnects when the server closes it)."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one pre-built request and read the answer; one retry on a connection the server had closed."""
        for attempt in (1, 2):
            if self._sock is None:
                self._sock = self._connect()
            try:
                self._sock.sendall(raw)
                return self._read_response()
            except (OSError, HttpError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _read_until(self, marker: bytes) -> bytes:
        assert self._sock is not None
        while marker not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed")
            self._buffer += chunk
        index = self._buffer.index(marker) + len(marker)
        data, self._buffer = self._buffer[:index], self._buffer[index:]
        return data

    def _read_exactly(self, size: int) -> bytes:
        assert self._sock is not None
        while len(self._buffer) < size:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _read_response(self) -> tuple[int, bytes]:
        status, headers = _parse_head(self._read_until(b"\r\n\r\n")[:-4])
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._read_until(b"\r\n")[:-2].split(b";")[0], 16)
                body += self._read_exactly(size + 2)[:-2]
                if size == 0:
                    break
        else:
            body = self._read_exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.1 answer; returns (status, body, server_wants_close)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        raise HttpError("connection closed") from error
    status, headers = _parse_head(head[:-4])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() == "close"
