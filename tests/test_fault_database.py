"""A database another process holds locked: clear private errors, a 503 health check, no crash, full recovery.

The lock is a second sqlite3 connection holding `BEGIN EXCLUSIVE`, which stops the bot's writes whoever
runs the tests (a read-only chmod would not stop root, nor a process that already has the file open).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from bot.app import RecordingBot
from bot.config import Config
from bot.models import RequestState, Role
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.store.sqlite import describe_database_error, unavailable
from tests.conftest import AGENT, LEAD, SIGNING_SECRET, TEAM, ServedBot
from tests.support import web
from tests.support.pauses import audit_rows, buttons, cards, posted_card, wait_for_state, wait_until
from tests.support.processes import acked_in_time
from tests.support.slack_requests import SlackSender
from tests.test_pause_schedule import _paused

# The lock is an SQLite file lock; PostgreSQL outages have tests of their own.
pytestmark = [pytest.mark.usefixtures("roles"), pytest.mark.engines("sqlite")]

# The bot waits for the lock (SQLITE_BUSY_TIMEOUT_SECONDS, 2 s unless set), once for the change and once for
# its audit row; here a quarter of a second, so each wait the tests provoke costs no more than that.
BUSY_TIMEOUT_SECONDS = 0.25
REPLY_SECONDS = 10.0


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config(sqlite_busy_timeout_seconds=BUSY_TIMEOUT_SECONDS)


@contextmanager
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    blocker = sqlite3.connect(path, isolation_level=None, timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield blocker
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def _health(served: ServedBot) -> httpx.Response:
    return web.get(served.url + "/healthz", timeout=10)


def test_a_command_against_a_locked_database_is_answered_privately_naming_the_database_then_works_again(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    with locked(served.config.database_path):
        acked_in_time(lambda: sender.command("pause 8856 5m customer reads a card number", user=AGENT))
        (reply,) = slack.wait_for_call("response_url", timeout=REPLY_SECONDS)
        assert reply.payload["response_type"] == "ephemeral"
        assert "database" in reply.rendered and "locked" in reply.rendered
        assert "Something went wrong" not in reply.rendered and "Traceback" not in reply.rendered
        assert slack.calls("chat.postMessage") == []  # no card for a request that was never stored
        assert recording_system.requests == []

        health = _health(served)
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        assert "locked" in health.json()["database"]

    # Released: the health check and the very same command work, and the scheduler is still alive.
    assert _health(served).status_code == 200
    acked_in_time(lambda: sender.command("pause 8856 5m customer reads a card number", user=AGENT))
    slack.wait_for_call("response_url", containing="is waiting for an approver")
    request_id = int(buttons(posted_card(slack))[0]["value"])
    assert bot.services.pauses.get(request_id) is not None
    # The scheduler survived the lock too: the new request expires on time.
    served.clock.advance(minutes=10, seconds=1)
    wait_for_state(bot, request_id, RequestState.EXPIRED)


def test_an_approval_against_a_locked_database_changes_nothing_and_can_be_repeated_after(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    acked_in_time(lambda: sender.command("pause 8856 5m customer reads a card number", user=AGENT))
    card = wait_until(lambda: cards(slack) and cards(slack)[-1], what="the approval card")
    request_id = int(buttons(card)[0]["value"])
    slack.wait_for_call("response_url", containing="is waiting for an approver")
    slack.clear()

    with locked(served.config.database_path):
        acked_in_time(lambda: sender.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"]))
        (reply,) = slack.wait_for_call("response_url", timeout=REPLY_SECONDS)
        assert reply.payload["response_type"] == "ephemeral"
        assert reply.payload.get("replace_original") is False
        assert "database" in reply.rendered and "Something went wrong" not in reply.rendered
        assert recording_system.requests == []  # nothing was paused that the bot could not record
        assert slack.calls("chat.update") == []

    request = bot.services.pauses.get(request_id)
    assert request is not None and request.state is RequestState.PENDING
    acked_in_time(lambda: sender.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"]))
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert [(c["extension"], c["mute"]) for c in recording_system.mute_calls()] == [("8856", "3")]


def test_reads_still_answer_while_the_database_is_locked(
    sender: SlackSender, slack: SimulatedSlack, served: ServedBot
) -> None:
    # Readers are not blocked in WAL mode: listing requests works; only its audit row has to wait.
    with locked(served.config.database_path):
        acked_in_time(lambda: sender.command("requests", user=AGENT))
        (reply,) = slack.wait_for_call("response_url", timeout=REPLY_SECONDS)
        assert "No pending requests" in reply.rendered
    assert _health(served).status_code == 200


# -- resumes get through a database that cannot be written -----------------------------------------


def _resumes(recording_system: SimulatedRecordingSystem) -> list[dict[str, str]]:
    return [c for c in recording_system.mute_calls() if c["mute"] == "0"]


def test_a_resume_by_hand_reaches_the_recording_system_while_the_database_is_locked_and_is_recorded_after(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _paused(sender, slack, bot)
    slack.clear()
    with locked(served.config.database_path):
        acked_in_time(lambda: sender.command("resume 8856", user=AGENT))
        (reply,) = slack.wait_for_call("response_url", containing="resumed the recording", timeout=REPLY_SECONDS)
        assert [(c["extension"], c["mute"]) for c in _resumes(recording_system)] == [("8856", "0")]
        assert reply.payload["response_type"] == "in_channel"
        assert f"ending pause #{request_id}" in reply.rendered
        assert "could not record that yet" in reply.rendered and "locked" in reply.rendered
        assert "Something went wrong" not in reply.rendered
        # Asked again while the database still cannot record the first: not sent a second time.
        acked_in_time(lambda: sender.command("resume 8856", user=AGENT))
        slack.wait_for_call("response_url", containing="resumed the recording", count=2, timeout=REPLY_SECONDS)
        assert len(_resumes(recording_system)) == 1
        assert bot.services.pauses.get(request_id).state is RequestState.ACTIVE  # type: ignore[union-attr]

    # Released: the bot records the resume by itself, and its audit rows, held meanwhile, are written.
    done = wait_for_state(bot, request_id, RequestState.RESUMED, timeout=10)
    assert done.resumed_by == AGENT
    wait_until(lambda: bot.services.audit.held_rows == 0, timeout=5, what="the held audit rows to be written")
    upstream_rows = [
        r for r in audit_rows(bot, "upstream.mute_recording") if json.loads(r.details)["operation"] == "resume"
    ]
    assert len(upstream_rows) == 1 and upstream_rows[0].outcome == "ok"
    assert [json.loads(r.details)["request"] for r in audit_rows(bot, "request.resumed")] == [request_id]
    assert bot.services.audit.held_rows == 0
    # The window ends: the pause was resumed already, so nothing more goes to the recording system.
    served.clock.advance(minutes=6)
    time.sleep(0.5)
    assert len(_resumes(recording_system)) == 1


def test_the_automatic_resume_is_on_time_while_the_database_is_locked_and_is_recorded_once_after(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _paused(sender, slack, bot)
    with locked(served.config.database_path):
        served.clock.advance(minutes=5, seconds=1)
        wait_until(lambda: _resumes(recording_system), timeout=REPLY_SECONDS, what="the automatic resume")
        time.sleep(1.0)  # several scheduler passes while the lock is held: still one resume
        assert [(c["extension"], c["mute"]) for c in _resumes(recording_system)] == [("8856", "0")]
        assert _health(served).status_code == 503
    done = wait_for_state(bot, request_id, RequestState.RESUMED, timeout=10)
    assert done.resumed_by == "system"
    wait_until(lambda: bot.services.audit.held_rows == 0, timeout=5, what="the held audit rows to be written")
    time.sleep(0.5)
    assert len(_resumes(recording_system)) == 1
    (resumed,) = audit_rows(bot, "request.resumed")
    assert json.loads(resumed.details)["request"] == request_id
    assert resumed.team_id == TEAM  # the scheduler's rows belong to the request's workspace
    assert _health(served).status_code == 200


def test_a_full_disk_fails_the_health_check_and_resumes_still_get_through(
    make_config: Callable[..., Config],
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    tmp_path: Path,
) -> None:
    # A real full disk: a 4 MB tmpfs holding the database, then filled up.
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip("this machine does not let the tests mount a small file system")
    served = ServedBot(make_config(database_path=mount_point / "recording-bot.db"))
    try:
        served.start()
        assert served.bot is not None
        served.bot.services.authorizer.set_role(TEAM, LEAD, Role.APPROVER, source="test")
        served.bot.services.authorizer.set_role(TEAM, AGENT, Role.REQUESTER, source="test")
        sender = SlackSender(
            base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url
        )
        request_id = _paused(sender, slack, served.bot)
        filler = mount_point / "filler"
        with filler.open("wb", buffering=0) as out, suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
        health = _health(served)
        assert health.status_code == 503
        assert health.json()["database"] == "cannot be written: the disk is full"
        assert str(mount_point) not in health.text

        served.clock.advance(minutes=5, seconds=1)
        wait_until(lambda: _resumes(recording_system), timeout=REPLY_SECONDS, what="the automatic resume")
        filler.unlink()
        wait_for_state(served.bot, request_id, RequestState.RESUMED, timeout=10)
        assert len(_resumes(recording_system)) == 1
        assert _health(served).status_code == 200
        sender.close()
    finally:
        served.stop()
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_the_sqlite_codes_for_a_full_disk_and_a_lock_are_told_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE filler (x BLOB)")
    connection.execute("PRAGMA max_page_count = 8")
    with pytest.raises(sqlite3.Error) as full:
        for _ in range(100):
            connection.execute("INSERT INTO filler VALUES (zeroblob(4000))")
    assert full.value.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL
    assert describe_database_error(path, full.value) == (
        f"the disk holding the database file {path} is full: free space on it"
    )
    assert unavailable(path, full.value).reason == "the disk is full"
    connection.close()


def test_audit_rows_the_database_refuses_are_held_written_later_and_logged_whole_at_error_if_lost(
    sender: SlackSender,
    slack: SimulatedSlack,
    served: ServedBot,
    bot: RecordingBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with locked(served.config.database_path):
        acked_in_time(lambda: sender.command("requests", user=AGENT))
        slack.wait_for_call("response_url", timeout=REPLY_SECONDS)
        wait_until(lambda: bot.services.audit.held_rows == 1, timeout=REPLY_SECONDS, what="the row to be held")
    # Written by the scheduler once the lock is gone.
    wait_until(lambda: bot.services.audit.held_rows == 0, timeout=5, what="the held row to be written")
    assert [r.user_id for r in audit_rows(bot, "command.requests")] == [AGENT]

    with locked(served.config.database_path):
        acked_in_time(lambda: sender.command("requests", user=LEAD))
        wait_until(lambda: bot.services.audit.held_rows == 1, timeout=REPLY_SECONDS, what="the row to be held")
        with caplog.at_level(logging.ERROR, logger="bot.services.audit"):
            served.stop()  # the bot stops while the database still refuses the row
    (lost,) = [r for r in caplog.records if r.levelno == logging.ERROR and "audit row lost" in r.getMessage()]
    assert '"action": "command.requests"' in lost.getMessage() and f'"user_id": "{LEAD}"' in lost.getMessage()
