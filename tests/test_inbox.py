"""Nothing acknowledged is dropped silently: the inbox of requests handed over for work after their ack.

A request the bot acknowledged is stored before its work is queued and removed once the work has ended; what
a killed process left is taken over once at the next start (or by another instance): a resume is carried
out again, anything else is told through its response_url that it was not done, and audited.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.action_ids import ACTION_APPROVE
from bot.config import Config
from bot.models import Role
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.store.connect import open_database, open_inbox_database
from bot.store.database import Database, DatabaseUnavailable
from bot.store.inbox import InboxFile, InboxStore, inbox_path
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


@pytest.fixture
def inbox(database: Database) -> Iterator[InboxStore]:
    """The inbox the bot reads: on SQLite its own file beside the database, on PostgreSQL the database."""
    where = open_inbox_database(database)
    store = InboxStore(database=where)
    if where is not database:
        store.create_file_schema()
    yield store
    if where is not database:
        where.close()


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


def test_a_row_is_claimed_once_from_a_dead_instance_and_never_from_a_live_one(inbox: InboxStore, engine: str) -> None:
    store = inbox
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
    served: ServedBot, sender: SlackSender, slack: SimulatedSlack, inbox: InboxStore, engine: str
) -> None:
    for _ in range(5):
        assert sender.command("help", user=ADMIN).status_code == 200
    slack.wait_for_call("response_url", count=5, timeout=5)
    wait_until(lambda: inbox.count() == 0, what="the inbox to empty")


def test_after_a_kill_a_resume_is_carried_out_and_everything_else_is_told_it_was_not_done(
    make_config: Callable[..., Config],
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    database: Database,
    inbox: InboxStore,
    engine: str,
) -> None:
    """Rows as a killed process leaves them (its instance gone): the next start finishes each one, once."""
    served = ServedBot(make_config())
    sender = SlackSender(base_url="http://-", signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    now = served.clock()
    store = inbox
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


def test_a_form_submission_leaves_the_inbox_when_its_request_is_made_or_when_it_is_refused(
    served: ServedBot, sender: SlackSender, slack: SimulatedSlack, inbox: InboxStore, engine: str
) -> None:
    """A form is answered in its response and its request made afterwards: its row lasts until then."""
    assert served.bot is not None
    served.bot.services.authorizer.set_role(TEAM, AGENT, Role.REQUESTER, source="test")
    store = inbox
    sender.command("pause", user=AGENT)
    wait_until(lambda: len(slack.modals()) >= 1, what="the pause form to open")
    view = slack.modals()[0]
    refused = sender.submit_view(view, {"target": "not-a-call!", "duration": "5m", "channels": "both",
                                        "reason": " "}, user=AGENT)  # fmt: skip
    assert refused.json()["response_action"] == "errors"
    wait_until(lambda: store.count() == 0, what="the refused form's row to go")  # no request, nothing to wait for
    answers = {"target": "8856", "duration": "5m", "channels": "caller", "reason": "customer reads a card number"}
    assert sender.submit_view(view, answers, user=AGENT).status_code == 200
    wait_until(lambda: served.bot is not None and served.bot.services.pauses.open_requests(TEAM),
               what="the request to be made")  # fmt: skip
    wait_until(lambda: store.count() == 0, what="the inbox to empty")


@pytest.mark.engines("sqlite")
def test_rows_an_earlier_version_left_in_the_database_are_moved_to_the_inbox_file_and_taken_over(
    make_config: Callable[..., Config], slack: SimulatedSlack, recording_system: SimulatedRecordingSystem,
    database: Database,
) -> None:
    """SQLite: the inbox moved from the database's own table into its file; nothing left there is lost."""
    served = ServedBot(make_config())
    sender = SlackSender(base_url="http://-", signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    body = sender.command_body("resume 8856", user=ADMIN).decode()
    InboxStore(database=database).add(DEAD, body=body, content_type=FORM, now=served.clock())
    try:
        served.start()
        wait_until(lambda: _mutes(recording_system, "8856", "0"), what="the moved resume to be carried out")
        assert InboxStore(database=database).count() == 0
        assert served.bot is not None and served.bot.inbox_file == inbox_path(served.config.database_path)
        file_store = InboxStore(database=open_inbox_database(database))
        wait_until(lambda: file_store.count() == 0, what="the inbox file to empty")
        served.restart()
        assert len(_mutes(recording_system, "8856", "0")) == 1
    finally:
        served.stop()


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another writer (as the bot's process would be) holding the file's one write lock for `seconds`."""
    holding = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        holding.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    return thread


@pytest.mark.engines("sqlite")
def test_the_front_s_writer_waits_out_another_writer_and_refuses_in_words_past_its_wait(
    inbox: InboxStore, config: Config
) -> None:
    path = inbox_path(config.database_path)
    writer = InboxFile(path, "front-1", wait_seconds=0.3)
    try:
        holder = _hold_write_lock(path, 0.05)
        started = time.monotonic()
        entry = writer.add(body="command=%2Frecording&text=help", content_type=FORM)
        assert time.monotonic() - started >= 0.04  # it did wait for the lock
        holder.join()
        (row,) = inbox.claim_orphans("bot-2", ["bot-2"])
        assert (row.id, row.body, row.content_type) == (entry, "command=%2Frecording&text=help", FORM)
        holder = _hold_write_lock(path, 0.8)
        with pytest.raises(DatabaseUnavailable, match=r"locked by another writer for over 0\.3 s"):
            writer.add(body="command=%2Frecording&text=list", content_type=FORM)
        holder.join()
        writer.remove(entry)
        assert inbox.count() == 0
    finally:
        writer.close()


def test_the_front_s_writer_never_creates_a_missing_inbox_file(tmp_path: Path) -> None:
    path = tmp_path / "recording-bot.db-inbox"
    writer = InboxFile(path, "front-1")
    with pytest.raises(DatabaseUnavailable, match=r"the inbox file .*recording-bot\.db-inbox cannot be written"):
        writer.add(body="command=%2Frecording&text=help", content_type=FORM)
    writer.close()
    assert not path.exists()


@pytest.mark.engines("sqlite")
def test_the_front_s_threads_share_its_writer_and_every_row_gets_its_own_id(
    inbox: InboxStore, config: Config
) -> None:
    writer = InboxFile(inbox_path(config.database_path), "front-1")
    written: list[tuple[int, str]] = []
    failures: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for i in range(25):
                body = f"command=%2Frecording&text=help&thread={thread}&i={i}"
                written.append((writer.add(body=body, content_type=FORM), body))
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        assert len({entry for entry, _ in written}) == 200
        rows = inbox.claim_orphans("bot-2", ["bot-2"])
        assert sorted((row.id, row.body) for row in rows) == sorted(written)
    finally:
        writer.close()
