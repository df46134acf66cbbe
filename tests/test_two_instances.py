"""Two live instances on one PostgreSQL database, as a platform runs them: real server processes started
with the Procfile's command. A pause asked on one is approved on the other; the approving instance is
killed with SIGKILL and the survivor resumes on time, once; racing clicks on both give one MuteRecording;
work a dead instance left in flight is taken over. On SQLite, a second instance is refused at start."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.models import RequestState
from bot.sandbox.postgres_server import PostgresServer
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.store.pauses import PauseRequestStore
from bot.store.postgres import PostgresDatabase
from tests.conftest import (
    ADMIN,
    AGENT,
    BOT_TOKEN,
    LEAD,
    LEAD2,
    RECORDER_API_KEY,
    RECORDER_PASSWORD,
    RECORDER_USER,
    SIGNING_SECRET,
)
from tests.support.cli import run_bot
from tests.support.pauses import buttons, wait_until
from tests.support.processes import BotProcess, free_port, procfile_command
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

pytestmark = pytest.mark.slow

# The automatic resume counts as on time up to this long after the pause's end (the promise).
ON_TIME_SECONDS = 15.0


def _environment(slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, **database: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "BOT_ADMINS": ADMIN,
        "MEDIA_REPOSITORY_URL": recording_system.url,
        "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY,
        "MEDIA_REPOSITORY_USERNAME": RECORDER_USER,
        "MEDIA_REPOSITORY_PASSWORD": RECORDER_PASSWORD,
        "MEDIA_REPOSITORY_TIMEOUT_SECONDS": "8",
        **database,
    }


class Pair:
    """Two instances of the bot on one database, each with its own port and a sender signing as Slack."""

    def __init__(self, env: dict[str, str], tmp_path: Path, slack: SimulatedSlack) -> None:
        self.env = env
        self.processes = [
            BotProcess(env={**env, "PORT": str(free_port())}, cwd=tmp_path, log_path=tmp_path / f"instance-{name}.log")
            for name in ("a", "b")
        ]
        self.senders = [
            SlackSender(base_url=p.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
            for p in self.processes
        ]

    def logs(self) -> str:
        return "\n".join(f"--- instance {n} ---\n{p.log()}" for n, p in zip("ab", self.processes, strict=True))

    def close(self) -> None:
        for sender in self.senders:
            sender.close()
        for process in self.processes:
            process.stop()


@pytest.fixture
def pair(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, postgres_server: PostgresServer
) -> Iterator[Pair]:
    env = _environment(slack, recording_system, DATABASE_URL=postgres_server.create_database())
    # The operator's `recording-bot users add`, run in this process (the instances are what is tested here).
    for user, role in ((LEAD, "approver"), (LEAD2, "approver"), (AGENT, "requester")):
        done = run_bot(["users", "--team", TEAM, "add", user, role], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    pair = Pair(env, tmp_path, slack)
    for process in pair.processes:
        process.start()
    yield pair
    pair.close()


def _ask(sender: SlackSender, slack: SimulatedSlack, extension: str, duration: str = "10s") -> tuple[int, str]:
    before = {m["ts"] for m in slack.messages() if m["channel"] == CHANNEL}
    assert sender.command(f"pause {extension} {duration} card number", user=AGENT).status_code == 200
    card = wait_until(
        lambda: next((m for m in slack.messages() if m["channel"] == CHANNEL and m["ts"] not in before), None),
        what=f"the card for {extension}",
    )
    return int(buttons(card)[0]["value"]), str(card["ts"])


def _mutes(recording_system: SimulatedRecordingSystem, extension: str, mute: str) -> list[float]:
    return [
        r.at
        for r in recording_system.requests
        if r.params.get("action") == "MuteRecording"
        and r.params.get("extension") == extension
        and r.params.get("mute") == mute
    ]


def _stored(env: dict[str, str], request_id: int) -> Any:
    database = PostgresDatabase(env["DATABASE_URL"])
    try:
        return PauseRequestStore(database=database).get(request_id)
    finally:
        database.close()


def test_asked_on_one_approved_on_the_other_and_the_survivor_resumes_on_time_once_after_a_sigkill(
    pair: Pair, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    recording_system.add_call(str(uuid.uuid4()), ["7101"])
    survivor, doomed = pair.processes
    request_id, ts = _ask(pair.senders[0], slack, "7101")
    try:
        assert pair.senders[1].click("recording_approve", str(request_id), user=LEAD, message_ts=ts).status_code == 200
        wait_until(lambda: _mutes(recording_system, "7101", "3"), what="the MuteRecording sent by the approver")
        active = wait_until(
            lambda: (r := _stored(pair.env, request_id)) is not None and r.state is RequestState.ACTIVE and r,
            what="the request to be active",
        )
        doomed.kill()
        assert survivor.process is not None and survivor.process.poll() is None
        resume_at = active.resume_at.timestamp()
        (resumed,) = wait_until(
            lambda: _mutes(recording_system, "7101", "0"),
            timeout=max(0.0, resume_at - time.time()) + ON_TIME_SECONDS + 5,
            what="the survivor's automatic resume",
        )
        assert resume_at - 0.05 <= resumed <= resume_at + ON_TIME_SECONDS, resumed - resume_at
        wait_until(lambda: _stored(pair.env, request_id).state is RequestState.RESUMED, what="the request resumed")
        time.sleep(3)  # a second resume, had anything sent one, would show itself here
        assert len(_mutes(recording_system, "7101", "0")) == 1
        assert len(_mutes(recording_system, "7101", "3")) == 1
    except AssertionError as error:
        raise AssertionError(f"{error}\n{pair.logs()}") from error


def test_fifty_racing_approvals_spread_over_both_instances_send_one_mute_recording(
    pair: Pair, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    recording_system.add_call(str(uuid.uuid4()), ["7102"])
    request_id, ts = _ask(pair.senders[0], slack, "7102", "5m")
    barrier = threading.Barrier(50)

    def click(index: int) -> int:
        barrier.wait()
        sender = pair.senders[index % 2]
        return sender.click(
            "recording_approve", str(request_id), user=(LEAD, LEAD2)[index % 3 % 2], message_ts=ts
        ).status_code

    threads_done: list[int] = []
    threads = [threading.Thread(target=lambda i=i: threads_done.append(click(i))) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert threads_done == [200] * 50
        wait_until(lambda: _stored(pair.env, request_id).state is RequestState.ACTIVE, what="the pause")
        # Every loser is told privately who decided first.
        wait_until(
            lambda: len(slack.calls("response_url")) >= 49 + 1, timeout=20, what="a reply to every losing click"
        )
        time.sleep(1)
        assert len(_mutes(recording_system, "7102", "3")) == 1
    except AssertionError as error:
        raise AssertionError(f"{error}\n{pair.logs()}") from error


def test_a_pause_in_flight_on_an_instance_that_dies_is_taken_over_and_resumed_to_be_safe(
    pair: Pair, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    recording_system.add_call(str(uuid.uuid4()), ["7103"])
    _, doomed = pair.processes
    request_id, ts = _ask(pair.senders[0], slack, "7103", "5m")
    # The MuteRecording hangs (within the client's 8 s timeout): the approving instance holds it in flight.
    recording_system.slow_seconds = 6.0
    recording_system.fail_next("slow")
    assert pair.senders[1].click("recording_approve", str(request_id), user=LEAD, message_ts=ts).status_code == 200
    try:
        # Killed once its MuteRecording has reached the recording system (claimed is not enough: killed before
        # sending, the slow answer would be the survivor's resume, and its stop would wait that out).
        wait_until(
            lambda: _mutes(recording_system, "7103", "3")
            and _stored(pair.env, request_id).state is RequestState.EXECUTING,
            what="the pause in flight",
        )  # fmt: skip
        doomed.kill()
        killed_at = time.time()
        failed = wait_until(
            lambda: (r := _stored(pair.env, request_id)).state is RequestState.FAILED and r,
            timeout=20, what="the survivor to take the request over",
        )  # fmt: skip
        assert time.time() - killed_at <= 15
        assert "resumed to be safe" in (failed.error or "")
        wait_until(lambda: _mutes(recording_system, "7103", "0"), what="the resume sent to be safe")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{pair.logs()}") from error


def test_a_second_instance_on_one_sqlite_file_is_refused_at_start_saying_why(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    env = _environment(slack, recording_system, DATABASE_PATH=str(tmp_path / "bot.db"))
    first = BotProcess(env={**env, "PORT": str(free_port())}, cwd=tmp_path, log_path=tmp_path / "first.log")
    first.start()
    try:
        second = subprocess.run(
            procfile_command(), env={**env, "PORT": str(free_port())}, cwd=tmp_path,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        output = second.stdout + second.stderr
        assert second.returncode != 0
        assert "another recording-bot instance is already serving" in output, output
        assert "DATABASE_URL" in output and "Traceback" not in output
    finally:
        first.stop()
    # Once the first has stopped, the file can be served again.
    again = BotProcess(env={**env, "PORT": str(free_port())}, cwd=tmp_path, log_path=tmp_path / "again.log")
    again.start()
    again.stop()
