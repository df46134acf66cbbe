"""Who decides, over signed HTTP: an extension belongs to its pause (its group, its approvals, neither
requester decides it), a vote counts only from someone who may still decide, a revoked requester's requests
are withdrawn, an extension is linked to one person at a time, and `me` through Webex needs the asker's
own e-mail address."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import RecordingBot
from bot.models import Invocation, RequestKind, RequestState, Role, SlackUser
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack, SlackCall
from bot.sandbox.simulators.webex import SimulatedWebex
from tests.conftest import ADMIN, AGENT, ServedBot
from tests.support.cli import run_bot
from tests.support.pauses import (
    ask_pause,
    audit_rows,
    card_text,
    click_card,
    latest_reply,
    request_card,
    wait_for_state,
    wait_request_card,
    wait_until,
)
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

FA_LEAD = "U0FALEAD"
FA_LEAD2 = "U0FALEAD2"
FA_AGENT = "U0FAAGENT"
FB_LEAD = "U0FBLEAD"
FB_AGENT = "U0FBAGENT"
FLOOR_A_CHANNEL = "C0FLOORA"


def _admin() -> Invocation:
    return Invocation(user=SlackUser(team_id=TEAM, user_id=ADMIN), channel_id=CHANNEL, request_id="test")


@pytest.fixture
def floors(bot: RecordingBot) -> RecordingBot:
    """floor-a (four eyes, its own approvals channel) and floor-b, and a requester in no group."""
    authorizer = bot.services.authorizer
    for user, role, group in (
        (FA_LEAD, Role.APPROVER, "floor-a"),
        (FA_LEAD2, Role.APPROVER, "floor-a"),
        (FA_AGENT, Role.REQUESTER, "floor-a"),
        (FB_LEAD, Role.APPROVER, "floor-b"),
        (FB_AGENT, Role.REQUESTER, "floor-b"),
        (AGENT, Role.REQUESTER, None),
    ):
        authorizer.set_role(TEAM, user, role, group=group, source="test")
    authorizer.configure_group(_admin(), "floor-a", channel_id=FLOOR_A_CHANNEL, approvals=2)
    return bot


def _dms(slack: SimulatedSlack, user: str, containing: str = "") -> list[SlackCall]:
    channel = "D" + user.lstrip("UW")
    calls = slack.calls("chat.postMessage")
    return [c for c in calls if c.payload.get("channel") == channel and containing in c.rendered]


def _state(bot: RecordingBot, request_id: int) -> RequestState:
    request = bot.services.pauses.get(request_id)
    assert request is not None
    return request.state


def _active_four_eyes(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, requester: str, approvers: tuple[str, str]
) -> int:
    pause_id = ask_pause(sender, bot, "pause 8856 10m customer reads a card", requester)
    for approver in approvers:
        click_card(sender, slack, "recording_approve", pause_id, approver)
        wait_until(lambda approver=approver: bot.services.pauses.get(pause_id).approved_by(approver)  # type: ignore[union-attr]
                   or _state(bot, pause_id) is not RequestState.PENDING)  # fmt: skip
    wait_for_state(bot, pause_id, RequestState.ACTIVE)
    return pause_id


# -- 1. an extension belongs to its pause ---------------------------------------------------------


@pytest.mark.parametrize("extender", [AGENT, FB_AGENT], ids=["in-no-group", "in-another-group"])
def test_an_extension_goes_to_its_pauses_group_and_needs_its_pauses_approvals(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floors: RecordingBot,
    extender: str,
) -> None:  # fmt: skip
    pause_id = _active_four_eyes(sender, slack, floors, FA_AGENT, (FA_LEAD, FA_LEAD2))
    ends = floors.services.pauses.get(pause_id).resume_at  # type: ignore[union-attr]
    extension_id = ask_pause(sender, floors, f"extend #{pause_id} 5m customer repeats the card", extender)
    extension = floors.services.pauses.get(extension_id)
    assert extension is not None and extension.kind is RequestKind.EXTENSION
    assert (extension.group_name, extension.approvals_needed) == ("floor-a", 2)
    assert request_card(slack, extension_id)["channel"] == FLOOR_A_CHANNEL
    wait_until(lambda: _dms(slack, FA_LEAD, f"#{extension_id}"), what="floor-a's lead's DM")
    assert _dms(slack, FB_LEAD, f"#{extension_id}") == []

    click_card(sender, slack, "recording_approve", extension_id, FB_LEAD)
    latest_reply(slack, "belongs to the floor-a group")
    click_card(sender, slack, "recording_approve", extension_id, FA_LEAD)
    latest_reply(slack, "counted (1 of 2)")
    assert _state(floors, extension_id) is RequestState.PENDING
    assert floors.services.pauses.get(pause_id).resume_at == ends  # type: ignore[union-attr]

    click_card(sender, slack, "recording_approve", extension_id, FA_LEAD2)
    wait_for_state(floors, extension_id, RequestState.EXTENDED)
    extended = floors.services.pauses.get(pause_id)
    assert extended is not None and extended.resume_at is not None and ends is not None
    assert (extended.resume_at - ends).total_seconds() == 300


def test_neither_the_extensions_requester_nor_the_pauses_requester_decides_it(
    sender: SlackSender, slack: SimulatedSlack, floors: RecordingBot
) -> None:
    # A lead's own four-eyes pause, approved by two others; a requester in no group asks for more time.
    pause_id = _active_four_eyes(sender, slack, floors, FA_LEAD, (FA_LEAD2, ADMIN))
    ends = floors.services.pauses.get(pause_id).resume_at  # type: ignore[union-attr]
    extension_id = ask_pause(sender, floors, f"extend #{pause_id} 5m more time", AGENT)
    wait_until(lambda: _dms(slack, FA_LEAD2, f"#{extension_id}"), what="the other lead's DM")
    assert _dms(slack, FA_LEAD, f"#{extension_id}") == []
    assert FA_LEAD not in floors.services.authorizer.deciders(floors.services.pauses.get(extension_id))  # type: ignore[arg-type]

    click_card(sender, slack, "recording_approve", extension_id, FA_LEAD)
    latest_reply(slack, "another approver must decide")
    assert _state(floors, extension_id) is RequestState.PENDING
    refused = wait_until(lambda: [r for r in audit_rows(floors, "click.approve") if r.outcome == "refused"])
    assert refused[0].user_id == FA_LEAD

    # An approver who asked for an extension does not decide it either (their own request).
    click_card(sender, slack, "recording_approve", extension_id, FA_LEAD2)
    latest_reply(slack, "counted (1 of 2)")
    assert floors.services.pauses.get(pause_id).resume_at == ends  # type: ignore[union-attr]
    click_card(sender, slack, "recording_approve", extension_id, ADMIN)
    wait_for_state(floors, extension_id, RequestState.EXTENDED)


# -- 2. a vote counts only from someone who may still decide ---------------------------------------


def _bot_env(served: ServedBot) -> dict[str, str]:
    config = served.config
    if config.database_url is not None:
        return {"DATABASE_URL": config.database_url.get_secret_value()}
    return {"DATABASE_PATH": str(config.database_path)}


def _take_away(how: str, user: str, sender: SlackSender, slack: SimulatedSlack, served: ServedBot, cwd: Path) -> None:
    """Revoke `user` in Slack, remove them on the command line, or make them a requester."""
    if how == "slack-revoke":
        sender.command(f"revoke <@{user}>", user=ADMIN)
        latest_reply(slack, "no longer on the allow-list")
    elif how == "users-remove":
        done = run_bot(["users", "--team", TEAM, "remove", user], env=_bot_env(served), cwd=cwd)
        assert done.returncode == 0, done.stderr
    else:
        sender.command(f"allow <@{user}> requester", user=ADMIN)
        latest_reply(slack, "(was approver)")


@pytest.mark.parametrize("how", ["slack-revoke", "users-remove", "downgrade"])
def test_a_vote_of_someone_who_may_no_longer_decide_does_not_count(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, served: ServedBot,
    floors: RecordingBot, tmp_path: Path, how: str,
) -> None:  # fmt: skip
    request_id = ask_pause(sender, floors, "pause 8856 5m customer reads a card", FA_AGENT)
    click_card(sender, slack, "recording_approve", request_id, FA_LEAD)
    wait_request_card(slack, request_id, "1 of 2 approvals")
    _take_away(how, FA_LEAD, sender, slack, served, tmp_path)

    click_card(sender, slack, "recording_approve", request_id, FA_LEAD2)
    card = card_text(wait_request_card(slack, request_id, "no longer an approver"))
    assert f"~<@{FA_LEAD}>~ (no longer an approver)" in card and "1 of 2 approvals" in card
    assert "counted (1 of 2)" in latest_reply(slack, "counted").rendered
    pending = floors.services.pauses.get(request_id)
    assert pending is not None and pending.state is RequestState.PENDING
    assert [a.approver_id for a in pending.approvals] == [FA_LEAD2]
    assert recording_system.mute_calls() == []

    click_card(sender, slack, "recording_approve", request_id, ADMIN)
    active = wait_for_state(floors, request_id, RequestState.ACTIVE)
    assert {a.approver_id for a in active.approvals} == {FA_LEAD2, ADMIN}
    (approved,) = audit_rows(floors, "request.approved")
    details = json.loads(approved.details)
    assert FA_LEAD not in details["approvers"] and details["dropped"] == [FA_LEAD]
    assert len([c for c in recording_system.mute_calls() if c.get("mute") == "3"]) == 1


def test_a_vote_given_back_counts_again_when_its_approver_may_decide_again(
    sender: SlackSender, slack: SimulatedSlack, floors: RecordingBot
) -> None:
    request_id = ask_pause(sender, floors, "pause 8856 5m customer reads a card", FA_AGENT)
    click_card(sender, slack, "recording_approve", request_id, FA_LEAD)
    wait_request_card(slack, request_id, "1 of 2 approvals")
    floors.services.authorizer.set_role(TEAM, FA_LEAD, Role.REQUESTER, source="test")
    click_card(sender, slack, "recording_approve", request_id, FA_LEAD2)
    wait_request_card(slack, request_id, "no longer an approver")
    floors.services.authorizer.set_role(TEAM, FA_LEAD, Role.APPROVER, source="test")
    # Their click again: the stored vote is checked again, counts, and completes the request.
    click_card(sender, slack, "recording_approve", request_id, FA_LEAD)
    active = wait_for_state(floors, request_id, RequestState.ACTIVE)
    assert {a.approver_id for a in active.approvals} == {FA_LEAD, FA_LEAD2}


# -- 3. a revoked requester's requests are withdrawn ----------------------------------------------


def _mutes(recording_system: SimulatedRecordingSystem, extension: str, mute: str) -> list[dict[str, str]]:
    return [c for c in recording_system.mute_calls() if c.get("extension") == extension and c.get("mute") == mute]


def _three_requests(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> tuple[int, int, int]:
    """AGENT's active pause on 8861, failed pause on 8857 and pending request on 8856."""
    active = ask_pause(sender, bot, "pause 8861 10m card", AGENT)
    click_card(sender, slack, "recording_approve", active, FA_LEAD)
    wait_for_state(bot, active, RequestState.ACTIVE)
    recording_system.fail_next("http_500")
    failed = ask_pause(sender, bot, "pause 8857 10m card", AGENT)
    click_card(sender, slack, "recording_approve", failed, FA_LEAD)
    wait_for_state(bot, failed, RequestState.FAILED)
    pending = ask_pause(sender, bot, "pause 8856 10m card", AGENT)
    return active, failed, pending


