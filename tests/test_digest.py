"""The daily compliance digest over HTTP on the injected clock: posted at its time with its figures, its chart (a
PNG drawn in a child process) and its audit rows (CSV) uploaded through the simulated Slack's files API; once
from two instances; late after a day missed; posted now by an admin; written to files by the CLI; and the audit
chain's anchored heads catching a truncated and a rewritten chain on both engines."""

from __future__ import annotations

import csv
import io
import os
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from bot.blocks.digest import anchors_in
from bot.config import Config, ConfigurationError, load_config
from bot.listeners.digest import SlackDigestPublisher
from bot.models import Invocation, RequestState, Role, SlackUser
from bot.models.digest import ChartSeries, Digest
from bot.sandbox.simulators.base import Reply
from bot.sandbox.simulators.slack import SimulatedSlack, SlackCall
from bot.services.digest import DigestSchedule
from bot.store.audit import AuditStore, chain_hash
from bot.store.connect import open_database
from bot.store.database import Database
from bot.store.digests import DigestStore
from tests.conftest import ADMIN, AGENT, BOT_TOKEN, LEAD, LEAD2, SIGNING_SECRET, ServedBot
from tests.conftest import TestClock as SharedClock
from tests.support.cli import run_bot
from tests.support.pauses import ask_pause, click_card, latest_reply, wait_for_state, wait_until
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

DIGEST_CHANNEL = "C0DIGEST"
ZONE = "Europe/Berlin"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The chart's child process imports matplotlib: a few seconds on a loaded machine.
CHART_SECONDS = 30.0


@dataclass
class Floor:
    """A served bot whose digest falls three hours from the test clock's start (in Berlin time)."""

    served: ServedBot
    sender: SlackSender
    clock: SharedClock
    due: datetime

    @property
    def bot(self) -> Any:
        assert self.served.bot is not None
        return self.served.bot

    def to_digest_time(self, *, extra: timedelta = timedelta(seconds=1)) -> None:
        self.clock.advance(seconds=(self.due - self.clock()).total_seconds() + extra.total_seconds())


def _digest_settings(clock: SharedClock) -> tuple[dict[str, str], datetime]:
    due = (clock() + timedelta(hours=3)).replace(second=0, microsecond=0)
    local = due.astimezone(ZoneInfo(ZONE))
    return {"digest_channel": DIGEST_CHANNEL, "digest_time": f"{local:%H:%M}", "digest_timezone": ZONE}, due


@pytest.fixture
def floors(make_config: Callable[..., Config], slack: SimulatedSlack) -> Iterator[Callable[..., Floor]]:
    """Start served bots that share one clock (and, with the same config, one database)."""
    started: list[Floor] = []
    clock = SharedClock()
    settings, due = _digest_settings(clock)
    config = make_config(**settings)

    def start(**overrides: Any) -> Floor:
        served = ServedBot(config.model_copy(update=overrides) if overrides else config, clock=clock).start()
        sender = SlackSender(
            base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url
        )
        floor = Floor(served, sender, clock, due)
        started.append(floor)
        authorizer = floor.bot.services.authorizer
        for user, role, group in ((LEAD, Role.APPROVER, "sales"), (AGENT, Role.REQUESTER, "sales"),
                                  (LEAD2, Role.APPROVER, None)):  # fmt: skip
            authorizer.set_role(TEAM, user, role, group=group, source="test")
        return floor

    yield start
    for floor in started:
        floor.sender.close()
        floor.served.stop()


def _digests(slack: SimulatedSlack) -> list[SlackCall]:
    return [
        call
        for call in slack.calls("chat.postMessage")
        if "Compliance digest of" in call.text and call.payload.get("channel") in (DIGEST_CHANNEL, CHANNEL)
    ]


def _wait_digests(slack: SimulatedSlack, count: int = 1) -> list[SlackCall]:
    found: list[SlackCall] = wait_until(
        lambda: len(_digests(slack)) >= count and _digests(slack), timeout=CHART_SECONDS, what="the digest"
    )
    return found


def _wait_uploads(slack: SimulatedSlack, count: int) -> list[Any]:
    found: list[Any] = wait_until(
        lambda: len(slack.uploads()) >= count and slack.uploads(), timeout=CHART_SECONDS, what="the digest's files"
    )
    return found


