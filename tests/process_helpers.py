"""Starting the real server process as the Procfile does, and the timing checks the fault tests share."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ACK_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def procfile_command() -> list[str]:
    """The Procfile's web command; `python -m bot` is the console script's entry point without needing PATH."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    words = line.removeprefix("web:").split()
    assert words[0] == "recording-bot"
    return [sys.executable, "-m", "bot", *words[1:]]


def is_healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def acked_in_time(call: Callable[[], httpx.Response]) -> httpx.Response:
    """Send a request into the bot and check Slack would have had its 200 within its 3-second limit."""
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed < ACK_SECONDS, f"the ack took {elapsed:.2f}s"
    return response
