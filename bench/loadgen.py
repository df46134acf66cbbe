"""A closed-loop load generator for signed slash commands: N keep-alive clients, one asyncio loop, raw sockets.

    python -m bench.loadgen < spec.json

Protocol with the driver (stdin/stdout, one JSON document or word per line): read the spec, connect
every client and send the warm-up requests, print `ready`, wait for `go`, send the measured requests,
print the result. Several of these processes can share one run (the driver gives each a slice of
clients and request numbers) and start together on `go`.

Every request body is built and signed before the measured phase, so the timed loop only writes bytes
and reads the answer; the result carries this process's own CPU time so the driver can show that the
load generator was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.slack_http import EVENTS_PATH, HttpError, command_body, post_bytes, read_response, signed_headers

REQUEST_TIMEOUT_SECONDS = 10.0
PHASE_TIMEOUT_SECONDS = 120.0


@dataclass
class Spec:
    host: str
    port: int
    secret: str
    text: str
    user: str
    # response_url of request i is f"{response_url_base}{tag}-{phase}{offset + i}"
    response_url_base: str
    tag: str
    clients: int
    warmup: int
    requests: int
    offset: int = 0

    def bodies(self, phase: str, count: int) -> list[bytes]:
        raws = []
        for i in range(count):
            url = f"{self.response_url_base}{self.tag}-{phase}{self.offset + i}"
            body = command_body(self.text, user=self.user, response_url=url)
            raws.append(post_bytes(self.host, self.port, EVENTS_PATH, body, signed_headers(self.secret, body)))
        return raws


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Client:
    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    async def send(self, raw: bytes) -> int:
        if self._writer is None or self._reader is None:
            self.reconnects += 1
            await self.connect()
        assert self._writer is not None and self._reader is not None
        self._writer.write(raw)
        status, _, close = await asyncio.wait_for(read_response(self._reader), REQUEST_TIMEOUT_SECONDS)
        if close:
            await self.close()
        return status


async def _run_phase(clients: list[Client], raws: list[bytes], results: Results | None) -> None:
    next_index = 0

    async def worker(client: Client) -> None:
        nonlocal next_index
        while next_index < len(raws):
            index = next_index
            next_index += 1
            sent_at = time.time()
            started = time.perf_counter()
            try:
                status = await client.send(raws[index])
            except (TimeoutError, OSError, HttpError) as error:
                await client.close()
                if results is not None:
                    results.errors.append(f"{type(error).__name__}: {error}")
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            if results is None:
                continue
            if status != 200:
                results.errors.append(f"HTTP {status}")
                continue
            results.latencies_ms.append(elapsed_ms)
            results.sent_at.append(sent_at)
            results.indexes.append(index)

    await asyncio.wait_for(asyncio.gather(*(worker(c) for c in clients)), PHASE_TIMEOUT_SECONDS)


async def _main(spec: Spec) -> dict[str, Any]:
    warmup = spec.bodies("w", spec.warmup)
    measured = spec.bodies("m", spec.requests)
    clients = [Client(spec.host, spec.port) for _ in range(spec.clients)]
    await asyncio.gather(*(c.connect() for c in clients))
    await _run_phase(clients, warmup, None)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    go = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), PHASE_TIMEOUT_SECONDS)
    if go.strip() != "go":
        raise SystemExit(f"expected 'go', got {go!r}")
    results = Results()
    cpu_before = time.process_time()
    started = time.time()
    await _run_phase(clients, measured, results)
    finished = time.time()
    cpu_seconds = time.process_time() - cpu_before
    for client in clients:
        await client.close()
    return {
        "latencies_ms": results.latencies_ms,
        "sent_at": results.sent_at,
        "indexes": [spec.offset + i for i in results.indexes],
        "errors": results.errors[:20],
        "error_count": len(results.errors),
        "started": started,
        "finished": finished,
        "cpu_seconds": cpu_seconds,
        "reconnects": sum(c.reconnects for c in clients),
    }


def main() -> int:
    spec = Spec(**json.loads(sys.stdin.readline()))
    result = asyncio.run(_main(spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
