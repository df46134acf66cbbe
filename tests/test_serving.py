"""`recording-bot serve` as the Procfile runs it: the bot's process, and the HTTP front it starts beside it.

The front verifies and acks; everything else happens in the bot's process, reached over a private Unix
socket. These tests start the real command, send signed requests to the real front, and look at what
reached the simulated Slack, the database and the process table.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bot.app import RecordingBot
from bot.sandbox.simulators.base import Reply
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.slack_sender import command_body
from bot.sandbox.simulators.webex import SimulatedWebex
from bot.serving.background import BUSY_TEXT, WORK_NICENESS, BackgroundWork
from bot.serving.busy import BUSY_SENDERS, BUSY_WAITING
from bot.serving.dispatch import BoltDispatcher
from bot.serving.edge import BotUnavailable
from bot.serving.link import LinkClient, LinkServer, Message
from bot.serving.process import FrontLink, _cpu_quota_below
from bot.store.audit import AuditStore
from bot.store.sqlite import SqliteDatabase
from tests.conftest import ADMIN, BOT_TOKEN, RECORDER_API_KEY, RECORDER_PASSWORD, SIGNING_SECRET
from tests.support import web
from tests.support.pauses import wait_until
from tests.support.processes import BotProcess, procfile_environment
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

pytestmark = pytest.mark.slow


@pytest.fixture
def environment(tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem) -> dict[str, str]:
    return procfile_environment(tmp_path, slack, recording_system)


@pytest.fixture
def server(tmp_path: Path, environment: dict[str, str]) -> Iterator[BotProcess]:
    process = BotProcess(env=environment, cwd=tmp_path, log_path=tmp_path / "server.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def sender(server: BotProcess, slack: SimulatedSlack) -> Iterator[SlackSender]:
    client = SlackSender(base_url=server.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    yield client
    client.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def _front(server: BotProcess) -> tuple[int, int]:
    """The front's gunicorn master (the bot's child) and its worker."""
    assert server.process is not None
    masters = _children(server.process.pid)
    assert len(masters) == 1, f"the bot's process should have one child, the front: {masters}"
    workers = wait_until(lambda: _children(masters[0]), what="the front's worker")
    return masters[0], workers[0]


def _niceness_of_threads(pid: int) -> tuple[int, list[int]]:
    """The main thread's niceness, and the other threads' (Python 3.11 gives threads no OS-visible names)."""
    main, others = 0, []
    for task in Path(f"/proc/{pid}/task").iterdir():
        nice = int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])  # field 19 of stat
        if task.name == str(pid):
            main = nice
        else:
            others.append(nice)
    return main, others


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return False


def _audit_actions(database_path: str) -> list[str]:
    database = SqliteDatabase(database_path)
    try:
        return [entry.action for entry in AuditStore(database=database).recent(50)]
    finally:
        database.close()


def test_the_front_acks_and_the_bot_s_process_answers_and_audits(
    server: BotProcess, sender: SlackSender, slack: SimulatedSlack, environment: dict[str, str]
) -> None:
    master, _ = _front(server)
    assert "bot.serving.front" in Path(f"/proc/{master}/cmdline").read_text()
    assert "Control socket" not in server.log(), "gunicorn's control socket is not wanted: nothing uses it"
    started = time.perf_counter()
    response = sender.command("help", user=ADMIN)
    assert response.status_code == 200 and response.content == b""
    assert time.perf_counter() - started < 3
    reply = slack.wait_for_call("response_url", containing="/recording pause", timeout=10)[0]
    assert reply.payload["response_type"] == "ephemeral"
    wait_until(
        lambda: "command.help" in _audit_actions(environment["DATABASE_PATH"]), what="the help command's audit row"
    )
    # The work after the ack ran on threads that make way for the front and the scheduler.
    assert server.process is not None
    main, others = _niceness_of_threads(server.process.pid)
    assert main == 0 and 0 in others, "the scheduler and the link's threads keep the process's priority"
    assert WORK_NICENESS in others


_WEBEX_TOKEN = "SECRET-webex-access-3c9d"
_PLATFORM_SECRET = "SECRET-some-platform-add-on-61f0"


def test_the_front_s_environment_holds_the_signing_secret_and_no_other_secret(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    environment = procfile_environment(
        tmp_path, slack, recording_system,
        WEBEX_API_URL=webex.url, WEBEX_ACCESS_TOKEN=_WEBEX_TOKEN, REDIS_URL=f"redis://:{_PLATFORM_SECRET}@redis:6379",
        LANG="C.UTF-8", PYTHONUNBUFFERED="1", LOG_LEVEL="INFO",
    )  # fmt: skip
    server = BotProcess(env=environment, cwd=tmp_path, log_path=tmp_path / "server.log")
    server.start()
    try:
        for front in _front(server):
            variables = dict(
                line.split("=", 1) for line in Path(f"/proc/{front}/environ").read_text().split("\0") if "=" in line
            )
            found = "\0".join(f"{name}={value}" for name, value in variables.items())
            for secret in (BOT_TOKEN, RECORDER_API_KEY, RECORDER_PASSWORD, _WEBEX_TOKEN, _PLATFORM_SECRET):
                assert secret not in found
            assert variables["SLACK_SIGNING_SECRET"] == SIGNING_SECRET
            assert {"PATH", "LANG", "PYTHONUNBUFFERED", "LOG_LEVEL", "RECORDING_BOT_FRONT"} <= set(variables)
            assert not {"SLACK_BOT_TOKEN", "DATABASE_PATH", "MEDIA_REPOSITORY_URL", "REDIS_URL"} & set(variables)
        # And it still serves.
        url, secret = server.url, SIGNING_SECRET
        sender = SlackSender(base_url=url, signing_secret=secret, response_url_factory=slack.response_url)
        try:
            assert sender.command("help", user=ADMIN).status_code == 200
        finally:
            sender.close()
        slack.wait_for_call("response_url", containing="/recording pause", timeout=10)
    finally:
        server.stop()


def test_the_bot_keeps_one_cpu_of_its_own_and_the_front_gets_the_others(server: BotProcess) -> None:
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2 or _cpu_quota_below(len(allowed)):
        pytest.skip("one CPU, or CPUs shared under a quota: nothing is pinned")
    master, worker = _front(server)
    assert server.process is not None
    bot_cpus = os.sched_getaffinity(server.process.pid)
    assert len(bot_cpus) == 1
    for front in (master, worker):
        assert os.sched_getaffinity(front) == allowed - bot_cpus


def test_a_form_s_errors_come_back_through_the_front_in_the_http_answer(
    server: BotProcess, sender: SlackSender, slack: SimulatedSlack
) -> None:
    sender.command("pause", user=ADMIN)
    view = wait_until(lambda: slack.modals(), what="the pause form", timeout=10)[0]
    answers = {"target": "not-a-call!", "duration": "5m", "channels": "both", "reason": "   "}
    answer = sender.submit_view(view, answers, user=ADMIN).json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"target", "reason"}


def test_health_is_the_bot_s_database_seen_through_the_front(server: BotProcess, environment: dict[str, str]) -> None:
    healthy = web.get(server.url + "/healthz", timeout=10)
    assert healthy.status_code == 200 and healthy.json()["database"] == "ok"
    blocker = sqlite3.connect(environment["DATABASE_PATH"], isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        locked = web.get(server.url + "/healthz", timeout=10)
        assert locked.status_code == 503
        assert locked.json()["status"] == "unavailable"
        assert environment["DATABASE_PATH"] not in locked.text
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert web.get(server.url + "/healthz", timeout=10).status_code == 200


def test_the_front_stops_when_the_bot_s_process_dies(server: BotProcess) -> None:
    master, worker = _front(server)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    wait_until(lambda: not _alive(master) and not _alive(worker), timeout=15, what="the front to stop")
    with pytest.raises(httpx.TransportError):
        web.get(server.url + "/healthz", timeout=2)
    server.process = None


def test_the_bot_stops_and_says_why_when_its_front_dies(server: BotProcess) -> None:
    master, _ = _front(server)
    assert server.process is not None
    os.kill(master, signal.SIGKILL)
    assert server.process.wait(timeout=20) == 1
    assert "the HTTP front stopped by itself" in server.log()
    server.process = None


def test_a_stop_finishes_what_the_front_already_acknowledged(
    server: BotProcess, sender: SlackSender, slack: SimulatedSlack
) -> None:
    for _ in range(5):
        assert sender.command("help", user=ADMIN).status_code == 200
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    server.process = None
    assert len(slack.wait_for_call("response_url", containing="/recording pause", count=5, timeout=5)) == 5


NOT_DONE = "it was not done — please run it again"


def _inbox_bodies(database_path: str) -> list[str]:
    """What the inbox file holds, read as another process would."""
    connection = sqlite3.connect(f"file:{database_path}-inbox?mode=ro", uri=True)
    try:
        return [str(body) for (body,) in connection.execute("SELECT body FROM inbox ORDER BY id")]
    finally:
        connection.close()


def test_a_frozen_bot_s_requests_are_acked_from_the_inbox_file_and_finished_after_its_restart(
    server: BotProcess, sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem,
    environment: dict[str, str],
) -> None:
    """The front stores each request itself before its ack: a bot's process that is stopped (swapped out,
    frozen by a debugger) delays nothing, and one killed after the ack loses nothing."""
    assert sender.command("help", user=ADMIN).status_code == 200  # the link's connection is open and in use
    slack.wait_for_call("response_url", containing="/recording pause", timeout=10)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        for text in ("help", "resume 8856"):
            started = time.perf_counter()
            response = sender.command(text, user=ADMIN)
            assert response.status_code == 200 and response.content == b""
            assert time.perf_counter() - started < 3
        bodies = _inbox_bodies(environment["DATABASE_PATH"])
        assert [b for b in bodies if "text=help" in b] and [b for b in bodies if "text=resume+8856" in b]
        assert not [r for r in recording_system.requests if r.params.get("action") == "MuteRecording"]
    finally:
        os.kill(server.process.pid, signal.SIGKILL)
    server.kill()  # the front too
    server.start()  # same database: the dead process's rows are taken over
    told = slack.wait_for_call("response_url", containing=NOT_DONE, timeout=15)
    assert "`/recording help`" in told[0].rendered
    slack.wait_for_call("response_url", containing="sent a resume for extension `8856`", timeout=15)
    assert [r.params.get("mute") for r in recording_system.requests if r.params.get("action") == "MuteRecording"
            and r.params.get("extension") == "8856"] == ["0"]  # fmt: skip
    wait_until(lambda: _inbox_bodies(environment["DATABASE_PATH"]) == [], what="the inbox file to empty")


def test_while_the_inbox_file_is_locked_the_bot_s_process_stores_requests_and_the_log_says_so(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    environment = procfile_environment(tmp_path, slack, recording_system, SQLITE_BUSY_TIMEOUT_SECONDS="0.25")
    server = BotProcess(env=environment, cwd=tmp_path, log_path=tmp_path / "server.log")
    server.start()
    sender = SlackSender(base_url=server.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    blocker = sqlite3.connect(environment["DATABASE_PATH"] + "-inbox", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the inbox file's write lock
        started = time.perf_counter()
        assert sender.command("help", user=ADMIN).status_code == 200
        assert time.perf_counter() - started < 3
        slack.wait_for_call("response_url", containing="/recording pause", timeout=10)
        assert "the bot's process stores each request instead until it can be written" in server.log()
        blocker.execute("ROLLBACK")
        assert sender.command("help", user=ADMIN).status_code == 200
        slack.wait_for_call("response_url", containing="/recording pause", count=2, timeout=10)
        wait_until(lambda: "can be written again" in server.log(), what="the log to say the file works again")
        wait_until(lambda: _inbox_bodies(environment["DATABASE_PATH"]) == [], what="the inbox file to empty")
    finally:
        blocker.close()
        sender.close()
        server.stop()


def test_the_front_loads_none_of_the_bot_s_heavy_parts() -> None:
    loaded = subprocess.run(
        # The worker's app too (bot.serving.front_app), loaded after the fork; a name set to None is kept out.
        [sys.executable, "-c", "import sys, bot.serving.front, bot.serving.front_app; "
         "print(' '.join(sorted(m for m, module in sys.modules.items() if module is not None)))"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    heavy = ("slack_bolt", "slack_sdk", "httpx", "pydantic", "psycopg", "bot.services")
    assert [name for name in loaded if name.startswith(heavy)] == []
    # Of the storage, only the inbox file's writer (plain sqlite3), which the front stores each request with.
    assert [name for name in loaded if name.startswith("bot.store")] == ["bot.store", "bot.store.database",
                                                                          "bot.store.inbox"]  # fmt: skip


# -- the link itself ---------------------------------------------------------------------------------


@pytest.fixture
def link() -> Iterator[tuple[LinkServer, list[Message]]]:
    received: list[Message] = []

    def handle(message: Message) -> Message | None:
        received.append(message)
        return {"echo": message.get("op")} if message.get("asks") else None

    server = LinkServer(handle).start()
    yield server, received
    server.stop(drain_seconds=1)


def test_only_the_bot_s_own_front_can_hand_it_a_request(link: tuple[LinkServer, list[Message]]) -> None:
    server, received = link
    directory = Path(server.address).parent
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    with pytest.raises(BotUnavailable):
        LinkClient(server.address, b"not the key").send({"op": "queue", "body": "forged"})
    assert received == []
    client = LinkClient(server.address, server.authkey)
    client.send({"op": "queue", "body": "first"})
    assert client.ask({"op": "health"}, timeout=5) == {"echo": "health"}
    assert [m["body"] for m in received if m["op"] == "queue"] == ["first"]


_LINK_IN_A_PROCESS = """
import sys, time
from bot.serving.link import LinkServer
server = LinkServer(lambda message: {"alive": True}).start()
print(server.address, server.authkey.hex(), flush=True)
time.sleep(60)
"""


def test_a_front_whose_bot_has_gone_answers_that_it_is_unavailable() -> None:
    bot = subprocess.Popen([sys.executable, "-c", _LINK_IN_A_PROCESS], stdout=subprocess.PIPE, text=True)
    try:
        assert bot.stdout is not None
        address, key = bot.stdout.readline().split()
        client = LinkClient(address, bytes.fromhex(key))
        assert client.ask({"op": "health"}, timeout=5) == {"alive": True}
        bot.kill()
        bot.wait(timeout=10)
        with pytest.raises(BotUnavailable, match=r"went away|cannot reach"):
            client.ask({"op": "health"}, timeout=5)
        with pytest.raises(BotUnavailable, match="cannot reach"):
            LinkClient(address, bytes.fromhex(key)).send({"op": "queue", "body": "after"})
    finally:
        bot.kill()
        bot.wait(timeout=10)


def test_an_answer_that_comes_too_late_is_not_taken_for_the_next_one() -> None:
    def slow(message: Message) -> Message | None:
        if message.get("op") == "slow":
            time.sleep(1.5)
        return {"answered": message.get("op")}

    server = LinkServer(slow).start()
    try:
        client = LinkClient(server.address, server.authkey)
        with pytest.raises(BotUnavailable, match="did not answer within"):
            client.ask({"op": "slow"}, timeout=0.5)
        assert client.ask({"op": "quick"}, timeout=5) == {"answered": "quick"}
    finally:
        server.stop(drain_seconds=2)


# -- a bot at capacity -------------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
def test_a_request_the_bot_has_no_room_for_is_answered_busy_through_its_response_url(
    bot: RecordingBot, slack: SimulatedSlack, engine: str
) -> None:
    """The front has already said 200; the bot's process says it is busy where the person will read it."""
    work = BackgroundWork(threads=1, max_pending=1)
    release = threading.Event()
    assert work.submit(lambda: release.wait(10))  # the one slot is taken
    dispatcher = BoltDispatcher(bolt=bot.bolt, work=work, database=bot.database, first_delivery=lambda _: True)
    link = FrontLink(dispatcher=dispatcher, replies=bot.replies)
    response_url = slack.response_url()
    body = command_body("help", user=ADMIN, response_url=response_url, team=TEAM, channel=CHANNEL).decode()
    try:
        assert link.handle({"op": "queue", "body": body, "headers": {}, "event_id": None}) is None
        said = slack.wait_for_call("response_url", containing="busy", timeout=5)[0]
        assert said.payload == {"response_type": "ephemeral", "text": BUSY_TEXT}
        assert [r.path for r in slack.requests if r.path.startswith("/response/")] == [urlsplit(response_url).path]
    finally:
        release.set()
        work.shutdown()


