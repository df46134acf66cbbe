"""One PostgreSQL server for the whole test run, shared by the xdist workers; each test gets its own database.

Starting a server (initdb, then the postmaster) costs seconds of CPU; the workers of one run share the first
one started. A file lock in the run's temporary folder (the parent of each worker's own) orders them: the
first worker starts the server and writes where it listens, the others read that, and the last one to leave
stops it. Tests only ever touch their own database, so sharing the server changes nothing they see.

The server's data lives outside pytest's temporary folders: run as root, the server runs as another user
who must reach its data, and every pytest session that starts closes pytest's folders to other users again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bot.sandbox.postgres_server import PostgresServer, wait_for


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="recording-bot-postgres-"))


@contextlib.contextmanager
def own_server() -> Iterator[PostgresServer]:
    """A server for this process alone (a run without xdist workers)."""
    root = _new_root()
    server = PostgresServer(root)
    try:
        server.start()
        wait_for(server)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def shared_server(run_folder: Path) -> Iterator[PostgresServer]:
    """The run's one server: started by the first worker to ask, stopped by the last to finish (the state file
    lists the workers using it)."""
    state = run_folder / "postgres.json"
    lock = run_folder / "postgres.lock"
    with _locked(lock):
        known = json.loads(state.read_text()) if state.exists() else None
        if known is None:
            root = _new_root()
            server = PostgresServer(root)
            try:
                server.start()
                wait_for(server)
            except BaseException:
                server.stop()
                shutil.rmtree(root, ignore_errors=True)
                raise
            known = {"root": str(root), "port": server.port, "password": server.password, "users": []}
        else:
            server = PostgresServer(Path(known["root"]))
            server.port, server.password = known["port"], known["password"]
        known["users"].append(os.getpid())
        state.write_text(json.dumps(known))
    try:
        yield server
    finally:
        with _locked(lock):
            known = json.loads(state.read_text())
            # A worker that crashed never leaves: it counts as gone once its process is.
            known["users"] = [pid for pid in known["users"] if pid != os.getpid() and _alive(pid)]
            if known["users"]:
                state.write_text(json.dumps(known))
            else:
                state.unlink()
                _stop(Path(known["root"]) / "data")
                shutil.rmtree(known["root"], ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(data: Path) -> None:
    """Stop the server at once (SIGQUIT is PostgreSQL's immediate shutdown); any worker may be the last, and
    only the starter could run pg_ctl as the server's own user."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
