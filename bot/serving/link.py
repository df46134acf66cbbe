"""The wire between the HTTP front and the bot's process: verified Slack requests in, a few answers back.

A Unix socket in a directory only the bot's user can open, and a key both processes hold (checked with
multiprocessing's HMAC challenge when a connection opens): nothing else on the machine can hand the bot
a request that skipped the signature check. Each front thread keeps its own connection, so an answer
always belongs to the last question asked on it and messages need no IDs. Messages are JSON objects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from pathlib import Path
from typing import Any

from bot.serving.edge import BotSlow, BotUnavailable

logger = logging.getLogger(__name__)

Message = dict[str, Any]
# The answer to a message that asks for one (None: the handler had none to give).
Handler = Callable[[Message], Message | None]

_KEY_BYTES = 32
# A connection proves it holds the key within this long, or is closed. The front's connections prove it in
# a millisecond; a local process that connects and says nothing is not waited for.
HANDSHAKE_SECONDS = 1.0
# Connections proving it at once, at most: the front opens one per thread (8); more are refused at once.
MAX_HANDSHAKES = 32
# How often the accepting thread looks for a handshake whose time is up (and for a stop).
_ACCEPT_POLL_SECONDS = 0.1
_FOLDER_PREFIX = "recording-bot-"
# In the link's folder: the process that made it ("<pid> <start time>"), so that a later start can tell a
# folder left by a killed bot (which removed nothing) from a running bot's.
_OWNER_FILE = "pid"
# Set on a message whose sender waits for an answer; set on the answer when the bot failed to make one.
_ASKS = "asks"
_FAILED = "failed"


def asks(message: Message) -> bool:
    """Whether the sender of `message` waits for an answer (LinkClient.ask) rather than sending it (send)."""
    return bool(message.get(_ASKS))


class LinkClient:
    """The front's end: send a message, or ask and wait for the answer. Safe to share between threads.

    Connections are kept for reuse, one in use per front thread at a time: an answer then always belongs to
    the question asked on its connection. `warm` opens them before the first request, so that no request waits
    for a key check with a bot's process that is busy (or frozen: a check is given up after HANDSHAKE_SECONDS)."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self._address = address
        self._authkey = authkey
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def warm(self, count: int) -> int:
        """Open up to `count` connections now (as many as the front has threads); how many were opened."""
        opened: list[Connection] = []
        try:
            for _ in range(count):
                opened.append(self._open())
        except BotUnavailable as error:
            logger.info("opened %d of %d connections to the bot's process ahead of time: %s", len(opened), count,
                        error)  # fmt: skip
        with self._lock:
            self._idle.extend(opened)
        return len(opened)

    def send(self, message: Message) -> None:
        """Deliver `message` to the bot's process; raises BotUnavailable when it cannot be reached."""
        self._give_back(self._deliver(json.dumps(message).encode()))

    def ask(self, message: Message, *, timeout: float) -> Message:
        """Send `message` and wait up to `timeout` seconds for the bot's answer."""
        connection = self._deliver(json.dumps({**message, _ASKS: True}).encode())
        try:
            if not connection.poll(timeout):
                # Its late answer would be taken for the next question's: this connection is done.
                self._close(connection)
                raise BotSlow(f"the bot's process did not answer within {timeout:g} s")
            answer = json.loads(connection.recv_bytes())
        except (OSError, EOFError, ValueError) as error:
            self._close(connection)
            raise BotUnavailable(f"the bot's process went away ({type(error).__name__})") from None
        if not isinstance(answer, dict):
            self._close(connection)
            raise BotUnavailable("the bot's process answered something unreadable")
        self._give_back(connection)
        if answer.get(_FAILED):
            raise BotUnavailable("the bot's process failed to handle it (its log says why)")
        return answer

    def _deliver(self, data: bytes) -> Connection:
        """Send `data` on a connection, which the caller then owns (to give back, or close)."""
        for attempt in (1, 2):
            connection, fresh = self._take()
            try:
                connection.send_bytes(data)
                return connection
            except OSError as error:
                self._close(connection)
                # A connection kept from before may have been closed by a restarted bot: once more, new.
                if fresh or attempt == 2:
                    raise BotUnavailable(f"the bot's process went away ({type(error).__name__})") from None
        raise AssertionError("unreachable")

    def _take(self) -> tuple[Connection, bool]:
        """An idle connection, or a new one; and whether it was opened just now."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), False
        return self._open(), True

    def _give_back(self, connection: Connection) -> None:
        with self._lock:
            self._idle.append(connection)

    def _open(self) -> Connection:
        """A new connection, its key checked both ways (multiprocessing's HMAC challenge) within
        HANDSHAKE_SECONDS: multiprocessing's own `Client` would wait for ever on a process that does not answer."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(HANDSHAKE_SECONDS)
            sock.connect(self._address)
            sock.setblocking(True)
            _receive_timeout(sock, HANDSHAKE_SECONDS)
            connection = Connection(sock.detach())
        except OSError as error:
            sock.close()
            raise BotUnavailable(f"cannot reach the bot's process ({type(error).__name__})") from None
        try:
            answer_challenge(connection, self._authkey)
            deliver_challenge(connection, self._authkey)
            with socket.fromfd(connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as same:
                _receive_timeout(same, 0.0)  # checked: from now on a read waits as long as it is asked to
        except (OSError, EOFError, AuthenticationError) as error:
            self._close(connection)
            raise BotUnavailable(f"cannot reach the bot's process ({type(error).__name__})") from None
        return connection

    @staticmethod
    def _close(connection: Connection) -> None:
        with contextlib.suppress(OSError):
            connection.close()


def _receive_timeout(sock: socket.socket, seconds: float) -> None:
    """A blocking read on `sock` gives up after `seconds` (0: never), with EAGAIN (an OSError)."""
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, int((seconds - whole) * 1e6)))