@pytest.mark.engines("sqlite")
def test_a_flood_the_bot_has_no_room_for_is_answered_busy_on_a_bounded_number_of_threads(
    bot: RecordingBot, slack: SimulatedSlack, engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    """3,000 commands in 4 s against slow response_urls once took the bot's process to 1,012 threads: one per
    busy answer. Now a few threads send them, a bounded number wait, and the rest are dropped and counted."""
    work = BackgroundWork(threads=1, max_pending=1)
    release = threading.Event()
    assert work.submit(lambda: release.wait(30))  # the one slot is taken: every request is answered busy
    dispatcher = BoltDispatcher(bolt=bot.bolt, work=work, database=bot.database, first_delivery=lambda _: True)
    # Slack's response_urls answer slowly (the one Slack gets is served on a thread of the simulator's own).
    slack.fail_next("response_url", Reply(body="ok", content_type="text/plain", delay_seconds=0.3), times=5000)
    link = FrontLink(dispatcher=dispatcher, replies=bot.replies)
    flood = BUSY_WAITING + 300
    before = threading.active_count()
    most = before
    try:
        for _ in range(flood):
            body = command_body("help", user=ADMIN, response_url=slack.response_url(), team=TEAM, channel=CHANNEL)
            assert link.handle({"op": "queue", "body": body.decode(), "headers": {}, "event_id": None}) is None
            most = max(most, threading.active_count())
        # Slow as they are, busy answers reach their response_urls (as many at once as there are senders).
        said = slack.wait_for_call("response_url", containing="busy", count=2 * BUSY_SENDERS, timeout=5)
        assert all(call.payload == {"response_type": "ephemeral", "text": BUSY_TEXT} for call in said)
        most = max(most, threading.active_count())
    finally:
        link.close()
        release.set()
        work.shutdown()
    # The senders, and the simulated Slack's thread for each one's connection.
    assert most <= before + 2 * BUSY_SENDERS, f"{most - before} threads more for {flood} busy answers"
    # Counted in a line or two, not one line each.
    dropped = [int(m[1]) for r in caplog.records if (m := re.search(r"dropped (\d+) busy answers?\b", r.getMessage()))]
    assert 1 <= len(dropped) <= 3 and sum(dropped) >= flood - BUSY_WAITING, dropped


def test_a_click_s_work_runs_at_the_process_s_own_priority_while_commands_run_lower() -> None:
    """A person waits for the recording system after an Approve or Resume click: that work does not stand
    behind every other process on a busy machine, as the pool's (WORK_NICENESS) does."""
    import os
    import threading

    from bot.serving.background import WORK_NICENESS, BackgroundWork

    work = BackgroundWork(threads=1, niceness=WORK_NICENESS)
    seen: dict[str, tuple[str, int]] = {}
    done = threading.Event()

    def where(name: str) -> None:
        thread = threading.get_native_id()
        seen[name] = (threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, thread))
        if len(seen) == 2:
            done.set()

    assert work.submit(lambda: where("command"))
    assert work.submit(lambda: where("click"), urgent=True)
    assert done.wait(5)
    work.shutdown()
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert seen["click"] == (seen["click"][0], own) and seen["click"][0].startswith("slack-click")
    assert seen["command"][0].startswith("slack-work") and seen["command"][1] == min(19, own + WORK_NICENESS)


def test_the_front_hands_over_a_click_as_urgent_with_only_the_headers_the_bot_reads(
    link: tuple[LinkServer, list[Message]],
) -> None:
    from bot.serving.edge import SlackEdge, slack_signature
    from bot.serving.front_app import RemoteDispatcher

    server, received = link
    dispatcher = RemoteDispatcher(LinkClient(server.address, server.authkey))
    edge = SlackEdge(signing_secret=SIGNING_SECRET, dispatcher=dispatcher)
    timestamp = str(int(time.time()))
    headers = {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": timestamp,
               "user-agent": "Slackbot 1.0", "x-forwarded-for": "203.0.113.9"}  # fmt: skip
    for body in (b'payload={"type":"block_actions"}', b"command=/recording&text=help"):
        signed = {**headers, "x-slack-signature": slack_signature(SIGNING_SECRET, timestamp, body)}
        assert edge.handle(body, signed)[0] == 200
    click, command = received
    assert (click["op"], click["urgent"], command["urgent"]) == ("queue", True, False)
    assert click["headers"] == command["headers"] == {"content-type": "application/x-www-form-urlencoded"}