@pytest.mark.parametrize("how", ["slack-revoke", "users-remove"])
def test_revoking_a_requester_withdraws_their_pending_and_failed_requests_but_not_their_pause(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, served: ServedBot,
    floors: RecordingBot, tmp_path: Path, how: str,
) -> None:  # fmt: skip
    active, failed, pending = _three_requests(sender, slack, recording_system, floors)
    _take_away(how, AGENT, sender, slack, served, tmp_path)

    for request_id in (failed, pending):
        withdrawn = wait_for_state(floors, request_id, RequestState.CANCELLED)
        assert withdrawn.cancelled_by == "system" and "no longer on the allow-list" in (withdrawn.error or "")
        assert "Withdrawn" in card_text(wait_request_card(slack, request_id, "Withdrawn"))
    wait_until(lambda: len(audit_rows(floors, "request.withdrawn")) == 2, what="both withdrawals' audit rows")
    rows = audit_rows(floors, "request.withdrawn")
    assert {json.loads(r.details)["request"] for r in rows} == {failed, pending}
    assert all(r.target in ("8856", "8857") and json.loads(r.details)["requester"] == AGENT for r in rows)

    # The active pause runs on, and any approver may end it.
    assert _state(floors, active) is RequestState.ACTIVE
    click_card(sender, slack, "recording_resume", active, FA_LEAD2)
    wait_for_state(floors, active, RequestState.RESUMED)
    assert len(_mutes(recording_system, "8861", "0")) == 1
    assert _mutes(recording_system, "8856", "3") == [] and len(_mutes(recording_system, "8857", "3")) == 1


