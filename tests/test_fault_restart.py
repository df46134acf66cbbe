"""A SIGKILL of the served process loses nothing: pending requests stay decidable, pauses resume on time, once.

The real server is started the way a PaaS starts it (the Procfile's command, configured only through the
environment), killed with SIGKILL (no shutdown code runs, as when a container dies), and started again on
the same database and port. Slack and the recording system are simulators in this test process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.models import PauseRequest, RequestState
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.store.pauses import PauseRequestStore
from bot.store.sqlite import SqliteDatabase
from tests.conftest import (
    AGENT,
    LEAD,
    LEAD2,
    SIGNING_SECRET,
)
from tests.support import web
from tests.support.cli import run_bot
from tests.support.pauses import buttons, card_text, wait_until
from tests.support.processes import BotProcess, procfile_environment
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

pytestmark = pytest.mark.slow

# 0.2 minutes = 12 s: long enough to approve after the restart, short enough to watch one expire.
APPROVAL_TIMEOUT_MINUTES = 0.2
# How late an automatic resume or an expiry may be, measured at the simulators.
ON_TIME_SECONDS = 3.0


@pytest.fixture
def environment(tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem) -> dict[str, str]:
    return procfile_environment(
        tmp_path, slack, recording_system,
        MEDIA_REPOSITORY_TIMEOUT_SECONDS="2", APPROVAL_TIMEOUT_MINUTES=str(APPROVAL_TIMEOUT_MINUTES),
    )  # fmt: skip


@pytest.fixture
def server(tmp_path: Path, environment: dict[str, str]) -> Iterator[BotProcess]:
    process = BotProcess(env=environment, cwd=tmp_path, log_path=tmp_path / "server.log")
    yield process
    process.stop()


def _cli(environment: dict[str, str], cwd: Path, *args: str) -> str:
    # In this process (tests/support/cli.py): the server's restart is what is tested here, not the command line.
    done = run_bot(args, env=environment, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _card(slack: SimulatedSlack, request_id: int) -> dict[str, Any]:
    """The approval card of one request, as it stands now."""
    title = f"Pause request #{request_id} "
    found = [m for m in slack.messages() if m["channel"] == CHANNEL and m["text"].startswith(title)]
    assert len(found) == 1, f"expected one card for #{request_id}, found {len(found)}"
    return found[0]


def _card_says(slack: SimulatedSlack, request_id: int, words: str) -> bool:
    return words in card_text(_card(slack, request_id))


def _ask(sender: SlackSender, slack: SimulatedSlack, extension: str) -> int:
    before = {m["ts"] for m in slack.messages() if m["channel"] == CHANNEL}
    started = time.perf_counter()
    response = sender.command(f"pause {extension} 10s customer reads out a card number", user=AGENT)
    assert response.status_code == 200
    assert time.perf_counter() - started < 3
    card = wait_until(
        lambda: next((m for m in slack.messages() if m["channel"] == CHANNEL and m["ts"] not in before), None),
        what=f"the approval card for {extension}",
    )
    return int(buttons(card)[0]["value"])


def _approve(sender: SlackSender, slack: SimulatedSlack, request_id: int, lead: str) -> None:
    card = _card(slack, request_id)
    assert [b["action_id"] for b in buttons(card)] == ["recording_approve", "recording_deny"]
    response = sender.click("recording_approve", str(request_id), user=lead, message_ts=card["ts"])
    assert response.status_code == 200
    wait_until(
        partial(_card_says, slack, request_id, "Recording paused until"),
        what=f"the card of #{request_id} to say the recording is paused",
    )


def _mutes(recording_system: SimulatedRecordingSystem, extension: str, mute: str) -> list[float]:
    """Arrival times of MuteRecording calls for one extension with one mask."""
    return [
        r.at
        for r in recording_system.requests
        if r.params.get("action") == "MuteRecording"
        and r.params.get("extension") == extension
        and r.params.get("mute") == mute
    ]


def _stored(database: SqliteDatabase, request_id: int) -> PauseRequest:
    request = PauseRequestStore(database=database).get(request_id)
    assert request is not None
    return request


def _epoch(moment: datetime | None) -> float:
    assert moment is not None
    return moment.timestamp()


def test_after_sigkill_and_restart_pending_requests_are_decidable_and_pauses_resume_once_on_time(
    tmp_path: Path,
    environment: dict[str, str],
    server: BotProcess,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
) -> None:
    for user, role in ((LEAD, "approver"), (LEAD2, "approver"), (AGENT, "requester")):
        assert f"{user} is now {role}" in _cli(environment, tmp_path, "users", "--team", TEAM, "add", user, role)
    paused_before_kill, approved_after_restart, left_to_expire = ["7001", "7002"], ["7003", "7004"], "7005"
    for extension in [*paused_before_kill, *approved_after_restart, left_to_expire]:
        recording_system.add_call(str(uuid.uuid4()), [extension])

    server.start()
    sender = SlackSender(base_url=server.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    database = SqliteDatabase(environment["DATABASE_PATH"])
    try:
        ids = {ext: _ask(sender, slack, ext) for ext in [*paused_before_kill, *approved_after_restart, left_to_expire]}
        for extension in paused_before_kill:
            _approve(sender, slack, ids[extension], LEAD)
            assert len(_mutes(recording_system, extension, "3")) == 1
        assert all(_stored(database, ids[e]).state is RequestState.ACTIVE for e in paused_before_kill)

        server.kill()
        with pytest.raises(httpx.TransportError):
            web.get(server.url + "/healthz", timeout=1)  # really gone
        server.start()  # same port, same database

        # Every pending request can still be approved from its old card: one MuteRecording each.
        for extension, lead in zip(approved_after_restart, (LEAD, LEAD2), strict=True):
            assert _stored(database, ids[extension]).state is RequestState.PENDING
            _approve(sender, slack, ids[extension], lead)
            assert len(_mutes(recording_system, extension, "3")) == 1
            assert f"Approved by <@{lead}>" in card_text(_card(slack, ids[extension]))

        # Every active pause resumes by itself at its time, whichever process stored it.
        for extension in [*paused_before_kill, *approved_after_restart]:
            resume_at = _epoch(_stored(database, ids[extension]).resume_at)
            (resumed,) = wait_until(
                partial(_mutes, recording_system, extension, "0"),
                timeout=max(0.0, resume_at - time.time()) + ON_TIME_SECONDS + 2,
                what=f"the automatic resume of {extension}",
            )
            assert resume_at - 0.05 <= resumed <= resume_at + ON_TIME_SECONDS, (extension, resumed - resume_at)
            wait_until(
                partial(_card_says, slack, ids[extension], "resumed automatically at"),
                what=f"the card of {extension} to say it resumed",
            )
            assert _stored(database, ids[extension]).resumed_by == "system"

        # The request nobody decided expires on time after the restart, and its buttons are gone.
        expiring = ids[left_to_expire]
        expires_at = _epoch(_stored(database, expiring).expires_at)
        card_ts = _card(slack, expiring)["ts"]
        (expired_update,) = wait_until(
            lambda: [
                c for c in slack.calls("chat.update") if c.payload.get("ts") == card_ts and "Expired at" in c.rendered
            ],
            timeout=max(0.0, expires_at - time.time()) + ON_TIME_SECONDS + 2,
            what="the card of the undecided request to say Expired",
        )
        assert expires_at - 0.05 <= expired_update.at <= expires_at + ON_TIME_SECONDS
        assert buttons(_card(slack, expiring)) == []
        assert _stored(database, expiring).state is RequestState.EXPIRED
        slack.wait_for_call("chat.postMessage", containing=f"#{expiring} for extension `{left_to_expire}` expired")

        # Nothing was resumed (or paused) twice, and nothing reached the recording_system for the expired request.
        time.sleep(1.0)  # a second scheduler, had one survived the kill, would show itself here
        for extension in [*paused_before_kill, *approved_after_restart]:
            assert len(_mutes(recording_system, extension, "3")) == 1, extension
            assert len(_mutes(recording_system, extension, "0")) == 1, extension
        assert [r for r in recording_system.mute_calls() if r.get("extension") == left_to_expire] == []
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- server log ---\n{server.log()}") from error
    finally:
        database.close()
        sender.close()
