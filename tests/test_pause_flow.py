"""Pausing a recording end to end: signed slash command → approval card → click → MuteRecording → card."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.app import RecordingBot
from bot.models import RequestState
from bot.sandbox.simulators.base import Reply
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import (
    AGENT,
    LEAD,
    LEAD2,
    RECORDER_API_KEY,
    STRANGER,
    ServedBot,
)
from tests.support.pauses import (
    audit_rows,
    buttons,
    card_text,
    cards,
    posted_card,
    wait_for_card,
    wait_for_state,
    wait_until,
)
from tests.support.slack_requests import CHANNEL, SlackSender

CALL_8856 = DEMO_CALLS[0][0]
CALL_ID_TEXT = "3F2B8C1D-6A4E-4F0B-9C7D-1E2A3B4C5D6E"

pytestmark = pytest.mark.usefixtures("roles")


def _ask(sender: SlackSender, slack: SimulatedSlack, text: str = "pause 8856 5m customer is reading out a card number",
         user: str = AGENT) -> int:  # fmt: skip
    """Request a pause and return its ID, read from the card's Approve button."""
    before = len(cards(slack))
    assert sender.command(text, user=user).status_code == 200
    card = wait_until(lambda: len(cards(slack)) > before and cards(slack)[-1], what="a new approval card")
    return int(buttons(card)[0]["value"])


def _click(sender: SlackSender, slack: SimulatedSlack, action: str, request_id: int, user: str, **kwargs: Any) -> None:
    card = posted_card(slack)
    response = sender.click(action, str(request_id), user=user, message_ts=card["ts"], **kwargs)
    assert response.status_code == 200


def _approve(sender: SlackSender, slack: SimulatedSlack, request_id: int, user: str = LEAD) -> None:
    _click(sender, slack, "recording_approve", request_id, user)


# -- the happy path --------------------------------------------------------------------------------


def test_pause_approved_by_a_lead_mutes_the_call_and_stamps_the_card(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack)

    card = posted_card(slack)
    assert card["channel"] == CHANNEL
    text = card_text(card)
    expected_words = (f"<@{AGENT}>", "`8856`", "both sides", "5 minutes", "customer is reading out a card number")
    for expected in (*expected_words, "Expires"):
        assert expected in text
    approve, deny = buttons(card)
    assert (approve["action_id"], approve["value"]) == ("recording_approve", str(request_id))
    assert (deny["action_id"], deny["value"]) == ("recording_deny", str(request_id))
    assert recording_system.mute_calls() == []  # nothing upstream before a decision

    _approve(sender, slack, request_id)
    active = wait_for_state(bot, request_id, RequestState.ACTIVE)

    (call,) = recording_system.mute_calls()
    token = recording_system.issued_tokens()[-1]
    assert call == {
        "action": "MuteRecording",
        "apiKey": RECORDER_API_KEY,
        "token": token,
        "responseType": "XML",
        "extension": "8856",
        "status": "ongoing",
        "mute": "3",
    }
    assert recording_system.mute_state(CALL_8856) == 3
    card = wait_for_card(slack, "Recording paused until")
    assert buttons(card) == []
    assert f"Approved by <@{LEAD}>" in card_text(card)
    assert active.resume_at is not None and active.paused_at is not None
    assert (active.resume_at - active.paused_at).total_seconds() == 300
    # The requester is told privately, in a DM.
    dm = slack.wait_for_call("chat.postMessage", containing="was approved by")[0]
    assert dm.payload["channel"].startswith("D")
    assert AGENT in [c.payload["users"] for c in slack.calls("conversations.open")]
    # Every step is in the audit log.
    for action in ("command.pause", "request.created", "request.approved", "upstream.mute_recording",
                   "request.active", "click.approve"):  # fmt: skip
        wait_until(lambda action=action: audit_rows(bot, action), what=f"the audit row {action}")


def test_pause_by_call_id_with_one_channel_sends_call_id_and_mask(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack, f"pause {CALL_ID_TEXT} caller 90s card number")
    _approve(sender, slack, request_id)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    (call,) = recording_system.mute_calls()
    assert call["callID"] == CALL_8856
    assert call["mute"] == "1"
    assert "extension" not in call and "status" not in call


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pause 88a56 reason", "is not an extension"),
        ("pause 8856 0m reason", "at least 10 seconds"),
        ("pause 8856 -5m reason", "at least 10 seconds"),
        ("pause 8856 45m reason", "at most 30 minutes"),
        ("pause 8856 5m", "Give a reason"),
    ],
)
def test_bad_pause_input_is_explained_privately_and_nothing_is_stored(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, text: str, expected: str
) -> None:
    sender.command(text, user=AGENT)
    reply = slack.wait_for_call("response_url", containing=expected)[0]
    assert reply.payload["response_type"] == "ephemeral"
    assert "/recording pause 8856 5m customer is reading out a card number" in reply.rendered
    assert bot.services.pauses.open_requests("T0TEST") == []
    assert slack.calls("chat.postMessage") == []