def test_an_approval_or_a_retry_never_carries_out_a_request_of_someone_no_longer_listed(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, served: ServedBot,
    floors: RecordingBot, tmp_path: Path,
) -> None:  # fmt: skip
    _, failed, pending = _three_requests(sender, slack, recording_system, floors)
    # Only the click can notice now: the schedule's pass that withdraws such requests does not run.
    floors.scheduler.stop()
    _take_away("users-remove", AGENT, sender, slack, served, tmp_path)

    click_card(sender, slack, "recording_approve", pending, FA_LEAD)
    assert "no longer on the allow-list" in latest_reply(slack, f"Request #{pending} was withdrawn").rendered
    click_card(sender, slack, "recording_retry", failed, FA_LEAD)
    latest_reply(slack, f"Request #{failed} was withdrawn")
    for request_id in (failed, pending):
        assert wait_for_state(floors, request_id, RequestState.CANCELLED).cancelled_by == "system"
    assert _mutes(recording_system, "8856", "3") == [] and len(_mutes(recording_system, "8857", "3")) == 1
    assert len(audit_rows(floors, "request.withdrawn")) == 2


# -- 4. an extension is linked to one person at a time --------------------------------------------


def test_an_extension_taken_by_someone_is_refused_to_another_requester_naming_its_holder(
    sender: SlackSender, slack: SimulatedSlack, floors: RecordingBot
) -> None:
    sender.command("link 8856", user=AGENT)
    latest_reply(slack, "is linked to")
    sender.command("link 8856", user=FA_AGENT)
    refused = latest_reply(slack, "already linked").rendered
    assert f"<@{AGENT}>" in refused and "8856" in refused
    assert floors.services.links.owner_of(TEAM, "8856") == AGENT
    assert [link.user_id for link in floors.services.links.links(TEAM)] == [AGENT]
    # The card of a request on the line names its one owner.
    request_id = ask_pause(sender, floors, "pause 8856 5m card", FA_AGENT)
    assert floors.services.pauses.get(request_id).target_user_id == AGENT  # type: ignore[union-attr]


