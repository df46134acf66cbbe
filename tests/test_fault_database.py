"""A database another process holds locked: clear private errors, a 503 health check, no crash, full recovery.

The lock is a second sqlite3 connection holding `BEGIN EXCLUSIVE`, which stops the bot's writes whoever
runs the tests (a read-only chmod would not stop root, nor a process that already has the file open).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot.app import RecordingBot
from bot.models import RequestState
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import AGENT, LEAD, ServedBot
from tests.pause_helpers import buttons, cards, posted_card, wait_for_state, wait_until
from tests.process_helpers import acked_in_time
from tests.slack_requests import SlackSender

# The lock is an SQLite file lock; PostgreSQL outages have tests of their own.
pytestmark = [pytest.mark.usefixtures("roles"), pytest.mark.engines("sqlite")]

# The bot waits up to 2 s for the lock (BUSY_TIMEOUT_MS), once for the change and once for its audit row.
REPLY_SECONDS = 10.0


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
    return httpx.get(served.url + "/healthz", timeout=10)


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
