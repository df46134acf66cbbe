"""Approval routing and the whole request lifecycle over signed HTTP: approver groups and their channels, who
may decide, four-eyes, cancel, extend, reminders and the end notice, break-glass, and the loose ends."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bot.app import RecordingBot
from bot.models import RequestKind, RequestState, Role
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack, SlackCall
from tests.conftest import ADMIN, AGENT, LEAD, ServedBot
from tests.support.cli import run_bot
from tests.support.pauses import (
    ask_pause,
    audit_rows,
    buttons,
    card_text,
    click_card,
    latest_reply,
    request_card,
    wait_for_state,
    wait_request_card,
    wait_until,
)
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

SALES_LEAD = "U0SALESLEAD"
SALES_LEAD2 = "U0SALESLEAD2"
SALES_AGENT = "U0SALESAGENT"
SUPPORT_LEAD = "U0SUPPORTLEAD"
FLOOR_MANAGER = "U0FLOOR"
SALES_CHANNEL = "C0SALESAPPROVALS"


@pytest.fixture
def floor(bot: RecordingBot) -> RecordingBot:
    """Two groups (sales with its own approvals channel, support without), a floor manager, an admin."""
    authorizer = bot.services.authorizer
    for user, role, group in (
        (SALES_LEAD, Role.APPROVER, "sales"),
        (SALES_LEAD2, Role.APPROVER, "sales"),
        (SALES_AGENT, Role.REQUESTER, "sales"),
        (SUPPORT_LEAD, Role.APPROVER, "support"),
        (FLOOR_MANAGER, Role.APPROVER, None),
        (AGENT, Role.REQUESTER, None),
        (LEAD, Role.APPROVER, None),
    ):
        authorizer.set_role(TEAM, user, role, group=group, source="test")
    return bot


def _dm_channel(user: str) -> str:
    return "D" + user.lstrip("UW")


def _dms(slack: SimulatedSlack, user: str, containing: str = "") -> list[SlackCall]:
    return [
        c
        for c in slack.calls("chat.postMessage")
        if c.payload.get("channel") == _dm_channel(user) and containing in c.rendered
    ]


def _mutes(recording_system: SimulatedRecordingSystem, extension: str, mute: str) -> list[dict[str, str]]:
    return [c for c in recording_system.mute_calls() if c.get("extension") == extension and c.get("mute") == mute]


# -- groups ---------------------------------------------------------------------------------------


def test_admins_put_people_in_groups_configure_them_and_see_them(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("allow <@U0PAT|pat> approver Sales", user=ADMIN)
    assert "is now allowed as *approver*, in the *sales* group" in latest_reply(slack, "is now allowed").rendered
    sender.command("allow <@U0PAT> admin", user=ADMIN)  # no group given: the group stays
    latest_reply(slack, "is now *admin*")
    assert bot.services.authorizer.group_of_user(TEAM, "U0PAT") == "sales"
    sender.command("group sales channel <#C0SALES|sales-approvals> approvals 2", user=ADMIN)
    shown = latest_reply(slack, "Group `sales`").rendered
    assert "<#C0SALES>" in shown and "2 different approvers (four eyes)" in shown and "<@U0PAT>" in shown
    sender.command("groups", user=ADMIN)
    assert "`sales` — cards in <#C0SALES>, 2 approvals" in latest_reply(slack, "Approver groups").rendered
    sender.command("users", user=ADMIN)
    assert "<@U0PAT> — sales" in latest_reply(slack, "Allow-list").rendered
    sender.command("allow <@U0PAT> admin -", user=ADMIN)
    assert "in no group (was in sales)" in latest_reply(slack, "in no group").rendered
    assert bot.services.authorizer.group_of_user(TEAM, "U0PAT") is None
    sender.command("group nobody", user=ADMIN)
    latest_reply(slack, "There is no group `nobody` yet")
    rows = audit_rows(bot, "group.changed")
    assert rows and rows[0].user_id == ADMIN and rows[0].target == "sales"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("allow <@U0PAT> approver Sales_Team", "is not a group name"),
        ("allow <@U0PAT> approver sales extra", "optionally a group"),
        ("group sales approvals 3", "`3` is not a number of approvals"),
        ("group sales channel nowhere", "is not a channel"),
        ("group sales colour red", "is not a group setting"),
    ],
)
def test_bad_group_input_says_what_to_type(sender: SlackSender, slack: SimulatedSlack, text: str, says: str) -> None:
    sender.command(text, user=ADMIN)
    assert says in latest_reply(slack, says).rendered


def test_only_admins_configure_groups(sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot) -> None:
    sender.command("group sales channel <#C0ELSEWHERE|elsewhere>", user=SALES_LEAD)
    latest_reply(slack, "`group` needs the admin role")
    sender.command("groups", user=SALES_LEAD)
    latest_reply(slack, "`groups` needs the admin role")
    assert floor.services.authorizer.group(TEAM, "sales") is not None
    assert floor.services.authorizer.group(TEAM, "sales").channel_id is None  # type: ignore[union-attr]


# -- routing --------------------------------------------------------------------------------------


def test_a_group_members_request_goes_to_the_groups_channel_and_its_deciders_each_get_one_dm(
    sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot
) -> None:
    floor.services.authorizer.configure_group(_admin(), "sales", channel_id=SALES_CHANNEL)
    request_id = ask_pause(sender, floor, "pause 8856 5m customer reading out a card", SALES_AGENT)
    card = request_card(slack, request_id)
    assert card["channel"] == SALES_CHANNEL
    assert "`sales`" in card_text(card)
    confirmation = latest_reply(slack, f"Pause request #{request_id}")
    assert confirmation.payload["response_type"] == "ephemeral"
    assert f"in <#{SALES_CHANNEL}>" in confirmation.rendered
    assert f"https://example.slack.com/archives/{SALES_CHANNEL}/p" in confirmation.rendered

    deciders = {SALES_LEAD, SALES_LEAD2, FLOOR_MANAGER, LEAD, ADMIN}
    wait_until(lambda: all(_dms(slack, u, f"request #{request_id}") for u in deciders), what="every decider's DM")
    for user in deciders:
        (dm,) = _dms(slack, user, f"request #{request_id}")
        assert "customer reading out a card" in dm.rendered and "5 minutes" in dm.rendered
        assert f"https://example.slack.com/archives/{SALES_CHANNEL}/p" in dm.rendered
    for outsider in (SUPPORT_LEAD, SALES_AGENT, AGENT):
        assert _dms(slack, outsider, f"request #{request_id}") == []

    # More clicks and changes later, nobody is told about the same request twice.
    click_card(sender, slack, "recording_deny", request_id, SALES_LEAD)
    wait_for_state(floor, request_id, RequestState.DENIED)
    for user in deciders:
        assert len(_dms(slack, user, "asks to pause")) == 1


def test_without_a_group_channel_the_card_goes_where_the_command_was_typed(
    sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot
) -> None:
    request_id = ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)  # sales has no channel yet
    assert request_card(slack, request_id)["channel"] == CHANNEL
    request_id = ask_pause(sender, floor, "pause 8857 5m card", AGENT)  # no group at all
    assert request_card(slack, request_id)["channel"] == CHANNEL


@pytest.mark.parametrize("decider", [SALES_LEAD, FLOOR_MANAGER, ADMIN])
def test_the_groups_approvers_floor_managers_and_admins_may_decide(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    floor: RecordingBot,
    decider: str,
) -> None:
    request_id = ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)
    click_card(sender, slack, "recording_approve", request_id, decider)
    wait_for_state(floor, request_id, RequestState.ACTIVE)
    assert len(_mutes(recording_system, "8856", "3")) == 1


def test_another_groups_approver_is_told_whose_request_it_is_and_the_click_is_audited(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    request_id = ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)
    click_card(sender, slack, "recording_approve", request_id, SUPPORT_LEAD)
    reply = latest_reply(slack, "belongs to the sales group")
    assert reply.payload["response_type"] == "ephemeral"
    assert "the sales group's approvers, floor managers" in reply.rendered
    assert floor.services.pauses.get(request_id).state is RequestState.PENDING  # type: ignore[union-attr]
    assert recording_system.mute_calls() == []
    refused = wait_until(lambda: [r for r in audit_rows(floor, "click.approve") if r.outcome == "refused"])
    assert refused[0].user_id == SUPPORT_LEAD


def test_a_grouped_approver_still_never_decides_their_own_request(
    sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot
) -> None:
    request_id = ask_pause(sender, floor, "pause 8856 5m card", SALES_LEAD)
    click_card(sender, slack, "recording_approve", request_id, SALES_LEAD)
    latest_reply(slack, "another approver must decide on your own request")
    assert _dms(slack, SALES_LEAD, f"request #{request_id}") == []


# -- four eyes ------------------------------------------------------------------------------------


def test_a_four_eyes_request_needs_two_different_approvers_and_pauses_once(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    floor.services.authorizer.configure_group(_admin(), "sales", approvals=2)
    request_id = ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)
    click_card(sender, slack, "recording_approve", request_id, SALES_LEAD)
    card = wait_request_card(slack, request_id, "1 of 2 approvals")
    assert f"<@{SALES_LEAD}>" in card_text(card)
    assert [b["action_id"] for b in buttons(card)] == ["recording_approve", "recording_deny"]
    latest_reply(slack, "counted (1 of 2)")
    assert recording_system.mute_calls() == []

    click_card(sender, slack, "recording_approve", request_id, SALES_LEAD)
    assert "You already approved" in latest_reply(slack, "already approved").rendered
    assert recording_system.mute_calls() == []

    click_card(sender, slack, "recording_approve", request_id, FLOOR_MANAGER)
    wait_for_state(floor, request_id, RequestState.ACTIVE)
    card = wait_request_card(slack, request_id, "Recording paused until")
    assert f"<@{SALES_LEAD}>" in card_text(card) and f"<@{FLOOR_MANAGER}>" in card_text(card)
    assert buttons(card) == []
    assert len(_mutes(recording_system, "8856", "3")) == 1


def test_a_deny_by_anyone_who_may_decide_ends_a_four_eyes_request(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    floor.services.authorizer.configure_group(_admin(), "sales", approvals=2)
    request_id = ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)
    click_card(sender, slack, "recording_approve", request_id, SALES_LEAD)
    wait_request_card(slack, request_id, "1 of 2 approvals")
    click_card(sender, slack, "recording_deny", request_id, SALES_LEAD2)
    wait_for_state(floor, request_id, RequestState.DENIED)
    click_card(sender, slack, "recording_approve", request_id, FLOOR_MANAGER)
    latest_reply(slack, "already denied")
    assert recording_system.mute_calls() == []


def test_fifty_racing_clicks_from_two_approvers_send_one_mute_recording(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    floor.services.authorizer.configure_group(_admin(), "sales", approvals=2)
    request_id = ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)
    card = request_card(slack, request_id)
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def click(index: int) -> None:
        barrier.wait()
        response = sender.click(
            "recording_approve", str(request_id), user=(SALES_LEAD, SALES_LEAD2)[index % 2],
            message_ts=card["ts"], channel=card["channel"],
        )  # fmt: skip
        statuses.append(response.status_code)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 50
    wait_for_state(floor, request_id, RequestState.ACTIVE)
    time.sleep(0.5)
    assert len(_mutes(recording_system, "8856", "3")) == 1
    stored = floor.services.pauses.get(request_id)
    assert stored is not None and {a.approver_id for a in stored.approvals} == {SALES_LEAD, SALES_LEAD2}


# -- cancel ---------------------------------------------------------------------------------------


def test_the_requester_cancels_a_pending_request_and_its_buttons_stop_working(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    request_id = ask_pause(sender, floor, "pause 8856 5m card", AGENT)
    sender.command(f"cancel {request_id}", user=LEAD)
    assert "Only the requester" in latest_reply(slack, "Only the requester").rendered
    sender.command(f"cancel #{request_id}", user=AGENT)
    latest_reply(slack, "is cancelled")
    card = wait_request_card(slack, request_id, "Cancelled by")
    assert f"Cancelled by <@{AGENT}>" in card_text(card) and buttons(card) == []
    click_card(sender, slack, "recording_approve", request_id, LEAD)
    latest_reply(slack, f"was cancelled by <@{AGENT}>")
    assert recording_system.mute_calls() == []
    assert audit_rows(floor, "request.cancelled")[0].user_id == AGENT


def test_an_admin_may_cancel_anyones_request_but_an_active_pause_is_resumed_not_cancelled(
    sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot
) -> None:
    request_id = ask_pause(sender, floor, "pause 8856 5m card", AGENT)
    click_card(sender, slack, "recording_approve", request_id, LEAD)
    wait_for_state(floor, request_id, RequestState.ACTIVE)
    sender.command(f"cancel {request_id}", user=ADMIN)
    assert "/recording resume 8856" in latest_reply(slack, "only a pending or failed request can be cancelled").rendered
    other = ask_pause(sender, floor, "pause 8857 5m card", AGENT)
    sender.command(f"cancel {other}", user=ADMIN)
    wait_for_state(floor, other, RequestState.CANCELLED)


# -- extend ---------------------------------------------------------------------------------------


def _active(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, text: str, user: str = AGENT) -> int:
    request_id = ask_pause(sender, bot, text, user)
    click_card(sender, slack, "recording_approve", request_id, LEAD)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    return request_id


def test_an_approved_extension_moves_the_automatic_resume_later_even_across_a_restart(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    floor: RecordingBot,
) -> None:
    pause_id = _active(sender, slack, floor, "pause 8856 5m card")
    first_end = floor.services.pauses.get(pause_id).resume_at  # type: ignore[union-attr]
    extension_id = ask_pause(sender, floor, "extend 8856 10m customer repeats the card", AGENT)
    extension = floor.services.pauses.get(extension_id)
    assert extension is not None and extension.kind is RequestKind.EXTENSION and extension.extends_id == pause_id
    card = request_card(slack, extension_id)
    assert "More-time request" in card_text(card) and f"on pause #{pause_id}" in card_text(card)
    assert buttons(card)[0]["value"] == str(extension_id)
    click_card(sender, slack, "recording_approve", extension_id, LEAD)
    wait_for_state(floor, extension_id, RequestState.EXTENDED)
    extended = floor.services.pauses.get(pause_id)
    assert extended is not None and extended.resume_at is not None and first_end is not None
    assert (extended.resume_at - first_end).total_seconds() == 600
    assert "Recording paused until" in card_text(request_card(slack, pause_id))
    _dms(slack, AGENT, "now ends at")

    served.restart()
    bot = served.bot
    assert bot is not None
    served.clock.advance(minutes=5, seconds=1)  # the first end passes: nothing happens
    time.sleep(0.3)
    assert _mutes(recording_system, "8856", "0") == []
    served.clock.advance(minutes=10)
    wait_for_state(bot, pause_id, RequestState.RESUMED)
    assert len(_mutes(recording_system, "8856", "0")) == 1


def test_an_extension_past_the_longest_pause_is_refused_with_what_is_left(
    sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot
) -> None:
    pause_id = _active(sender, slack, floor, "pause 8856 25m card")
    sender.command(f"extend #{pause_id} 10m more card", user=AGENT)
    assert "given at most 5 minutes more" in latest_reply(slack, "at most 5 minutes").rendered
    sender.command("extend 8857 5m card", user=AGENT)
    latest_reply(slack, "No pause is active on 8857")


def test_an_extension_still_undecided_when_its_pause_ends_expires(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    floor: RecordingBot,
) -> None:
    pause_id = _active(sender, slack, floor, "pause 8856 1m card")
    extension_id = ask_pause(sender, floor, f"extend #{pause_id} 5m more card", AGENT)
    served.clock.advance(minutes=1, seconds=1)
    wait_for_state(floor, pause_id, RequestState.RESUMED)
    wait_for_state(floor, extension_id, RequestState.EXPIRED)
    wait_request_card(slack, extension_id, "not given more time")
    click_card(sender, slack, "recording_approve", extension_id, LEAD)
    latest_reply(slack, "already expired")
    assert len(_mutes(recording_system, "8856", "0")) == 1


# -- reminders and the end notice -----------------------------------------------------------------


def test_the_requester_is_reminded_a_minute_before_the_end_and_told_when_it_ended(
    sender: SlackSender, slack: SimulatedSlack, served: ServedBot, floor: RecordingBot
) -> None:
    pause_id = _active(sender, slack, floor, "pause 8856 5m card")
    served.clock.advance(minutes=3, seconds=50)
    time.sleep(0.3)
    assert _dms(slack, AGENT, "ends at") == []
    served.clock.advance(seconds=15)
    (reminder,) = wait_until(lambda: _dms(slack, AGENT, "ends at"), what="the reminder")
    assert f"extend #{pause_id}" in reminder.rendered
    served.clock.advance(minutes=1)
    wait_until(lambda: _dms(slack, AGENT, "has ended"), what="the end notice")
    served.clock.advance(minutes=5)
    time.sleep(0.3)
    assert len(_dms(slack, AGENT, "ends at")) == 1 and len(_dms(slack, AGENT, "has ended")) == 1


def test_a_short_pause_is_reminded_halfway_and_a_manual_resume_is_an_end_too(
    sender: SlackSender, slack: SimulatedSlack, served: ServedBot, floor: RecordingBot
) -> None:
    _active(sender, slack, floor, "pause 8856 90s card")
    served.clock.advance(seconds=44)
    time.sleep(0.3)
    assert _dms(slack, AGENT, "ends at") == []
    served.clock.advance(seconds=2)
    wait_until(lambda: _dms(slack, AGENT, "ends at"), what="the halfway reminder")
    sender.command("resume 8856", user=LEAD)
    (ended,) = wait_until(lambda: _dms(slack, AGENT, "has ended"), what="the end notice")
    assert f"resumed by <@{LEAD}>" in ended.rendered


# -- break-glass ----------------------------------------------------------------------------------


def test_an_approver_breaks_glass_pauses_at_once_tells_every_admin_and_it_resumes_by_itself(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    floor: RecordingBot,
) -> None:
    floor.services.authorizer.configure_group(_admin(), "sales", channel_id=SALES_CHANNEL)
    floor.services.authorizer.set_role(TEAM, "U0ADMIN2", Role.ADMIN, source="test")
    sender.command("breakglass 8856 2m customer reading a card, nobody free to approve", user=SALES_LEAD)
    wait_until(lambda: _mutes(recording_system, "8856", "3"), what="the pause, at once")
    (request,) = wait_until(
        lambda: [r for r in floor.services.pauses.open_requests(TEAM) if r.message_ts], what="the card"
    )
    assert request.kind is RequestKind.BREAKGLASS and request.state is RequestState.ACTIVE
    card = request_card(slack, request.id)
    assert card["channel"] == SALES_CHANNEL
    assert "BREAK-GLASS" in card_text(card) and "nobody free to approve" in card_text(card)
    assert [(b["action_id"], b["value"]) for b in buttons(card)] == [("recording_resume", str(request.id))]
    for admin in (ADMIN, "U0ADMIN2"):
        wait_until(lambda admin=admin: _dms(slack, admin, "broke glass"), what=f"{admin}'s note")
    assert latest_reply(slack, "Break-glass pause").payload["response_type"] == "ephemeral"
    (row,) = audit_rows(floor, "breakglass")
    assert row.user_id == SALES_LEAD and row.target == "8856"

    served.clock.advance(minutes=2, seconds=1)
    wait_for_state(floor, request.id, RequestState.RESUMED)
    assert len(_mutes(recording_system, "8856", "0")) == 1


def test_resume_now_on_a_break_glass_card_ends_the_pause(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    sender.command("breakglass 8856 10m emergency", user=ADMIN)
    (request,) = wait_until(lambda: [r for r in floor.services.pauses.open_requests(TEAM) if r.message_ts])
    click_card(sender, slack, "recording_resume", request.id, FLOOR_MANAGER)
    done = wait_for_state(floor, request.id, RequestState.RESUMED)
    assert done.resumed_by == FLOOR_MANAGER
    assert f"resumed by <@{FLOOR_MANAGER}>" in card_text(wait_request_card(slack, request.id, "resumed by"))
    assert len(_mutes(recording_system, "8856", "0")) == 1


def test_a_requester_cannot_break_glass_nor_anyone_on_a_target_with_an_open_request(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    sender.command("breakglass 8856 5m emergency", user=AGENT)
    latest_reply(slack, "`breakglass` needs the approver role")
    pending = ask_pause(sender, floor, "pause 8857 5m card", AGENT)
    sender.command("breakglass 8857 5m emergency", user=LEAD)
    assert f"`/recording cancel {pending}`" in latest_reply(slack, "must be decided or cancelled").rendered
    assert recording_system.mute_calls() == []


def test_break_glass_pauses_can_be_listed_alone_in_slack(
    sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot
) -> None:
    sender.command("breakglass 8856 5m emergency", user=LEAD)
    wait_until(lambda: audit_rows(floor, "breakglass"))
    sender.command("help", user=ADMIN)
    sender.command("audit 50 breakglass", user=ADMIN)
    listing = latest_reply(slack, "break-glass pauses").rendered
    assert "*breakglass*" in listing and "command.help" not in listing


# -- loose ends -----------------------------------------------------------------------------------


def test_a_failed_request_can_be_retried_only_within_the_window_then_it_is_abandoned(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    floor: RecordingBot,
) -> None:
    recording_system.fail_next("http_500")
    request_id = ask_pause(sender, floor, "pause 8856 5m card", AGENT)
    click_card(sender, slack, "recording_approve", request_id, LEAD)
    wait_for_state(floor, request_id, RequestState.FAILED)
    recording_system.fail_next("not_found")
    click_card(sender, slack, "recording_retry", request_id, LEAD)
    wait_request_card(slack, request_id, "no ongoing call found")  # the new error replaces the old one
    sender.command("requests", user=AGENT)
    assert f"#{request_id}" in latest_reply(slack, "Failed, awaiting Retry or Abandon").rendered

    served.clock.advance(minutes=11)
    abandoned = wait_for_state(floor, request_id, RequestState.ABANDONED)
    assert abandoned.resumed_by == "system"
    wait_request_card(slack, request_id, "Abandoned by itself")
    click_card(sender, slack, "recording_retry", request_id, LEAD)
    latest_reply(slack, "it is now: abandoned")


def test_resume_says_a_pending_request_was_left_alone(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, floor: RecordingBot
) -> None:
    request_id = ask_pause(sender, floor, "pause 8856 5m card", AGENT)
    sender.command("resume 8856", user=AGENT)
    reply = latest_reply(slack, "sent a resume")
    assert "no pause by recording-bot was active there" in reply.rendered
    assert f"`/recording cancel {request_id}`" in reply.rendered
    assert floor.services.pauses.get(request_id).state is RequestState.PENDING  # type: ignore[union-attr]


def test_requests_show_each_requests_group(sender: SlackSender, slack: SimulatedSlack, floor: RecordingBot) -> None:
    ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)
    sender.command("requests", user=SALES_AGENT)
    assert "[sales]" in latest_reply(slack, "Pending approval").rendered


def test_the_help_lists_the_new_subcommands(sender: SlackSender, slack: SimulatedSlack) -> None:
    sender.command("help", user=ADMIN)
    text = latest_reply(slack, "/recording pause").rendered
    for word in ("cancel", "extend", "breakglass", "group", "groups"):
        assert f"/recording {word}" in text


def _admin() -> Any:
    from bot.models import Invocation, SlackUser

    return Invocation(user=SlackUser(team_id=TEAM, user_id=ADMIN), channel_id=CHANNEL, request_id="test")


def test_the_audit_command_line_filters_by_group_and_lists_break_glass_pauses_alone(
    sender: SlackSender, slack: SimulatedSlack, served: ServedBot, floor: RecordingBot, tmp_path: Any
) -> None:
    import json
    import os

    ask_pause(sender, floor, "pause 8856 5m card", SALES_AGENT)
    ask_pause(sender, floor, "pause 8857 5m card", AGENT)
    sender.command("breakglass 8860 5m emergency", user=LEAD)
    wait_until(lambda: audit_rows(floor, "breakglass"))
    # Each command's own row is written once its work is done, which may be after the next command's.
    wait_until(lambda: len(audit_rows(floor, "command.pause")) == 2, what="both pause commands' audit rows")
    env = {"PATH": os.environ.get("PATH", "")}
    if served.config.database_url is not None:
        env["DATABASE_URL"] = served.config.database_url.get_secret_value()
    else:
        env["DATABASE_PATH"] = str(served.config.database_path)

    def rows(*args: str) -> list[dict[str, Any]]:
        # `recording-bot audit` run in this process (tests/support/cli.py).
        done = run_bot(["audit", "--format", "json", *args], env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        result: list[dict[str, Any]] = json.loads(done.stdout)
        return result

    sales = rows("--group", "sales")
    assert sales and all(row["target"] != "8857" for row in sales)
    assert {"command.pause", "request.created"} <= {row["action"] for row in sales}
    assert {row["target"] for row in sales if row["action"] == "request.created"} == {"8856"}
    (broken,) = rows("--breakglass")
    assert (broken["action"], broken["user_id"], broken["target"]) == ("breakglass", LEAD, "8860")