class LinkServer:
    """The bot's end: a listening socket, and a thread per connection that hands each message to `handler`."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        _remove_stale_folders()
        # mkdtemp makes the directory readable and writable by this user only.
        self._directory = Path(tempfile.mkdtemp(prefix=_FOLDER_PREFIX))
        (self._directory / _OWNER_FILE).write_text(_process_identity(os.getpid()) or str(os.getpid()))
        self.address = str(self._directory / "link")
        self.authkey = os.urandom(_KEY_BYTES)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(self.address)
        self._socket.listen(64)
        self._stopped = threading.Event()
        self._readers: list[threading.Thread] = []
        # The connections still proving they hold the key, and when their time is up; under the lock, so that
        # a connection is never shut down after its own thread has closed it (its descriptor may be reused).
        self._handshakes: dict[socket.socket, float] = {}
        self._lock = threading.Lock()

    def start(self) -> LinkServer:
        threading.Thread(target=self._accept, name="link-accept", daemon=True).start()
        return self

    def stop(self, *, drain_seconds: float = 5.0) -> None:
        """Take no new connections, and wait for the open ones to be read to their end (call it once the
        front has stopped: its connections then end after the messages already sent, which are handled)."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._socket.close()
        shutil.rmtree(self._directory, ignore_errors=True)
        deadline = time.monotonic() + drain_seconds
        for reader in list(self._readers):
            reader.join(max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        """Accept connections; each proves it holds the key on its own thread (a silent one holds up no other),
        and is cut off here when its time for that is up."""
        while not self._stopped.is_set():
            self._cut_overdue_handshakes()
            try:
                if not select.select([self._socket], [], [], _ACCEPT_POLL_SECONDS)[0]:
                    continue
                sock, _ = self._socket.accept()
            except (OSError, ValueError):  # ValueError: the socket was closed by stop()
                if self._stopped.is_set():
                    return
                logger.warning("a connection to the bot's process failed to open", exc_info=True)
                self._stopped.wait(_ACCEPT_POLL_SECONDS)
                continue
            with self._lock:
                crowded = len(self._handshakes) >= MAX_HANDSHAKES
                if not crowded:
                    self._handshakes[sock] = time.monotonic() + HANDSHAKE_SECONDS
            if crowded:
                logger.warning("refused a connection to the bot's process: %d others are still opening", MAX_HANDSHAKES)
                sock.close()
                continue
            reader = threading.Thread(target=self._open, args=(sock,), name="link", daemon=True)
            self._readers = [r for r in self._readers if r.is_alive()] + [reader]
            reader.start()

    def _cut_overdue_handshakes(self) -> None:
        now = time.monotonic()
        with self._lock:
            for sock, deadline in self._handshakes.items():
                if deadline <= now:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)  # its thread's read ends at once

    def _open(self, sock: socket.socket) -> None:
        """Check that the other end holds the key (multiprocessing's HMAC challenge, both ways), then serve it."""
        connection = Connection(os.dup(sock.fileno()))
        try:
            deliver_challenge(connection, self.authkey)
            answer_challenge(connection, self.authkey)
        except (AuthenticationError, EOFError, OSError) as error:  # not our front, or it gave up half-way
            with self._lock:
                late = self._handshakes.get(sock, float("inf")) <= time.monotonic()
            why = f"it did not prove it holds the key within {HANDSHAKE_SECONDS:g} s" if late else type(error).__name__
            logger.warning("refused a connection to the bot's process: %s", why)
            connection.close()
            return
        finally:
            with self._lock:
                del self._handshakes[sock]
                sock.close()
        self._serve(connection)

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    message = json.loads(connection.recv_bytes())
                except (EOFError, OSError):
                    return  # the front closed it (a worker restarting, or the server stopping)
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    logger.warning("the HTTP front sent an unreadable message; its connection is closed")
                    return
                try:
                    answer = self._handler(message)
                except Exception:
                    logger.exception("a request from the HTTP front failed")
                    answer = None
                if not message.get(_ASKS):
                    continue
                try:
                    connection.send_bytes(json.dumps(answer if answer is not None else {_FAILED: True}).encode())
                except OSError:
                    return


def _process_identity(pid: int) -> str | None:
    """`<pid> <start time>` of a running process (None: no such process). The start time (in clock ticks since
    boot, /proc/<pid>/stat's 22nd field) tells a process from a later one that was given the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (not Linux): the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return str(pid)
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] == "Z":
        return None  # a zombie has ended: only its entry in the process table is left
    return f"{pid} {fields[19]}"


def _remove_stale_folders() -> None:
    """Remove the link folders of this user's bots that ended without removing theirs (a SIGKILL, a crash).
    Only folders that name their owner, and whose owner is gone: a running bot's folder stays."""
    uid = os.getuid()
    for folder in Path(tempfile.gettempdir()).glob(_FOLDER_PREFIX + "*"):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != uid:
                continue
            owner = (folder / _OWNER_FILE).read_text().strip()
        except OSError:
            continue
        words = owner.split()
        if not words or not (words[0].isascii() and words[0].isdigit()):
            continue  # not written by a bot
        identity = _process_identity(int(words[0]))
        if identity is not None and (len(words) == 1 or identity == owner):
            continue  # its bot is running
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("removed %s, left by a bot's process that has ended", folder)
