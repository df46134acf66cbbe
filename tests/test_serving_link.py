"""The link between the HTTP front and the bot's process: what a crashed bot leaves behind, and what a
local process that connects and says nothing can (not) hold up."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.serving.link import HANDSHAKE_SECONDS, LinkClient, LinkServer, Message

_LINK_IN_A_PROCESS = """
import time
from bot.serving.link import HANDSHAKE_SECONDS, LinkClient, LinkServer, Message
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


# -- a local process that connects and says nothing -------------------------------------------------------


def _ask_within(client: LinkClient, message: Message, seconds: float) -> Message:
    """The answer to `message`, failing the test (instead of hanging it) when none comes within `seconds`."""
    answers: list[Message] = []
    asking = threading.Thread(target=lambda: answers.append(client.ask(message, timeout=seconds)), daemon=True)
    asking.start()
    asking.join(seconds)
    assert answers, f"no answer within {seconds} s"
    return answers[0]


def test_silent_local_connections_hold_up_neither_the_front_nor_each_other() -> None:
    server = LinkServer(lambda message: {"answered": message.get("op")}).start()
    silent = [socket.socket(socket.AF_UNIX) for _ in range(5)]
    try:
        for sock in silent:
            sock.connect(server.address)  # and says nothing: the key's challenge goes unanswered
        started = time.monotonic()
        for op in ("health", "answer_now"):
            assert _ask_within(LinkClient(server.address, server.authkey), {"op": op}, 2.0) == {"answered": op}
        assert time.monotonic() - started < 1.0, "the front waited for the silent connections"
        # Each silent connection is cut off once its handshake's time is up.
        for sock in silent:
            sock.settimeout(HANDSHAKE_SECONDS + 2)
            while sock.recv(1024):  # the challenge, then the end of the connection
                pass
        assert time.monotonic() - started < HANDSHAKE_SECONDS + 1
        assert _ask_within(LinkClient(server.address, server.authkey), {"op": "after"}, 2.0) == {"answered": "after"}
    finally:
        for sock in silent:
            sock.close()
        server.stop(drain_seconds=1)


def test_a_client_that_dribbles_its_handshake_is_cut_off_at_the_deadline() -> None:
    server = LinkServer(lambda message: {"answered": True}).start()
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(server.address)
            started = time.monotonic()
            sock.sendall(struct.pack("!i", 16))  # an answer of 16 bytes is coming…
            closed = False
            while not closed and time.monotonic() - started < HANDSHAKE_SECONDS + 3:
                try:
                    sock.sendall(b"x")  # …a byte at a time: each read alone would never time out
                except OSError:
                    closed = True
                if select.select([sock], [], [], 0.3)[0]:
                    closed = _closed(sock)
            assert closed and time.monotonic() - started < HANDSHAKE_SECONDS + 1
            reply = _ask_within(LinkClient(server.address, server.authkey), {"op": "health"}, 2.0)
            assert reply == {"answered": True}
    finally:
        server.stop(drain_seconds=1)


def _closed(sock: socket.socket) -> bool:
    """Whether the other end has closed `sock` (what it sent before that is read and dropped)."""
    try:
        while chunk := sock.recv(1024, socket.MSG_DONTWAIT):
            del chunk
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True
