"""The processes a run starts and stops: the simulated upstreams, the bot, the bare Bolt app, PostgreSQL.

Every child is tied to the driver (it gets SIGTERM if the driver dies, even by SIGKILL), every start and
stop is bounded, and the whole run stops itself after a fixed time (`deadline`), so nothing outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bench.run.machine import children, cpu_seconds, memory_kb
from bench.slack_http import EVENTS_PATH, Connection, get_bytes

# This file is bench/run/processes.py: the repository root is three levels up.
ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

# The users of the bot's allow-list on the bench database.
ADMIN = "U0ADMIN"
AGENT = "U0AGENT"  # requester
LEAD = "U0LEAD"  # approver

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    """Runs in each child before exec: SIGTERM it if the driver dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """A hard bound on the whole run: SIGALRM raises in the main thread, and the ExitStack cleans up."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"the benchmark did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Control:
    """The upstreams' control API: arrival times and counts from the simulators."""

    url: str
    _conn: Connection = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self._conn = Connection(parts.hostname or HOST, parts.port or 80, timeout=120)

    def get(self, route: str, **params: object) -> Any:
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        status, body = self._conn.request(get_bytes(self._conn.host, self._conn.port, f"{route}?{query}"))
        if status != 200:
            raise RuntimeError(f"control {route}: HTTP {status} {body[:200]!r}")
        return json.loads(body)


@dataclass
class Server:
    """One served app (ours or the bare Bolt app): its process, port, and what to sample."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    answers_via_response_url: bool
    # What each process of the started tree is, parent first: the started process, its child, its grandchild.
    roles: tuple[str, ...] = ("master", "worker")
    # The role py-spy samples with --profile: where the server's Python time goes.
    profiled_role: str = "worker"
    pids: list[int] = field(default_factory=list)

    @property
    def profiled_pid(self) -> int:
        return self.pids[self.roles.index(self.profiled_role)]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def cpu_by_role(self) -> dict[str, float]:
        return {role: cpu_seconds(pid) for role, pid in zip(self.roles, self.pids, strict=True)}

    def memory(self) -> dict[str, dict[str, int]]:
        return {role: memory_kb(pid) for role, pid in zip(self.roles, self.pids, strict=True)}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_until_serving(server: Server, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log_path.read_text()[-3000:]}")
        try:
            conn = Connection(HOST, server.port, timeout=2)
            status, _ = conn.request(get_bytes(HOST, server.port, path))
            conn.close()
            tree = [server.process.pid]
            while len(tree) < len(server.roles) and (below := children(tree[-1])):
                tree.append(below[0])
            if status in (200, 404) and len(tree) == len(server.roles):
                server.pids = tree
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not start within {timeout}s: {server.log_path.read_text()[-3000:]}")


def start_upstreams(stack: contextlib.ExitStack) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.upstreams"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )

    def stop() -> None:
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    stack.callback(stop)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("bench.upstreams did not start")
    info: dict[str, str] = json.loads(line)
    return process, info


def bot_env(info: dict[str, str], workdir: Path, port: int, database_url: str | None = None) -> dict[str, str]:
    database = {"DATABASE_URL": database_url} if database_url else {"DATABASE_PATH": str(workdir / "bench.db")}
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(port),
        "SLACK_BOT_TOKEN": info["bot_token"],
        "SLACK_SIGNING_SECRET": info["signing_secret"],
        "SLACK_API_URL": info["slack_api_url"],
        **database,
        "BOT_ADMINS": ADMIN,
        "MEDIA_REPOSITORY_URL": info["media_repository_url"],
        "MEDIA_REPOSITORY_API_KEY": info["media_repository_api_key"],
        "MEDIA_REPOSITORY_USERNAME": info["media_repository_username"],
        "MEDIA_REPOSITORY_PASSWORD": info["media_repository_password"],
        "WEBEX_API_URL": info["webex_api_url"],
        "WEBEX_ACCESS_TOKEN": info["webex_access_token"],
        "LOG_LEVEL": "INFO",
    }


def installable_env(env: dict[str, str], info: dict[str, str], workdir: Path) -> dict[str, str]:
    """Installable mode: OAuth credentials and an encryption key instead of SLACK_BOT_TOKEN, its own database."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in env.items() if k != "SLACK_BOT_TOKEN"}
    if "DATABASE_PATH" in env:
        env["DATABASE_PATH"] = str(workdir / "bench-installable.db")
    return env | {
        "SLACK_CLIENT_ID": info["client_id"], "SLACK_CLIENT_SECRET": info["client_secret"],
        "SLACK_STATE_SECRET": "bench-state-secret-41f0", "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SLACK_OAUTH_AUTHORIZE_URL": info["slack_url"] + "/oauth/v2/authorize",
    }  # fmt: skip


