"""Starting the real server process as the Procfile does, and the timing checks the fault tests share."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, BOT_TOKEN, RECORDER_API_KEY, RECORDER_PASSWORD, RECORDER_USER, SIGNING_SECRET
from tests.support import web

ROOT = Path(__file__).resolve().parents[2]
ACK_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def procfile_environment(
    tmp_path: Path,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment a platform gives the Procfile's command: a free port, Slack, a database in `tmp_path`,
    the recording system when given, and `extra` variables."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(free_port()),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "BOT_ADMINS": ADMIN,
    }
    if recording_system is not None:
        environment |= {
            "MEDIA_REPOSITORY_URL": recording_system.url,
            "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY,
            "MEDIA_REPOSITORY_USERNAME": RECORDER_USER,
            "MEDIA_REPOSITORY_PASSWORD": RECORDER_PASSWORD,
        }
    return environment | extra


def procfile_command() -> list[str]:
    """The Procfile's web command; `python -m bot` is the console script's entry point without needing PATH."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    words = line.removeprefix("web:").split()
    assert words[0] == "recording-bot"
    return [sys.executable, "-m", "bot", *words[1:]]


def is_healthy(url: str) -> bool:
    try:
        return web.get(url + "/healthz", timeout=1).status_code == 200
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


class BotProcess:
    """The Procfile's command as its own process group, so a SIGKILL takes the server and its worker at once."""

    def __init__(self, *, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                procfile_command(),
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log()}")
            if is_healthy(self.url):
                return
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the server did not become healthy within 30 s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, no atexit, no flushing."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""