def test_an_admin_may_give_a_taken_extension_to_someone_else_and_the_audit_names_the_old_holder(
    sender: SlackSender, slack: SimulatedSlack, floors: RecordingBot
) -> None:
    sender.command("link 8856", user=AGENT)
    latest_reply(slack, "is linked to")
    sender.command(f"link <@{FA_AGENT}> 8856", user=ADMIN)
    assert f"<@{FA_AGENT}> is linked to" in latest_reply(slack, f"<@{FA_AGENT}> is linked to").rendered
    assert [(link.user_id, link.extension) for link in floors.services.links.links(TEAM)] == [(FA_AGENT, "8856")]
    changed = wait_until(lambda: [r for r in audit_rows(floors, "link.changed") if r.target == FA_AGENT])
    details = json.loads(changed[0].details)
    assert details["extension"] == "8856" and details["taken_from"] == AGENT and changed[0].user_id == ADMIN
    # The link it took is named in the old holder's own row too, so their history shows it.
    lost = [r for r in audit_rows(floors, "link.changed") if r.target == AGENT and r.user_id == ADMIN]
    assert lost and json.loads(lost[0].details) == {"extension": None, "previous": "8856", "taken_by": FA_AGENT}


def test_the_migration_keeps_the_oldest_of_two_links_to_one_extension(database_settings: dict[str, Any]) -> None:
    from bot.store.postgres import PostgresDatabase
    from bot.store.sqlite import SqliteDatabase

    database = (
        SqliteDatabase(database_settings["database_path"]) if "database_path" in database_settings
        else PostgresDatabase(database_settings["database_url"])
    )  # fmt: skip
    try:
        database.migrate()
        # As a database written before the rule: the index gone, the migration not yet applied, two claims.
        database.run("DROP INDEX uq_user_links_extension")
        database.run("DELETE FROM schema_migrations WHERE name = 'm011_one_person_per_extension'")
        for user, at in (("U0NEWER", "2026-02-01T10:00:00+00:00"), ("U0OLDER", "2026-01-01T10:00:00+00:00"),
                         ("U0OTHER", "2026-03-01T10:00:00+00:00")):  # fmt: skip
            extension = "8857" if user == "U0OTHER" else "8856"
            database.run(
                "INSERT INTO user_links (team_id, user_id, extension, source, linked_by, linked_at) "
                "VALUES (?, ?, ?, 'command', ?, ?)",
                [TEAM, user, extension, user, at],
            )
        assert database.migrate() == ["m011_one_person_per_extension"]
        rows = database.all("SELECT user_id, extension FROM user_links ORDER BY extension")
        assert [(r["user_id"], r["extension"]) for r in rows] == [("U0OLDER", "8856"), ("U0OTHER", "8857")]
        with pytest.raises(Exception, match=r"(?i)unique"):
            database.run(
                "INSERT INTO user_links (team_id, user_id, extension, linked_at) VALUES (?, 'U0THIRD', '8856', '')",
                [TEAM],
            )
    finally:
        database.close()


