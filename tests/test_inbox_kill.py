"""A kill -9 of `recording-bot serve`'s bot process during a flood: every command Slack had its ack for is
answered after the restart, or done before the kill. Acknowledged resumes are all carried out.

The real server (the Procfile's command) with simulated Slack and recording system; the response_urls answer
slowly, so that hundreds of acknowledged commands are still waiting in the bot's process when it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from bot.sandbox.simulators.base import Reply
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.store.sqlite import SqliteDatabase
from tests.conftest import ADMIN, SIGNING_SECRET
from tests.support import web
from tests.support.pauses import wait_until
from tests.support.processes import BotProcess, procfile_environment
from tests.support.slack_requests import SlackSender

pytestmark = pytest.mark.slow

FLOOD = 600
SENDERS = 8
# Every this many commands, one is a resume (the others ask for help: answered without any upstream).
RESUME_EVERY = 10
# Kill once this many have their ack: most of them still wait behind the slow replies.
KILL_AFTER_ACKS = 300
SLOW_REPLY_SECONDS = 0.05
NOT_DONE = "it was not done — please run it again"


def test_a_kill_during_a_flood_loses_no_acknowledged_command(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    environment = procfile_environment(tmp_path, slack, recording_system, LOG_LEVEL="WARNING")
    server = BotProcess(env=environment, cwd=tmp_path, log_path=tmp_path / "server.log")
    slack.fail_next("response_url", Reply(body="ok", content_type="text/plain", delay_seconds=SLOW_REPLY_SECONDS),
                    times=2 * FLOOD)  # fmt: skip
    server.start()
    sender = SlackSender(base_url=server.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    bodies = [
        (sender.command_body("resume 8856" if i % RESUME_EVERY == 0 else "help", user=ADMIN), i % RESUME_EVERY == 0)
        for i in range(FLOOD)
    ]
    acked: dict[str, bool] = {}  # response_url path → whether it was a resume
    refused = 0
    lock = threading.Lock()

    def flood(share: list[tuple[bytes, bool]]) -> None:
        nonlocal refused
        with web.client(timeout=5) as http:
            for body, resumes in share:
                try:
                    headers = {**_signed(body), "Content-Type": "application/x-www-form-urlencoded"}
                    response = http.post(server.url + "/slack/events", content=body, headers=headers)
                except httpx.TransportError:
                    with lock:
                        refused += 1
                    continue
                with lock:
                    if response.status_code == 200 and not response.content:
                        acked[_path(body)] = resumes
                    else:
                        refused += 1

    threads = [threading.Thread(target=flood, args=(bodies[i::SENDERS],)) for i in range(SENDERS)]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: len(acked) >= KILL_AFTER_ACKS, timeout=10, what="the first acks")
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)  # the bot's process only: the front sees it go
        for thread in threads:
            thread.join(10)
        server.kill()  # the front too, whatever it still does
        answered_before = _answered(slack)
        server.start()  # same port, same database

        def unanswered() -> list[str]:
            answered = _answered(slack)
            return [path for path in acked if path not in answered]

        wait_until(lambda: not unanswered(), timeout=15, what="an answer to every acknowledged command")
        answers = _answers(slack)
        told = [path for path in acked if NOT_DONE in answers[path]]
        # Done before the kill, and told "not done" too: killed between its reply and the inbox's delete.
        both = [path for path in told if path in answered_before]
        resumes = [path for path, resumes in acked.items() if resumes]
        # Every acknowledged resume was carried out (again, if need be): its own answer, never "not done".
        assert [answers[path] for path in resumes if "sent a resume for extension `8856`" not in answers[path]] == []
        assert not any(NOT_DONE in answers[path] for path in resumes)
        mutes = [r for r in recording_system.requests if r.params.get("action") == "MuteRecording"]
        assert len(mutes) >= len(resumes)
        # Every acknowledged command has its audit row: its own, or the one saying it was not done.
        database = SqliteDatabase(environment["DATABASE_PATH"])
        try:
            audited = wait_until(lambda: _audited(database) >= len(acked) and _audited(database),
                                 what="an audit row for every acknowledged command")  # fmt: skip
        finally:
            database.close()
        print(f"\nflood {FLOOD}: acked {len(acked)}, not acked (503 or cut off) {refused}; answered {len(acked)}: "
              f"done {len(acked) - len(told) + len(both)} (resumes {len(resumes)}, all carried out), "
              f"told not done {len(told)} (of them done too {len(both)}), audited {audited}, "
              f"lost {len(unanswered())}")  # fmt: skip
        assert told, "the kill came after everything was done: nothing was tested"
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- server log ---\n{server.log()}") from error
    finally:
        server.stop()
        sender.close()


def _audited(database: SqliteDatabase) -> int:
    row = database.one("SELECT COUNT(*) AS n FROM audit WHERE action LIKE 'command.%'")
    return int(row["n"]) if row else 0


def _signed(body: bytes) -> dict[str, str]:
    from bot.sandbox.simulators.slack_sender import signed_headers

    return signed_headers(SIGNING_SECRET, body)


def _path(body: bytes) -> str:
    from urllib.parse import parse_qs, urlsplit

    return urlsplit(parse_qs(body.decode())["response_url"][0]).path


def _answered(slack: SimulatedSlack) -> set[str]:
    return {r.path for r in slack.requests if r.path.startswith("/response/")}


def _answers(slack: SimulatedSlack) -> dict[str, str]:
    found: dict[str, str] = {}
    for request in slack.requests:
        if request.path.startswith("/response/"):
            found[request.path] = found.get(request.path, "") + "\n" + str(json.loads(request.body).get("text", ""))
    return found
