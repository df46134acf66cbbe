"""A simulated Socket Mode endpoint: the WebSocket Slack opens to an app, on loopback (RFC 6455, no TLS).

It greets each connection with `hello`, answers pings, pushes envelopes (slash commands, button clicks)
and records the app's acknowledgements, so Socket Mode runs end to end without Slack.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import uuid
from typing import Any, Self

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class SimulatedSocketMode:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.2)
        self.url = f"ws://{host}:{self._listener.getsockname()[1]}/link"
        self._lock = threading.Condition()
        self._connections: list[socket.socket] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, name="socket-mode-sim", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            for connection in self._connections:
                connection.close()
        self._listener.close()

    # -- what tests do ---------------------------------------------------------------------------

    def wait_for_connection(self, timeout: float = 10.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: bool(self._connections), timeout):
                raise AssertionError("the app did not open a Socket Mode connection")

    def send_envelope(self, envelope_type: str, payload: dict[str, Any]) -> str:
        """Push one event to the app, as Slack does; returns its envelope ID."""
        envelope_id = str(uuid.uuid4())
        message = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "accepts_response_payload": envelope_type != "events_api",
            "payload": payload,
        }
        with self._lock:
            connection = self._connections[-1]
        _send_frame(connection, _TEXT, json.dumps(message).encode())
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        with self._lock:
            if not self._lock.wait_for(lambda: envelope_id in self._acks, timeout):
                raise AssertionError(f"no acknowledgement for envelope {envelope_id} within {timeout}s")
            return self._acks[envelope_id]

    # -- the protocol ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(None)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(4096)
            if not chunk:
                return
            request += chunk
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in request.decode().split("\r\n")[1:])
            if value
        }
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + _GUID).encode()).digest()).decode()
        connection.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        hello = {"type": "hello", "num_connections": 1, "debug_info": {"host": "simulated"}}
        _send_frame(connection, _TEXT, json.dumps(hello).encode())
        with self._lock:
            self._connections.append(connection)
            self._lock.notify_all()
        try:
            while not self._stop.is_set():
                frame = _read_frame(connection)
                if frame is None:
                    return
                opcode, data = frame
                if opcode == _PING:
                    _send_frame(connection, _PONG, data)
                elif opcode == _CLOSE:
                    return
                elif opcode == _TEXT:
                    message = json.loads(data)
                    with self._lock:
                        self._acks[str(message.get("envelope_id"))] = message
                        self._lock.notify_all()
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
            connection.close()


def _send_frame(connection: socket.socket, opcode: int, data: bytes) -> None:
    header = bytes([0x80 | opcode])
    if len(data) < 126:
        header += bytes([len(data)])
    elif len(data) < 1 << 16:
        header += bytes([126]) + struct.pack("!H", len(data))
    else:
        header += bytes([127]) + struct.pack("!Q", len(data))
    connection.sendall(header + data)


def _read_exact(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_frame(connection: socket.socket) -> tuple[int, bytes] | None:
    head = _read_exact(connection, 2)
    if head is None:
        return None
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    masked = bool(head[1] & 0x80)
    if length == 126:
        extended = _read_exact(connection, 2)
        length = struct.unpack("!H", extended)[0] if extended else 0
    elif length == 127:
        extended = _read_exact(connection, 8)
        length = struct.unpack("!Q", extended)[0] if extended else 0
    mask = _read_exact(connection, 4) if masked else b"\0\0\0\0"
    payload = _read_exact(connection, length) if length else b""
    if mask is None or payload is None:
        return None
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