def _expected_heads(database: Database, end: datetime) -> list[str]:
    newest: dict[str, tuple[int, str]] = {}
    for row in database.all("SELECT team_id, chain_seq, row_hash, at FROM audit WHERE chain_seq IS NOT NULL"):
        if datetime.fromisoformat(row["at"]) < end and int(row["chain_seq"]) > newest.get(row["team_id"], (0, ""))[0]:
            newest[row["team_id"]] = (int(row["chain_seq"]), row["row_hash"])
    return [f"{team}:{seq}:{digest}" for team, (seq, digest) in sorted(newest.items())]


def _wait_for_a_quiet_audit(database: Database, quiet_for: float = 0.3) -> None:
    """Until no audit row has been added for `quiet_for` seconds (the rows carry the wall clock's time, so a row
    written late by a slow thread would still fall inside the period, after the digest took the chain's head)."""
    last: list[tuple[int, float]] = []

    def quiet() -> bool:
        count = int(database.one("SELECT count(*) AS n FROM audit")["n"])
        if not last or last[0][0] != count:
            last[:] = [(count, time.monotonic())]
        return time.monotonic() - last[0][1] >= quiet_for

    wait_until(quiet, what="the audit to stop growing")


def _cli_env(config: Config, slack: SimulatedSlack, **more: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url, **more}
    if config.database_url is not None:
        env["DATABASE_URL"] = config.database_url.get_secret_value()
    else:
        env["DATABASE_PATH"] = str(config.database_path)
    return env