def install_through(server: Server, control: Control, team: str, user: str) -> None:
    """An install as a browser makes it: the install page, Slack's authorize page, back to the bot with the
    state cookie. Raises unless the bot answers that it is installed."""
    import urllib.request

    base = f"http://{HOST}:{server.port}"
    control.get("/installing", team=team, user=user, redirect=f"{base}/slack/oauth_redirect")
    with urllib.request.urlopen(f"{base}/slack/install", timeout=30) as page:
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        html = page.read().decode()
    link = html.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_Stay)
    try:
        opener.open(link, timeout=30)
        raise RuntimeError("the simulated authorize page did not redirect")
    except urllib.error.HTTPError as redirect:
        back = redirect.headers["Location"]
    request = urllib.request.Request(back, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=30) as done:
        if done.status != 200 or b"is installed" not in done.read():
            raise RuntimeError(f"the install of {team} did not complete")


def start_ours(
    stack: contextlib.ExitStack, info: dict[str, str], workdir: Path, threads: int, database_url: str | None = None,
    *, installable: bool = False, source: Path | None = None, name: str | None = None,
    env_extra: dict[str, str] | None = None,
) -> Server:  # fmt: skip
    """The bot as the Procfile starts it; `source`: a folder holding another version's `bot/` to run instead
    (`python -m` finds it first in the working folder, and the front it starts inherits that folder)."""
    port = free_port()
    env = bot_env(info, workdir, port, database_url) | (env_extra or {})
    if installable:
        env = installable_env(env, info, workdir)
    cwd = source or workdir
    name = name or ("recording-bot (installable)" if installable else "recording-bot")
    # The allow-list, set up as an operator would, on the bench database before the server starts.
    for user, role in ((AGENT, "requester"), (LEAD, "approver")):
        subprocess.run(
            [sys.executable, "-m", "bot", "users", "--team", info["team"], "add", user, role],
            env=env, cwd=cwd, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    mode = "-installable" if installable else ""
    log_path = workdir / f"{name.split(' ')[0]}-{'postgresql' if database_url else 'sqlite'}{mode}.log"
    log = stack.enter_context(log_path.open("wb"))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--threads", str(threads)],
        env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )  # fmt: skip
    # `serve` is the bot's own process; it starts the HTTP front (a gunicorn master and its worker) beside it.
    server = Server(name, process, port, log_path, answers_via_response_url=True,
                    roles=("bot", "front master", "front worker"), profiled_role="bot")  # fmt: skip
    stack.callback(server.stop)
    wait_until_serving(server, "/healthz")
    if installable:
        # Two workspaces installed through the OAuth flow: the commands' tokens come from the database.
        control = Control(info["control_url"])
        install_through(server, control, info["team"], ADMIN)
        install_through(server, control, info["second_team"], ADMIN)
    return server


def start_bare(stack: contextlib.ExitStack, info: dict[str, str], workdir: Path, threads: int) -> Server:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "PORT": str(port), "SLACK_SIGNING_SECRET": info["signing_secret"]}
    log_path = workdir / "bare-bolt.log"
    log = stack.enter_context(log_path.open("wb"))
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_bolt", "--threads", str(threads)],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )  # fmt: skip
    server = Server("bare Bolt", process, port, log_path, answers_via_response_url=False)
    stack.callback(server.stop)
    wait_until_serving(server, EVENTS_PATH)
    return server


def start_postgres(stack: contextlib.ExitStack, workdir: Path) -> str:
    """A throw-away PostgreSQL server (the sandbox's, from the test extra's pgserver) and one database on it."""
    from bot.sandbox.postgres_server import PostgresServer, wait_for

    server = PostgresServer(workdir / "postgres").start()
    stack.callback(server.stop)
    wait_for(server)
    return server.create_database("bench")