# -- who may decide --------------------------------------------------------------------------------


def test_a_requester_cannot_approve_and_the_card_does_not_change(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack, user=LEAD)
    _click(sender, slack, "recording_approve", request_id, AGENT)
    reply = slack.wait_for_call("response_url", containing="can't decide")[0]
    assert reply.payload["response_type"] == "ephemeral"
    assert reply.payload.get("replace_original") is False
    assert slack.calls("chat.update") == []
    assert bot.services.pauses.get(request_id).state is RequestState.PENDING  # type: ignore[union-attr]
    assert recording_system.mute_calls() == []
    refused = wait_until(lambda: [r for r in audit_rows(bot, "click.approve") if r.outcome == "refused"])
    assert refused[0].user_id == AGENT


def test_someone_not_on_the_allow_list_cannot_click(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack)
    _click(sender, slack, "recording_approve", request_id, STRANGER)
    slack.wait_for_call("response_url", containing="allow-list")
    assert bot.services.pauses.get(request_id).state is RequestState.PENDING  # type: ignore[union-attr]
    assert recording_system.mute_calls() == []


def test_self_approval_is_refused_and_another_lead_may_approve(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack, user=LEAD)
    _approve(sender, slack, request_id, user=LEAD)
    slack.wait_for_call("response_url", containing="another approver must decide on your own request")
    assert recording_system.mute_calls() == []
    _approve(sender, slack, request_id, user=LEAD2)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert len(recording_system.mute_calls()) == 1


def test_a_click_from_another_workspace_is_refused(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack)
    _click(sender, slack, "recording_approve", request_id, LEAD, team="T0OTHER")
    slack.wait_for_call("response_url", containing="allow-list")
    assert bot.services.pauses.get(request_id).state is RequestState.PENDING  # type: ignore[union-attr]
    assert recording_system.mute_calls() == []