# -- the digest at its time ------------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
def test_the_digest_is_posted_at_its_time_with_its_figures_its_chart_and_its_audit_rows(
    floors: Callable[..., Floor], slack: SimulatedSlack, tmp_path: Path
) -> None:
    floor = floors()
    admin = Invocation(user=SlackUser(team_id=TEAM, user_id=ADMIN), channel_id=CHANNEL, request_id="test")
    floor.bot.services.authorizer.configure_group(admin, "sales", approvals=2)  # four eyes
    # A pause that outlives its window: the bot is down when it should end, and resumes it 12 minutes late.
    late_one = ask_pause(floor.sender, floor.bot, "pause 8856 5m customer reads a card", AGENT)
    click_card(floor.sender, slack, "recording_approve", late_one, LEAD)
    latest_reply(slack, "counted (1 of 2)")
    click_card(floor.sender, slack, "recording_approve", late_one, LEAD2)
    wait_for_state(floor.bot, late_one, RequestState.ACTIVE)
    floor.served.stop()
    floor.clock.advance(minutes=17)
    floor.served.start()
    wait_for_state(floor.bot, late_one, RequestState.RESUMED)
    # A break-glass pause, on time, by a lead of no group.
    assert floor.sender.command("breakglass 8857 2m card read out, no lead free", user=LEAD2).status_code == 200
    glass = wait_until(lambda: [r for r in floor.bot.services.pauses.open_requests(TEAM) if r.paused_at])[0].id
    floor.clock.advance(minutes=2)
    wait_for_state(floor.bot, glass, RequestState.RESUMED)
    # A denied request.
    denied = ask_pause(floor.sender, floor.bot, "pause 8860 5m another card", AGENT)
    click_card(floor.sender, slack, "recording_deny", denied, LEAD)
    wait_for_state(floor.bot, denied, RequestState.DENIED)
    assert _digests(slack) == []
    # The work after each acknowledgement has written its audit rows before the period ends.
    _wait_for_a_quiet_audit(floor.bot.database)

    floor.to_digest_time()
    (digest,) = _wait_digests(slack)
    text = digest.rendered
    assert digest.payload["channel"] == DIGEST_CHANNEL
    # First and loud: the pause that outlived its window, by how much.
    overrun = text.index("1 pause(s) outlived their window")
    assert overrun < text.index("Pauses by group")
    assert f"`8856` #{late_one} (sales), asked by <@{AGENT}>" in text and "*12 minutes over*" in text
    assert "sales: 1 pause(s), 17 minutes in all, the longest 17 minutes" in text
    assert "no group: 1 pause(s), 2 minutes in all, the longest 2 minutes" in text
    assert f"`8857` #{glass} by <@{LEAD2}>" in text and "card read out, no lead free" in text
    assert f"`8860` #{denied} (sales) denied by <@{LEAD}>, asked by <@{AGENT}>" in text
    decisions = text[text.index("*Four-eyes decisions*") :]
    assert f"`8856` #{late_one} (sales): approved by <@{LEAD}> and <@{LEAD2}>" in decisions
    assert f"`8860` #{denied} (sales): denied by <@{LEAD}>" in decisions
    assert "Posted late" not in text
    # It ends with the chain's head at the period's end, as `audit --verify --head` takes it.
    period_end = floor.due
    assert anchors_in(text) == _expected_heads(floor.bot.database, period_end)

    png, table = _wait_uploads(slack, 2)
    assert {png.channel, table.channel} == {DIGEST_CHANNEL} and png.thread_ts == table.thread_ts == digest_ts(slack)
    assert png.filename.endswith(".png") and png.content.startswith(PNG_SIGNATURE)
    assert 5_000 < len(png.content) < 1_000_000
    assert struct.unpack(">II", png.content[16:24]) == (900, 400)  # the IHDR's width and height
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8"))))
    assert f"the period's {len(rows)} audit row(s) as CSV" in text
    actions = {row["action"] for row in rows}
    assert {"request.created", "request.denied", "breakglass", "request.resumed"} <= actions
    assert all(datetime.fromisoformat(row["at"].replace("Z", "+00:00")) < period_end for row in rows)
    # One digest, recorded as posted; matplotlib never entered the serving process.
    store = DigestStore(database=floor.bot.database)
    (record,) = wait_until(lambda: [r for r in store.all() if r.status == "posted"])
    assert record.message_ts == digest_ts(slack) and record.problems == ""
    assert "matplotlib" not in sys.modules

    # The anchors posted in the channel are read back and found in the chain.
    env = _cli_env(floor.served.config, slack, DIGEST_CHANNEL=DIGEST_CHANNEL)
    checked = run_bot(["audit", "--verify", "--anchors-from-slack"], env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "chain head(s) from the digests in C0DIGEST" in checked.stdout and "intact" in checked.stdout


def digest_ts(slack: SimulatedSlack) -> str:
    (message,) = [m for m in slack.messages() if m["channel"] == DIGEST_CHANNEL]
    return str(message["ts"])


# -- several instances, and a day missed --------------------------------------------------------------------


@pytest.mark.engines("postgresql")
def test_two_instances_post_one_digest_and_a_day_missed_while_down_is_posted_late(
    floors: Callable[..., Floor], slack: SimulatedSlack
) -> None:
    first, second = floors(), floors()
    first.to_digest_time()
    # Each instance's scheduler runs its pass (both race for the day's claim).
    for floor in (first, second):
        floor.bot.scheduler.tick()
    _wait_digests(slack)
    _wait_uploads(slack, 2)
    for floor in (first, second):
        floor.bot.scheduler.tick()
    assert len(_digests(slack)) == 1

    # Both go down over the next digest's time; the one that comes back posts it, marked late.
    first.served.stop()
    second.served.stop()
    first.clock.advance(days=1, hours=2)
    first.served.start()
    on_time, late = _wait_digests(slack, 2)
    assert "Posted late" not in on_time.rendered
    assert "*Posted late*, 2 hours after its time" in late.rendered
    assert f"{(first.due + timedelta(days=1)).astimezone(ZoneInfo(ZONE)):%-d %B %Y}" in late.text
    store = DigestStore(database=first.bot.database)
    posted = wait_until(lambda: len(p := [r for r in store.all() if r.status == "posted"]) == 2 and p)
    assert [r.day for r in posted] == [on_time_day(first), on_time_day(first) + timedelta(days=1)]


def on_time_day(floor: Floor) -> Any:
    return floor.due.astimezone(ZoneInfo(ZONE)).date()


# -- now, by an admin -------------------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
def test_an_admin_posts_a_digest_now_and_an_upload_failure_still_posts_the_text_saying_what_failed(
    floors: Callable[..., Floor], slack: SimulatedSlack
) -> None:
    floor = floors(digest_channel=None)
    floor.sender.command("digest", user=AGENT)
    assert "needs the admin role" in latest_reply(slack, "admin").rendered
    floor.sender.command("digest 2026-13-45", user=ADMIN)
    assert "`2026-13-45` is not a date: type it as YYYY-MM-DD" in latest_reply(slack, "is not a date").rendered
    floor.sender.command("digest 2999-01-01", user=ADMIN)
    assert "have not ended yet" in latest_reply(slack, "not ended").rendered
    assert _digests(slack) == []

    slack.fail_next("files.completeUploadExternal", Reply(body='{"ok": false, "error": "internal_error"}'))
    floor.sender.command("digest", user=ADMIN)
    (digest,) = _wait_digests(slack)
    assert digest.payload["channel"] == CHANNEL  # where the admin typed it
    assert "Nothing happened" in digest.rendered  # a quiet day: one line
    updated = slack.wait_for_call("chat.update", containing="were not uploaded", timeout=CHART_SECONDS)[-1]
    assert "The chart and the CSV were not uploaded: Slack answered internal_error" in updated.rendered
    assert "Audit chain head at the period's end" in updated.rendered
    reply = latest_reply(slack, "is posted in")
    assert f"<#{CHANNEL}>" in reply.rendered and "were not uploaded" in reply.rendered


# -- the command line -----------------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
def test_the_cli_writes_a_days_digest_text_chart_and_csv_to_a_folder(
    make_config: Callable[..., Config], slack: SimulatedSlack, tmp_path: Path
) -> None:
    config = make_config()
    database = open_database(config)
    database.migrate()
    store = AuditStore(database=database)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    for n in range(3):
        store.record(action="command.help", outcome="ok", team_id=TEAM, user_id=f"U{n}", at=yesterday)
    database.close()
    day = datetime.now(UTC).date()
    env = _cli_env(config, slack, DIGEST_TIME="00:00")
    out = tmp_path / "archive"
    done = run_bot(["digest", "--date", day.isoformat(), "--out", str(out)], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"audit-{day}.csv", f"digest-{day}.png", f"digest-{day}.txt"]
    text = (out / f"digest-{day}.txt").read_text()
    assert f"Compliance digest of {day:%-d %B %Y}" in text and "Nothing happened" in text
    assert anchors_in(text) == [f"{TEAM}:3:{_head(config, TEAM)}"]
    assert (out / f"digest-{day}.png").read_bytes().startswith(PNG_SIGNATURE)
    assert len((out / f"audit-{day}.csv").read_text().splitlines()) == 4
    assert all((path.stat().st_mode & 0o777) == 0o600 for path in out.iterdir())

    bad = run_bot(["digest", "--date", "yesterday"], env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "--date 'yesterday' is not a date: give YYYY-MM-DD" in bad.stderr


def _head(config: Config, team: str) -> str:
    database = open_database(config)
    try:
        return str(AuditStore(database=database).heads()[team][1])
    finally:
        database.close()


def test_digest_settings_are_checked_with_what_to_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_CHANNEL", "#compliance")
    monkeypatch.setenv("DIGEST_TIME", "8 am")
    monkeypatch.setenv("DIGEST_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(ConfigurationError) as refused:
        load_config(consistent=False)
    problems = "\n".join(refused.value.problems)
    assert "DIGEST_CHANNEL is invalid (not a Slack channel ID" in problems
    assert "DIGEST_TIME is invalid (not a time of day as HH:MM)" in problems and "DIGEST_TIME=08:00" in problems
    assert "DIGEST_TIMEZONE is invalid (not an IANA time zone name" in problems


# -- the chain, anchored ----------------------------------------------------------------------------------


@pytest.fixture
def chain(database_settings: dict[str, Any], make_config: Callable[..., Config]) -> Iterator[tuple[Config, Database]]:
    config = make_config()
    database = open_database(config)
    database.migrate()
    store = AuditStore(database=database)
    for n in range(8):
        store.record(action="command.help", outcome="ok", team_id=TEAM, user_id=f"U{n}")
    yield config, database
    database.close()


def _anchor(database: Database, seq: int) -> str:
    row = database.one("SELECT row_hash FROM audit WHERE team_id = ? AND chain_seq = ?", [TEAM, seq])
    assert row is not None
    return f"{TEAM}:{seq}:{row['row_hash']}"


def _verify(config: Config, slack: SimulatedSlack, tmp_path: Path, *anchors: str) -> tuple[int, str]:
    args = [arg for anchor in anchors for arg in ("--anchor", anchor)]
    done = run_bot(["audit", "--verify", *args], env=_cli_env(config, slack), cwd=tmp_path)
    return done.returncode, done.stdout + done.stderr


def test_an_anchored_head_catches_the_newest_rows_cut_off(
    chain: tuple[Config, Database], slack: SimulatedSlack, tmp_path: Path
) -> None:
    config, database = chain
    head = _anchor(database, 6)
    assert _verify(config, slack, tmp_path, head)[0] == 0
    last_kept = database.one("SELECT id FROM audit WHERE team_id = ? AND chain_seq = 3", [TEAM])
    assert last_kept is not None
    database.run("DELETE FROM audit WHERE team_id = ? AND chain_seq > 3", [TEAM])
    # What is left is a chain in itself: without the anchor, nothing looks wrong.
    assert _verify(config, slack, tmp_path)[0] == 0
    code, out = _verify(config, slack, tmp_path, head)
    assert code == 1
    assert (
        f"BROKEN: the anchored head {head[:len(TEAM) + 3 + 12]}… is gone: links 4–6 of workspace {TEAM} "
        f"(after audit row {last_kept['id']}, the last one left) are missing: the newest rows were cut off"
    ) in out


def test_anchored_heads_catch_a_rewritten_chain_and_name_the_first_row_it_may_have_changed(
    chain: tuple[Config, Database], slack: SimulatedSlack, tmp_path: Path
) -> None:
    config, database = chain
    older, head = _anchor(database, 4), _anchor(database, 7)
    # A forger changes row 5 and rehashes the chain from there on, as the bot would have hashed it.
    rows = database.all("SELECT * FROM audit WHERE team_id = ? ORDER BY chain_seq", [TEAM])
    prev = rows[3]["row_hash"]
    for row in rows[4:]:
        content = dict(row)
        if row["chain_seq"] == 5:
            content["outcome"] = "refused"
        digest = chain_hash(int(row["id"]), int(row["chain_seq"]), prev, content)
        database.run(
            "UPDATE audit SET outcome = ?, prev_hash = ?, row_hash = ? WHERE id = ?",
            [content["outcome"], prev, digest, row["id"]],
        )
        prev = digest
    assert _verify(config, slack, tmp_path)[0] == 0  # the chain holds together on its own
    code, out = _verify(config, slack, tmp_path, older, head)
    assert code == 1
    assert (
        f"no longer matches: audit row {rows[4]['id']} (link 5 of workspace {TEAM}) (or a later one, up to link 7) "
        "was altered, and the chain rewritten after it"
    ) in out
    assert older.split(":")[2][:12] not in out.split("BROKEN")[1]  # the older anchor still holds


# -- the console demo ---------------------------------------------------------------------------------------


def test_the_console_demo_skips_to_the_digest_and_writes_its_chart(tmp_path: Path) -> None:
    lines = [
        "as U0DEMOAGENT", "pause 8856 10m customer is reading out a card number", "as U0DEMOLEAD", "approve 1",
        "breakglass 8857 3m card read out, no lead free",
        "set jane.doe@example.com mode=on-demand agents start it", "as U0DEMOADMIN", "approve-change 1",
        f"digest {tmp_path / 'out'}", "quit",
    ]  # fmt: skip
    done = run_bot(["console", "--demo"], env={"PATH": os.environ.get("PATH", "")}, cwd=tmp_path,
                   stdin="\n".join(lines), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[#compliance]" in out and "Compliance digest of" in out
    assert "floor-a: 2 pause(s), 13 minutes" in out and "the longest 10 minutes" in out
    assert "outlived" not in out  # the skip resumed each pause on time on its way to the digest
    digest = out.split("[#compliance]", 1)[1]
    assert "Settings changes" in digest
    assert (
        "Jane Doe #1: Mode Always with Pause/Resume → On Demand with User Initiated Start, changed "
        "(approved by @U0DEMOADMIN), asked by @U0DEMOLEAD for agents start it"
    ) in digest
    (png,) = (tmp_path / "out").glob("digest-*.png")
    assert png.read_bytes().startswith(PNG_SIGNATURE) and f"(wrote {png}" in out


def test_a_chart_that_cannot_be_drawn_leaves_the_text_and_the_csv_saying_what_failed(slack: SimulatedSlack) -> None:
    period = DigestSchedule.parse("08:00", "UTC").period_of(datetime.now(UTC).date())
    # Three hours of figures for a chart of 24: the drawing process fails on it, as on any bad input.
    broken = ChartSeries(title="t", hour_labels=("08",) * 24, minutes_by_group={"sales": (1.0, 2.0, 3.0)},
                         breakglass_hours=())  # fmt: skip
    digest = Digest(period=period, overruns=(), groups=(), breakglass=(), decisions=(), endings=(), heads=(),
                    chart=broken, audit_rows=0)  # fmt: skip
    publisher = SlackDigestPublisher(client=WebClient(token=BOT_TOKEN, base_url=slack.api_url))
    delivery = publisher.publish(digest, [], channel=DIGEST_CHANNEL)
    assert delivery.problems == (
        "The chart was not drawn: the drawing process failed (BadSeries: group 'sales' has 3 hourly values for 24 "
        "hours).",
    )
    (posted,) = _digests(slack)
    assert "The chart was not drawn" in posted.rendered
    assert "In the thread: the period's 0 audit row(s)" in posted.rendered
    (table,) = _wait_uploads(slack, 1)
    assert table.filename.endswith(".csv")
