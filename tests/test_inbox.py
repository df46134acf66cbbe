"""Nothing acknowledged is dropped silently: the inbox of requests handed over for work after their ack.

A request the bot acknowledged is stored before its work is queued and removed once the work has ended; what
a killed process left is taken over once at the next start (or by another instance): a resume is carried
out again, anything else is told through its response_url that it was not done, and audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.action_ids import ACTION_APPROVE
from bot.config import Config
from bot.models import Role
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.store.connect import open_database
from bot.store.database import Database
from bot.store.inbox import InboxStore
from tests.conftest import ADMIN, AGENT, SIGNING_SECRET, ServedBot
from tests.support.pauses import wait_until
from tests.support.slack_requests import TEAM, SlackSender

DEAD = "gone-host-4242-deadbeef"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def database(config: Config) -> Iterator[Database]:
    opened = open_database(config)
    opened.migrate()
    yield opened
    opened.close()


def _mutes(recording_system: SimulatedRecordingSystem, extension: str, mute: str) -> list[Any]:
    return [
        r
        for r in recording_system.requests
        if r.params.get("action") == "MuteRecording"
        and r.params.get("extension") == extension
        and r.params.get("mute") == mute
    ]


def _audit(database: Database) -> list[dict[str, Any]]:
    return database.all("SELECT action, outcome, user_id, details FROM audit ORDER BY id")


def test_a_row_is_claimed_once_from_a_dead_instance_and_never_from_a_live_one(database: Database, engine: str) -> None:
    store = InboxStore(database=database)
    now = datetime.now(UTC)
    left = store.add(DEAD, body="command=%2Frecording&text=help", content_type=FORM, now=now)
    kept = store.add("alive-1", body="command=%2Frecording&text=list", content_type=FORM, now=now)
    assert store.claim_orphans("me", ["me", "alive-1", "other"]) != []
    # Claimed: it is now "me"'s, so a second claimer (which sees "me" alive) gets nothing.
    assert store.claim_orphans("other", ["me", "alive-1", "other"]) == []
    (claimed,) = [r for r in store.claim_orphans("third", ["third", "alive-1"]) if r.id == left]
    assert claimed.takeovers == 2 and claimed.instance_id == "third" and claimed.content_type == FORM
    assert claimed.received_at == now
    store.remove(left)
    store.remove(kept)
    assert store.count() == 0


def test_every_command_leaves_the_inbox_once_it_is_answered(
    served: ServedBot, sender: SlackSender, slack: SimulatedSlack, database: Database, engine: str
) -> None:
    for _ in range(5):
        assert sender.command("help", user=ADMIN).status_code == 200
    slack.wait_for_call("response_url", count=5, timeout=5)
    wait_until(lambda: InboxStore(database=database).count() == 0, what="the inbox to empty")


def test_after_a_kill_a_resume_is_carried_out_and_everything_else_is_told_it_was_not_done(
    make_config: Callable[..., Config],
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    database: Database,
    engine: str,
) -> None:
    """Rows as a killed process leaves them (its instance gone): the next start finishes each one, once."""
    served = ServedBot(make_config())
    sender = SlackSender(base_url="http://-", signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    now = served.clock()
    store = InboxStore(database=database)
    resume, pause = sender.command_body("resume 8856", user=ADMIN), sender.command_body("pause 8857 10m", user=ADMIN)
    click = sender.click_body(ACTION_APPROVE, "41", user=ADMIN)
    stale = sender.command_body("cancel 7", user=ADMIN)
    for body, at in ((resume, now), (pause, now), (click, now), (stale, now - timedelta(minutes=31))):
        store.add(DEAD, body=body.decode(), content_type=FORM, now=at)
    try:
        served.start()
        # The resume reaches the recording system again; its person gets the usual answer.
        wait_until(lambda: _mutes(recording_system, "8856", "0"), what="the resume to be carried out")
        answers = slack.wait_for_call("response_url", count=3, timeout=5)
        rendered = "\n".join(call.rendered for call in answers)
        assert "`/recording pause 8857 10m`" in rendered and "it was not done — please run it again" in rendered
        assert "click on *Approve*" in rendered
        assert "the resume was sent" in rendered
        assert "cancel 7" not in rendered  # its response_url expired: nobody to tell
        assert _mutes(recording_system, "8857", "3") == []  # a pause is never carried out unasked
        wait_until(lambda: store.count() == 0, what="the inbox to empty")
        rows = _audit(database)
        not_done = {row["action"]: json.loads(row["details"]) for row in rows if "not done" in (row["details"] or "")}
        assert not_done["command.pause"]["told"] is True
        assert not_done["click.approve"]["told"] is True
        assert not_done["command.cancel"]["told"] is False
        assert "response_url" in not_done["command.cancel"]["unanswerable"]
        assert any(row["action"] == "command.resume" and row["outcome"] == "ok" for row in rows)
        # Once: a second start finds nothing more to do.
        served.restart()
        assert len(_mutes(recording_system, "8856", "0")) == 1
        assert len(slack.calls("response_url")) == 3
    finally:
        served.stop()


def test_a_form_submission_leaves_the_inbox_when_its_request_is_made_or_at_once_when_refused(
    served: ServedBot, sender: SlackSender, slack: SimulatedSlack, database: Database, engine: str
) -> None:
    """A form is answered in its response and its request made afterwards: its row lasts until then."""
    assert served.bot is not None
    served.bot.services.authorizer.set_role(TEAM, AGENT, Role.REQUESTER, source="test")
    store = InboxStore(database=database)
    sender.command("pause", user=AGENT)
    wait_until(lambda: len(slack.modals()) >= 1, what="the pause form to open")
    view = slack.modals()[0]
    refused = sender.submit_view(view, {"target": "not-a-call!", "duration": "5m", "channels": "both",
                                        "reason": " "}, user=AGENT)  # fmt: skip
    assert refused.json()["response_action"] == "errors"
    assert store.count() == 0
    answers = {"target": "8856", "duration": "5m", "channels": "caller", "reason": "customer reads a card number"}
    assert sender.submit_view(view, answers, user=AGENT).status_code == 200
    wait_until(lambda: served.bot is not None and served.bot.services.pauses.open_requests(TEAM),
               what="the request to be made")  # fmt: skip
    wait_until(lambda: store.count() == 0, what="the inbox to empty")