def test_a_card_update_that_reaches_slack_late_shows_the_request_as_it_is_stored_now(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    """A change's card update can be overtaken by the next change's (two threads): the late one must not
    put the older state back on the card, buttons and all."""
    request_id = _ask(sender, slack)
    pending = bot.services.pauses.get(request_id)
    assert pending is not None and pending.state is RequestState.PENDING
    _click(sender, slack, "recording_deny", request_id, LEAD)
    wait_for_card(slack, "Denied by")
    updates = len(slack.calls("chat.update"))
    bot.services.pauses.refresh_card(pending)  # the pending state's update, arriving after the denial's
    assert len(slack.calls("chat.update")) == updates + 1
    card = posted_card(slack)
    assert f"Denied by <@{LEAD}>" in card_text(card) and buttons(card) == []


def test_deny_stamps_the_card_and_nothing_goes_upstream(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack)
    _click(sender, slack, "recording_deny", request_id, LEAD)
    wait_for_state(bot, request_id, RequestState.DENIED)
    card = wait_for_card(slack, "Denied by")
    assert f"Denied by <@{LEAD}>" in card_text(card)
    assert buttons(card) == []
    assert recording_system.requests == []
    slack.wait_for_call("chat.postMessage", containing="was denied by")
    # A late Approve changes nothing and says who decided.
    _approve(sender, slack, request_id, user=LEAD2)
    slack.wait_for_call("response_url", containing=f"already denied by <@{LEAD}>")
    assert recording_system.requests == []


def test_a_forged_button_value_is_refused(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> None:
    sender.click("recording_approve", "1 OR 1=1", user=LEAD)
    slack.wait_for_call("response_url", containing="does not belong to a pause request")
    sender.click("recording_approve", "999", user=LEAD)
    slack.wait_for_call("response_url", containing="does not exist")


# -- expiry ----------------------------------------------------------------------------------------


def test_an_undecided_request_expires_and_its_buttons_stop_working(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _ask(sender, slack)
    served.clock.advance(minutes=10, seconds=1)
    wait_for_state(bot, request_id, RequestState.EXPIRED)
    card = wait_for_card(slack, "Expired at")
    assert buttons(card) == []
    assert "nobody decided within 10 minutes" in card_text(card)
    _approve(sender, slack, request_id)
    slack.wait_for_call("response_url", containing="already expired")
    assert recording_system.requests == []
    assert audit_rows(bot, "request.expired")


# -- races -----------------------------------------------------------------------------------------


def test_two_leads_and_double_clicks_at_once_make_exactly_one_upstream_call(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack)
    card = posted_card(slack)
    bodies = [
        sender.click_body("recording_approve", str(request_id), user=user, message_ts=card["ts"])
        for user in (LEAD, LEAD2, LEAD, LEAD2, LEAD, LEAD2)
    ]
    start = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def click(body: bytes) -> None:
        start.wait()
        statuses.append(sender.post(body).status_code)

    threads = [threading.Thread(target=click, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(bodies)
    request = wait_for_state(bot, request_id, RequestState.ACTIVE)
    losers = slack.wait_for_call("response_url", containing="already approved by", count=len(bodies) - 1)
    assert all(f"<@{request.decided_by}>" in loser.rendered for loser in losers)
    assert len(recording_system.mute_calls()) == 1


# -- upstream failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("not_found", "no ongoing call"),
        ("multiple_calls", "as the recording system's call list shows it"),
        ("http_500", "Recording system"),
        ("html_page", "Recording system"),
        ("empty_body", "Recording system"),
        ("slow", "did not answer"),
        ("bad_api_key", "tell a bot admin"),
    ],
)
def test_upstream_failure_is_shown_on_the_card_and_the_request_is_failed(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    bot: RecordingBot,
    fault: Any,
    says: str,
) -> None:
    recording_system.fail_next(fault)
    request_id = _ask(sender, slack)
    _approve(sender, slack, request_id)
    failed = wait_for_state(bot, request_id, RequestState.FAILED, timeout=8)
    assert failed.error and says in failed.error
    card = wait_for_card(slack, "the pause failed")
    assert says in card_text(card)
    assert RECORDER_API_KEY not in card_text(card)
    assert [b["action_id"] for b in buttons(card)] == ["recording_retry", "recording_abandon"]
    slack.wait_for_call("chat.postMessage", containing="the pause failed")  # the requester is told
    row = next(r for r in audit_rows(bot, "upstream.mute_recording") if r.outcome == "error")
    assert RECORDER_API_KEY not in row.details


def test_a_failed_pause_can_be_retried_from_the_card(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    recording_system.fail_next("http_500")
    request_id = _ask(sender, slack)
    _approve(sender, slack, request_id)
    wait_for_state(bot, request_id, RequestState.FAILED)
    _click(sender, slack, "recording_retry", request_id, LEAD2)
    active = wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert active.attempts == 2
    assert len(recording_system.mute_calls()) == 2
    wait_for_card(slack, "Recording paused until")
    assert audit_rows(bot, "request.retry")[0].user_id == LEAD2


def test_a_failed_pause_can_be_abandoned(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    recording_system.fail_next("not_found")
    request_id = _ask(sender, slack)
    _approve(sender, slack, request_id)
    wait_for_state(bot, request_id, RequestState.FAILED)
    _click(sender, slack, "recording_abandon", request_id, LEAD)
    wait_for_state(bot, request_id, RequestState.ABANDONED)
    card = wait_for_card(slack, "Abandoned by")
    assert buttons(card) == []
    assert len(recording_system.mute_calls()) == 1


def test_an_expired_token_is_renewed_once_and_the_pause_goes_through(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    first = _ask(sender, slack, "pause 8857 5m first")
    _approve(sender, slack, first)
    wait_for_state(bot, first, RequestState.ACTIVE)
    recording_system.fail_next("expired_token")
    second = _ask(sender, slack, "pause 8856 5m second")
    _approve(sender, slack, second)
    wait_for_state(bot, second, RequestState.ACTIVE)
    assert len(recording_system.token_requests()) == 2
    assert len(recording_system.mute_calls()) == 3  # first, the refused try, the retry


def test_a_card_that_cannot_be_posted_is_explained_and_nothing_is_left_pending(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    slack.fail_next("chat.postMessage", Reply(body='{"ok": false, "error": "not_in_channel"}'))
    sender.command("pause 8856 5m card number", user=AGENT)
    slack.wait_for_call("response_url", containing="/invite @recording-bot")
    assert bot.services.pauses.open_requests("T0TEST") == []


def test_a_second_request_for_a_target_with_an_open_one_is_refused(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    first = _ask(sender, slack)
    sender.command("pause 8856 5m again", user=AGENT)
    slack.wait_for_call("response_url", containing=f"already has pause request #{first}")
    assert len(bot.services.pauses.open_requests("T0TEST")) == 1
