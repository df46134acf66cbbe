"""What a new user met in the trial, over signed HTTP: a side chosen by accident, advice that does not work,
mentions shown as code, counts and names of approvers, durations the form refused, "extension" meaning two
things, times without seconds, settings that contradicted themselves, reasons rendered as formatting."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.action_ids import ACTION_BOTH_SIDES, ACTION_SIDE_ONLY
from bot.app import RecordingBot
from bot.commands.types import MAX_REASON_CHARS
from bot.models import Channels, RequestState
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, AGENT, LEAD, LEAD2, Running, ServedBot
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
from tests.support.slack_requests import TEAM, SlackSender

pytestmark = pytest.mark.usefixtures("roles")


def _reply(slack: SimulatedSlack, containing: str) -> Any:
    return slack.wait_for_call("response_url", containing=containing)[-1]


def _ask(sender: SlackSender, slack: SimulatedSlack, text: str, user: str = AGENT) -> int:
    before = len(cards(slack))
    assert sender.command(text, user=user).status_code == 200
    card = wait_until(lambda: len(cards(slack)) > before and cards(slack)[-1], what="a new approval card")
    return int(buttons(card)[0]["value"])


def _approve(sender: SlackSender, slack: SimulatedSlack, request_id: int, user: str = LEAD) -> None:
    card = posted_card(slack)
    assert sender.click("recording_approve", str(request_id), user=user, message_ts=card["ts"]).status_code == 200


def _mrkdwn(blocks: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(str(node.get("text")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return found


def _plain(blocks: list[dict[str, Any]]) -> list[str]:
    return [f["text"] for b in blocks for f in b.get("fields", []) if f.get("type") == "plain_text"]


# -- 1. a partial pause is never chosen silently ----------------------------------------------------


def _side_question(sender: SlackSender, slack: SimulatedSlack, text: str) -> dict[str, dict[str, Any]]:
    sender.command(text, user=AGENT)
    question = _reply(slack, "both sides")
    assert question.payload["response_type"] == "ephemeral"
    return {b["action_id"]: b for b in buttons({"blocks": question.blocks})}


def test_a_reason_that_begins_with_the_side_asks_which_side_and_only_that_side_when_chosen(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    choices = _side_question(sender, slack, "pause 8857 2m caller reading card")
    assert set(choices) == {ACTION_SIDE_ONLY, ACTION_BOTH_SIDES}
    assert choices[ACTION_SIDE_ONLY]["text"]["text"] == "Only the caller's side"
    assert bot.services.pauses.open_requests(TEAM) == [] and cards(slack) == [], "nothing asked before a choice"

    sender.click(ACTION_SIDE_ONLY, choices[ACTION_SIDE_ONLY]["value"], user=AGENT)
    card = posted_card(slack)
    (request,) = bot.services.pauses.open_requests(TEAM)
    assert request.channels is Channels.CALLER and request.reason == "reading card"
    assert "the caller's side only" in card_text(card)
    confirmation = _reply(slack, "is waiting for an approver")
    assert "(the caller's side only)" in confirmation.rendered
    assert confirmation.payload.get("replace_original") is True  # the question is gone, its buttons with it


def test_choosing_both_sides_keeps_the_side_word_in_the_reason(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    choices = _side_question(sender, slack, "pause 8857 2m caller is reading the card")
    sender.click(ACTION_BOTH_SIDES, choices[ACTION_BOTH_SIDES]["value"], user=AGENT)
    card = posted_card(slack)
    (request,) = bot.services.pauses.open_requests(TEAM)
    assert request.channels is Channels.BOTH and request.reason == "caller is reading the card"
    assert "both sides" in card_text(card)


def test_a_side_before_the_duration_or_before_a_noun_is_the_side_without_a_question(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    _ask(sender, slack, "pause 8857 caller 2m is reading card")
    (request,) = bot.services.pauses.open_requests(TEAM)
    assert request.channels is Channels.CALLER and request.reason == "is reading card"


def test_a_forged_side_choice_is_checked_again_like_typed_text(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    choices = _side_question(sender, slack, "pause 8857 2m caller reading card")
    forged = json.loads(choices[ACTION_SIDE_ONLY]["value"])
    for change in ({"reason": "x" * (MAX_REASON_CHARS + 1)}, {"seconds": 10**6}, {"target": "not a call"}):
        sender.click(ACTION_SIDE_ONLY, json.dumps({**forged, **change}), user=AGENT)
    wait_until(lambda: len(slack.calls("response_url")) >= 4, what="three refusals")
    assert all("does not belong" in c.rendered for c in slack.calls("response_url")[1:])
    assert bot.services.pauses.open_requests(TEAM) == [] and cards(slack) == []


# -- 2. breakglass on an active pause advises what works ---------------------------------------------


def test_breakglass_on_an_active_pause_advises_resume_not_cancel(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack, "pause 8856 5m card number")
    _approve(sender, slack, request_id)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    sender.command("breakglass 8856 5m customer reading a card", user=LEAD)
    advice = _reply(slack, "already paused").rendered
    assert "`/recording resume 8856`" in advice and "/recording cancel" not in advice


# -- 3. mentions in refusals render as mentions ------------------------------------------------------


def test_a_refusal_that_names_someone_mentions_them(sender: SlackSender, slack: SimulatedSlack) -> None:
    request_id = _ask(sender, slack, "pause 8856 5m card number")
    sender.command(f"cancel {request_id}", user=LEAD2)
    refusal = _reply(slack, "Only the requester")
    assert f"<@{AGENT}>" in refusal.text and all("&lt;@" not in text for text in _mrkdwn(refusal.blocks))
    assert any(f"<@{AGENT}>" in text for text in _mrkdwn(refusal.blocks))


# -- 4. four eyes: "1 of 2", and both approvers named -------------------------------------------------


def _four_eyes_floor(sender: SlackSender, bot: RecordingBot) -> None:
    """The agent and both leads in group `floor`, whose requests need two approvals."""
    for user, role in ((AGENT, "requester"), (LEAD, "approver"), (LEAD2, "approver")):
        sender.command(f"allow <@{user}> {role} floor", user=ADMIN)
        wait_until(lambda user=user: bot.services.authorizer.group_of_user(TEAM, user) == "floor", what="the group")
    sender.command("group floor approvals 2", user=ADMIN)
    wait_until(lambda: audit_rows(bot, "group.changed"), what="the group's four eyes")


def test_a_four_eyes_card_counts_approvals_and_the_requester_is_told_both_names(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    _four_eyes_floor(sender, bot)
    request_id = _ask(sender, slack, "pause 8856 5m card number")
    _approve(sender, slack, request_id, LEAD)
    card = wait_for_card(slack, "1 of 2 approvals so far")
    assert "waiting for 1 more approver other than" in card_text(card)
    assert "Waiting for 2 approvers" not in card_text(card)
    _approve(sender, slack, request_id, LEAD2)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    dm = slack.wait_for_call("chat.postMessage", containing="was approved by")[0]
    assert f"approved by <@{LEAD}> and <@{LEAD2}>" in dm.rendered


def test_an_approval_counted_while_the_card_is_still_being_posted_shows_on_the_card(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    _four_eyes_floor(sender, bot)
    # Slack shows the card at once but answers its chat.postMessage late: a lead approves in between, before
    # the bot knows the card's ts (so that approval cannot update a card it does not know yet).
    slack.answer_late("chat.postMessage", 1.0)
    request_id = _ask(sender, slack, "pause 8856 5m card number")
    _approve(sender, slack, request_id, LEAD)
    wait_until(lambda: len(bot.services.pauses.get(request_id).approvals) == 1, what="the approval")  # type: ignore[union-attr]
    card = wait_for_card(slack, "1 of 2 approvals so far")
    assert "waiting for 1 more approver other than" in card_text(card)


# -- 5. the form reads durations as the command does -------------------------------------------------


@pytest.mark.parametrize(("typed", "seconds"), [("5m", 300), ("45s", 45), ("1h30m", 5400)])
def test_the_pause_form_accepts_what_the_typed_command_accepts(
    start_bot: Callable[..., Running], slack: SimulatedSlack, typed: str, seconds: int
) -> None:
    running = start_bot(max_pause_minutes=120)
    sender, bot = running.sender, running.bot
    sender.command("pause", user=AGENT)
    view = wait_until(lambda: slack.modals(), what="the form")[-1]
    answers = {"target": "8856", "duration": typed, "channels": "both", "reason": "card number"}
    response = sender.submit_view(view, answers, user=AGENT)
    assert response.status_code == 200 and response.content == b"", response.content
    posted_card(slack)
    (request,) = bot.services.pauses.open_requests(TEAM)
    assert request.duration_seconds == seconds


def test_the_pause_form_refuses_what_the_typed_command_refuses_in_its_words(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    sender.command("pause", user=AGENT)
    view = wait_until(lambda: slack.modals(), what="the form")[-1]
    answers = {"target": "8856", "duration": "7", "channels": "both", "reason": "card number"}
    errors = sender.submit_view(view, answers, user=AGENT).json()["errors"]
    sender.command("pause 8856 7 card number", user=AGENT)
    assert errors["duration"] in _reply(slack, "needs a unit").rendered


# -- 6. "more time", never a second meaning of "extension" -------------------------------------------


def test_more_time_is_called_more_time_and_extension_means_a_phone_extension(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    pause_id = _ask(sender, slack, "pause 8856 5m card number")
    _approve(sender, slack, pause_id)
    wait_for_state(bot, pause_id, RequestState.ACTIVE)
    sender.command("extend 8856 5m customer repeats the card", user=AGENT)
    card = wait_until(
        lambda: [m for m in slack.messages() if m["text"].startswith("More-time request #")], what="the card"
    )[-1]
    assert "More-time request" in card_text(card) and "Extension request" not in card_text(card)
    said = _reply(slack, "More-time request #2 for").rendered
    assert "is waiting for an approver" in said and "Extension request" not in said
    sender.command("help", user=AGENT)
    assert "ask for more time" in _reply(slack, "/recording extend").rendered


# -- 7. seconds in the times of a window under an hour -----------------------------------------------


def test_a_short_pause_shows_its_times_to_the_second(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    request_id = _ask(sender, slack, "pause 8856 20s card number")
    _approve(sender, slack, request_id)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    text = card_text(wait_for_card(slack, "Recording paused until"))
    assert "{time_secs}" in text
    assert re.search(r"paused until <!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|[\d-]+ \d\d:\d\d:\d\d UTC>", text)


def test_a_pause_of_an_hour_or_more_shows_minutes(start_bot: Callable[..., Running], slack: SimulatedSlack) -> None:
    running = start_bot(max_pause_minutes=120)
    sender, bot = running.sender, running.bot
    request_id = _ask(sender, slack, "pause 8856 1h card number")
    _approve(sender, slack, request_id)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert "{time_secs}" not in card_text(wait_for_card(slack, "Recording paused until"))


# -- 8. advice about call IDs names where one can be seen ---------------------------------------------


def test_resume_on_an_extension_with_two_calls_says_where_a_call_id_is_seen(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    sender.command("resume 8860", user=LEAD)
    said = _reply(slack, "more than one ongoing call").rendered
    assert "call ID instead" not in said and "the recording system's call list" in said


# -- 9. settings: the switch and the mode in agreement -------------------------------------------------


def test_settings_of_a_line_turned_on_in_mode_never_do_not_contradict(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    sender.command("settings 1004", user=AGENT)
    shown = _reply(slack, "Call recording").rendered
    assert "*Recording*\nNever — turned on, but the mode is Never" in shown
    assert "are recorded" not in shown


# -- 10. reasons as typed ----------------------------------------------------------------------------


def test_a_reason_with_mrkdwn_characters_is_shown_as_typed_on_card_dm_and_home(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, served: ServedBot
) -> None:
    reason = "card *bold* and _x_ and ~y~"
    _ask(sender, slack, f"pause 8856 5m {reason}")
    card = posted_card(slack)
    assert reason in _plain(card["blocks"])
    assert all("*bold*" not in text and "_x_" not in text for text in _mrkdwn(card["blocks"]))
    dm = slack.wait_for_call("chat.postMessage", containing="waits for your decision")[0]
    assert reason in _plain(dm.blocks) and all("*bold*" not in text for text in _mrkdwn(dm.blocks))
    sender.home_opened(user=LEAD)
    home = wait_until(lambda: slack.home(LEAD), what="the lead's Home")
    assert reason in _plain(home["blocks"]) and all("*bold*" not in text for text in _mrkdwn(home["blocks"]))

