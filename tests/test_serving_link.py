"""The link between the HTTP front and the bot's process: what a crashed bot leaves behind, and what a
local process that connects and says nothing can (not) hold up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.serving.link import LinkServer

_LINK_IN_A_PROCESS = """
import time
from bot.serving.link import LinkServer
server = LinkServer(lambda message: {"alive": True}).start()
print(server.address, flush=True)
time.sleep(60)
"""


@pytest.fixture
def temporary_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary folder of the test's own (short: a socket's path has at most 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="rb-test-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _killed_bot_s_folder(folder: Path) -> Path:
    """The link folder of a bot's process that was SIGKILLed (so it cleaned up nothing)."""
    environment = {**os.environ, "TMPDIR": str(folder)}
    command = [sys.executable, "-c", _LINK_IN_A_PROCESS]
    bot = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    try:
        assert bot.stdout is not None
        address = bot.stdout.readline().strip()
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)
    left = Path(address).parent
    assert left.parent == folder and left.is_dir()
    return left


def test_a_start_removes_the_link_folders_that_killed_bots_left_behind(temporary_folder: Path) -> None:
    stale = [_killed_bot_s_folder(temporary_folder), _killed_bot_s_folder(temporary_folder)]
    # A running bot's folder, and a folder that is not a bot's, are left alone.
    running = LinkServer(lambda message: None).start()
    other = temporary_folder / "recording-bot-notes"
    other.mkdir()
    (other / "pid").write_text("not a pid")
    # A folder whose pid now belongs to another process (this one, started at another time) is stale too.
    reused = temporary_folder / "recording-bot-reused"
    reused.mkdir()
    (reused / "pid").write_text(f"{os.getpid()} 1")
    stale.append(reused)
    unrelated = temporary_folder / "something-else"
    unrelated.mkdir()
    try:
        server = LinkServer(lambda message: None).start()
        try:
            assert [folder.exists() for folder in stale] == [False, False, False]
            assert Path(running.address).parent.is_dir() and other.is_dir() and unrelated.is_dir()
            assert Path(server.address).parent.is_dir()
        finally:
            server.stop(drain_seconds=1)
    finally:
        running.stop(drain_seconds=1)
    assert sorted(p.name for p in temporary_folder.iterdir()) == ["recording-bot-notes", "something-else"]