# -- 5. `me` through Webex: only the person with the asker's own e-mail address -------------------


def _person(email: str, extension: str) -> dict[str, Any]:
    return {"id": f"person-{extension}", "emails": [email], "displayName": "Calling User", "extension": extension}


def _webex_answers(webex: SimulatedWebex, people: list[dict[str, Any]]) -> None:
    """Webex's People search answering with these people, whatever the address asked for (a fuzzy search)."""
    webex.answer_every_people_search(people)


@pytest.mark.parametrize(
    ("people", "says"),
    [
        ([_person("someone.else@example.com", "8857")], "I don't know your extension"),
        ([_person("agent@example.com", "8857"), _person("AGENT@example.com", "8861")], "2 people with your e-mail"),
    ],
    ids=["another-persons-address", "two-people-with-it"],
)
def test_me_through_webex_takes_no_one_but_the_person_with_the_askers_address(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, floors: RecordingBot,
    people: list[dict[str, Any]], says: str,
) -> None:  # fmt: skip
    slack.emails[AGENT] = "agent@example.com"
    _webex_answers(webex, people)
    sender.command("pause me 5m customer reads a card", user=AGENT)
    reply = latest_reply(slack, says).rendered
    assert "/recording link" in reply
    assert floors.services.links.links(TEAM) == [] and floors.services.pauses.open_requests(TEAM) == []


def test_me_through_webex_takes_the_person_whose_address_matches_ignoring_case(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, floors: RecordingBot,
) -> None:  # fmt: skip
    slack.emails[AGENT] = "agent@example.com"
    people = [_person("agent.smith@example.com", "8861"), _person("Agent@Example.COM", "8857")]
    _webex_answers(webex, people)
    request_id = ask_pause(sender, floors, "pause me 5m customer reads a card", AGENT)
    assert floors.services.pauses.get(request_id).target.value == "8857"  # type: ignore[union-attr]
    assert floors.services.links.owner_of(TEAM, "8857") == AGENT
