"""The Slack-native surfaces over signed HTTP, as Slack drives them: the pause form (from the slash command,
the global shortcut and the Home button), the Events API (URL verification, retries), the App Home,
`me` as a target, and picking a line with a click. Every rule holds whichever surface a person uses."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient

from bot.app import RecordingBot
from bot.config import Config
from bot.listeners.home import HomePublisher
from bot.models import RequestState, Role
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack, SlackCall
from bot.sandbox.simulators.webex import SimulatedWebex
from bot.serving.background import BackgroundWork
from tests.conftest import ADMIN, AGENT, BOT_TOKEN, LEAD, LEAD2, SIGNING_SECRET, STRANGER, ServedBot
from tests.support.pauses import audit_rows, buttons, card_text, posted_card, wait_for_state, wait_until
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

pytestmark = pytest.mark.usefixtures("roles")

GOOD_ANSWERS = {"target": "8856", "duration": "5m", "channels": "caller", "reason": "customer reads a card number"}


def _form(slack: SimulatedSlack, count: int = 1) -> dict[str, Any]:
    wait_until(lambda: len(slack.modals()) >= count, what="the pause form to open")
    return slack.modals()[count - 1]


def _blocks_by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in view["blocks"] if "block_id" in block}


def _home(slack: SimulatedSlack, user: str, containing: str = "") -> dict[str, Any]:
    def published() -> dict[str, Any] | None:
        view = slack.home(user)
        return view if view is not None and containing in card_text(view) else None

    found: dict[str, Any] = wait_until(published, what=f"the Home of {user} saying {containing!r}")
    return found


def _home_buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in view["blocks"]:
        found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        if block.get("accessory", {}).get("type") == "button":
            found.append(block["accessory"])
    return found


def _private_notes(slack: SimulatedSlack, user: str, containing: str) -> list[SlackCall]:
    return [
        call
        for call in slack.calls("chat.postEphemeral") + slack.calls("chat.postMessage")
        # An ephemeral note names the user; a DM goes to the user's ID or their DM channel ("D…").
        if user in (call.payload.get("user"), call.payload.get("channel"), "U" + str(call.payload.get("channel"))[1:])
        and containing in call.rendered
    ]


# -- the pause form --------------------------------------------------------------------------------


def test_pause_alone_opens_the_form_with_the_commands_trigger_and_four_inputs(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    body = sender.command_body("pause", user=AGENT)
    assert sender.post(body).status_code == 200
    view = _form(slack)
    opened = slack.calls("views.open")[0]
    assert opened.payload["trigger_id"] == parse_qs(body.decode())["trigger_id"][0]
    assert view["callback_id"] == "recording_pause"
    metadata = json.loads(view["private_metadata"])
    # Signed, so that a submission can carry back only what the bot wrote (see test_fault_malformed_payloads).
    assert metadata.pop("signature")
    assert metadata == {"channel": CHANNEL}
    inputs = _blocks_by_id(view)
    assert list(inputs) == ["target", "duration", "channels", "reason"]
    for block_id, block in inputs.items():
        assert block["type"] == "input" and block["element"]["action_id"] == block_id
    assert inputs["target"]["element"]["type"] == "plain_text_input"
    duration = inputs["duration"]["element"]
    # Typed, read as the typed command reads it (`45s`, `5m`), from 10 seconds up to MAX_PAUSE_MINUTES.
    assert duration["type"] == "plain_text_input"
    assert "from 10 seconds up to 30 minutes" in inputs["duration"]["hint"]["text"]
    assert duration["initial_value"] == "10m"  # DEFAULT_PAUSE_MINUTES
    channels = inputs["channels"]["element"]
    assert channels["type"] == "radio_buttons"
    assert [o["value"] for o in channels["options"]] == ["both", "caller", "callee"]
    assert channels["initial_option"]["value"] == "both"
    assert inputs["reason"]["element"] == {**inputs["reason"]["element"], "type": "plain_text_input", "multiline": True}
    assert slack.calls("response_url") == [], "the form is the whole answer"


def test_an_invalid_submission_is_answered_with_an_error_under_each_bad_input_and_nothing_happens(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    sender.command("pause", user=AGENT)
    view = _form(slack)
    answers = {"target": "not-a-call!", "duration": "5m", "channels": "both", "reason": "   "}
    response = sender.submit_view(view, answers, user=AGENT)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"target", "reason"}
    # The same words the typed command uses for the same mistakes.
    typed = {"target": "pause not-a-call! 5m card number", "reason": "pause 8856 5m"}
    for block_id, text in typed.items():
        sender.command(text, user=AGENT)
        said = slack.wait_for_call("response_url", containing=answer["errors"][block_id].split(":")[0])
        assert said, f"the typed command does not say {answer['errors'][block_id]!r}"
    assert bot.services.pauses.open_requests(TEAM) == []
    assert slack.calls("chat.postMessage") == [] and recording_system.mute_calls() == []
    assert wait_until(lambda: audit_rows(bot, "form.pause"), what="the audit row")[0].outcome == "error"


def test_a_valid_submission_closes_the_form_and_asks_exactly_as_the_command_does(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    sender.command("pause", user=AGENT)
    response = sender.submit_view(_form(slack), GOOD_ANSWERS, user=AGENT)
    assert response.status_code == 200 and response.content == b"", "an empty answer closes the modal"
    card = posted_card(slack)
    assert card["channel"] == CHANNEL
    text = card_text(card)
    assert "`8856`" in text and "5 minutes" in text and "the caller's side only" in text and "customer reads" in text
    request = bot.services.pauses.open_requests(TEAM)[0]
    assert request.requester_id == AGENT and request.duration_seconds == 300
    wait_until(lambda: _private_notes(slack, AGENT, "waiting for an approver"), what="the requester to be told")
    assert wait_until(lambda: audit_rows(bot, "form.pause"), what="the audit row")[0].outcome == "ok"

    # The card's buttons work as for a typed request: one approval, one MuteRecording.
    sender.click("recording_approve", str(request.id), user=LEAD, message_ts=card["ts"], channel=card["channel"])
    wait_for_state(bot, request.id, RequestState.ACTIVE)
    # "caller" only: the first of the two channel bits (the recording system's mask).
    assert [(c["extension"], c["mute"]) for c in recording_system.mute_calls()] == [("8856", "1")]


def test_a_submission_from_someone_not_on_the_allow_list_is_refused_in_the_form(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("pause", user=AGENT)
    response = sender.submit_view(_form(slack), GOOD_ANSWERS, user=STRANGER)
    assert response.json()["response_action"] == "errors"
    assert "allow-list" in response.json()["errors"]["target"]
    assert bot.services.pauses.open_requests(TEAM) == []


def test_the_shortcut_opens_the_form_with_a_channel_input_and_the_card_goes_to_the_chosen_channel(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    assert sender.shortcut("recording_pause_shortcut", user=AGENT).status_code == 200
    view = _form(slack)
    inputs = _blocks_by_id(view)
    assert list(inputs) == ["target", "duration", "channels", "reason", "channel"]
    assert inputs["channel"]["element"]["type"] == "conversations_select"
    assert inputs["channel"]["element"]["action_id"] == "channel"

    missing = sender.submit_view(view, GOOD_ANSWERS, user=AGENT).json()
    assert missing["response_action"] == "errors" and set(missing["errors"]) == {"channel"}

    assert sender.submit_view(view, {**GOOD_ANSWERS, "channel": "C0FLOOR"}, user=AGENT).content == b""
    assert posted_card(slack)["channel"] == "C0FLOOR"
    wait_until(lambda: _private_notes(slack, AGENT, "waiting for an approver"), what="the requester to be told")


def test_with_a_group_approvals_channel_the_forms_card_goes_there_anyway(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    bot.services.authorizer.set_role(TEAM, AGENT, Role.REQUESTER, group="sales", source="test")
    bot.services.authorizer.set_role(TEAM, LEAD, Role.APPROVER, group="sales", source="test")
    sender.command("group sales channel <#C0SALES|sales-approvals>", user=ADMIN)
    slack.wait_for_call("response_url", containing="Group `sales`")
    sender.shortcut("recording_pause_shortcut", user=AGENT)
    sender.submit_view(_form(slack), {**GOOD_ANSWERS, "channel": "C0FLOOR"}, user=AGENT)
    assert posted_card(slack)["channel"] == "C0SALES"


def test_a_stale_trigger_is_told_to_the_user_instead_of_failing_silently(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    slack.fail_next("views.open", _slack_error("expired_trigger_id"))
    sender.command("pause", user=AGENT)
    reply = slack.wait_for_call("response_url", containing="pause form")[-1]
    assert "expired_trigger_id" in reply.rendered and "try again" in reply.rendered.lower()


# -- the Events API ----------------------------------------------------------------------------------


def test_url_verification_is_answered_with_the_challenge(sender: SlackSender) -> None:
    response = sender.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_an_unsigned_event_is_refused(sender: SlackSender, slack: SimulatedSlack) -> None:
    response = sender.home_opened(user=LEAD, signature="v0=" + "0" * 64)
    assert response.status_code == 401
    assert slack.calls("views.publish") == []


def test_an_event_retried_by_slack_is_handled_once(sender: SlackSender, slack: SimulatedSlack) -> None:
    assert sender.home_opened(user=LEAD, event_id="Ev0HOME1").status_code == 200
    _home(slack, LEAD)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert sender.home_opened(user=LEAD, event_id="Ev0HOME1", headers=retry).status_code == 200
    assert sender.home_opened(user=LEAD, event_id="Ev0HOME2").status_code == 200
    wait_until(lambda: len(slack.calls("views.publish")) >= 2, what="the second opening to publish")
    assert len(slack.calls("views.publish")) == 2, "the retry of Ev0HOME1 published again"


def test_an_event_s_id_is_remembered_for_two_hours_then_forgotten(
    sender: SlackSender, slack: SimulatedSlack, served: ServedBot, bot: RecordingBot
) -> None:
    def remembered() -> int:
        row = bot.database.one("SELECT count(*) AS n FROM slack_events")
        return int(row["n"]) if row else 0

    assert sender.home_opened(user=LEAD, event_id="Ev0OLD").status_code == 200
    _home(slack, LEAD)
    assert remembered() == 1
    # Past Slack's hour of retries, the ID is still kept: a late retry is still handled once.
    served.clock.advance(minutes=70)
    sender.home_opened(user=LEAD, event_id="Ev0OLD", headers={"X-Slack-Retry-Num": "3"})
    sender.home_opened(user=LEAD, event_id="Ev0NEW")
    wait_until(lambda: len(slack.calls("views.publish")) >= 2, what="the new event's Home")
    assert len(slack.calls("views.publish")) == 2 and remembered() == 2
    # Two hours after it was seen, the scheduler's pass forgets it (and keeps the newer one).
    served.clock.advance(minutes=51)
    wait_until(lambda: remembered() == 1, what="the scheduler to forget the old event ID")
    sender.home_opened(user=LEAD, event_id="Ev0OLD")
    wait_until(lambda: len(slack.calls("views.publish")) >= 3, what="the forgotten ID to count as new")


# -- the App Home --------------------------------------------------------------------------------------


def test_a_requesters_home_has_the_pause_button_and_their_requests_but_nothing_to_decide(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("pause 8856 5m customer reads a card number", user=AGENT)
    posted_card(slack)
    sender.home_opened(user=AGENT)
    view = _home(slack, AGENT, "Your recent requests")
    labels = {b["text"]["text"]: b for b in _home_buttons(view)}
    assert labels["Pause a recording"]["action_id"] == "recording_open_pause_modal"
    assert "Approve" not in labels and "Waiting for your decision" not in card_text(view)
    assert "`8856`" in card_text(view) and "waiting for approval" in card_text(view)


def test_an_approvers_home_lists_what_they_may_decide_with_approve_and_deny(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("pause 8856 5m customer reads a card number", user=AGENT)
    request_id = int(buttons(posted_card(slack))[0]["value"])
    sender.home_opened(user=LEAD)
    view = _home(slack, LEAD, "Waiting for your decision* (1)")
    by_action = {b["action_id"]: b for b in _home_buttons(view) if b["value"] == str(request_id)}
    assert set(by_action) == {"recording_approve", "recording_deny"}
    # The requester never sees their own request as one to decide, even when they are an approver.
    bot.services.authorizer.set_role(TEAM, AGENT, Role.APPROVER, source="test")
    sender.home_opened(user=AGENT)
    assert "Waiting for your decision* (0)" in card_text(_home(slack, AGENT, "Waiting for your decision"))


def test_someone_not_on_the_allow_list_sees_a_home_that_says_so_and_names_the_admins(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    sender.home_opened(user=STRANGER)
    view = _home(slack, STRANGER)
    assert "not on recording-bot's allow-list" in card_text(view)
    assert f"<@{ADMIN}>" in card_text(view)
    assert _home_buttons(view) == []


def test_approve_from_home_pauses_once_updates_the_channel_card_and_refreshes_the_homes(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    sender.command("pause 8856 5m customer reads a card number", user=AGENT)
    card = posted_card(slack)
    request_id = int(buttons(card)[0]["value"])
    slack.wait_for_call("response_url", containing="waiting for an approver")  # the command's own answer
    replies_before = len(slack.calls("response_url"))
    for _ in range(2):  # a double click from Home
        assert sender.home_click("recording_approve", str(request_id), user=LEAD).status_code == 200
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    wait_until(
        lambda: "Recording paused" in card_text(slack.message(card["channel"], card["ts"]) or {}), what="card update"
    )
    assert len(recording_system.mute_calls()) == 1
    # No response_url on Home: the clicker hears in a DM; and their Home shows the active pause.
    assert len(slack.calls("response_url")) == replies_before
    wait_until(lambda: _private_notes(slack, LEAD, "already"), what="the second click told in a DM")
    home = _home(slack, LEAD, "Resume now")
    resume = next(b for b in _home_buttons(home) if b["action_id"] == "recording_resume")
    assert resume["value"] == str(request_id)


def test_a_decision_on_the_card_is_refused_again_from_home(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    sender.command("pause 8856 5m customer reads a card number", user=AGENT)
    card = posted_card(slack)
    request_id = int(buttons(card)[0]["value"])
    sender.click("recording_deny", str(request_id), user=LEAD, message_ts=card["ts"], channel=card["channel"])
    wait_for_state(bot, request_id, RequestState.DENIED)
    sender.home_click("recording_approve", str(request_id), user=LEAD2)
    wait_until(lambda: _private_notes(slack, LEAD2, "denied"), what="the late approver to be told")
    assert recording_system.mute_calls() == []


def test_resume_now_from_home_resumes_the_recording(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    sender.command("pause 8856 5m customer reads a card number", user=AGENT)
    card = posted_card(slack)
    request_id = int(buttons(card)[0]["value"])
    sender.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"], channel=card["channel"])
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert sender.home_click("recording_resume", str(request_id), user=AGENT).status_code == 200
    wait_for_state(bot, request_id, RequestState.RESUMED)
    assert [(c["extension"], c["mute"]) for c in recording_system.mute_calls()] == [("8856", "3"), ("8856", "0")]
    wait_until(lambda: _private_notes(slack, AGENT, "resumed by"), what="the DM saying it resumed")


def test_the_pause_button_on_home_opens_the_form_with_a_channel_input(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    sender.home_click("recording_open_pause_modal", "home", user=AGENT)
    assert "channel" in _blocks_by_id(_form(slack))


def test_a_long_home_stays_within_slacks_100_blocks_and_says_how_many_more(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    for index in range(45):
        recording_system.add_call(f"call-{index}", [str(7000 + index)])
        sender.command(f"pause {7000 + index} 5m card number {index}", user=AGENT)
    wait_until(lambda: len(bot.services.pauses.open_requests(TEAM)) == 45, timeout=20, what="45 requests")
    sender.home_opened(user=LEAD)
    view = _home(slack, LEAD, "Waiting for your decision* (45)")
    assert len(view["blocks"]) <= 100
    assert "and 25 more" in card_text(view)


def test_a_failed_home_publish_never_affects_the_request(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    slack.fail_next("views.publish", _slack_error("ratelimited"), times=20)
    sender.command("pause 8856 5m customer reads a card number", user=AGENT)
    card = posted_card(slack)
    request_id = int(buttons(card)[0]["value"])
    sender.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"], channel=card["channel"])
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert len(recording_system.mute_calls()) == 1


def test_homes_are_refreshed_after_a_change_at_most_once_per_interval_per_person(
    bot: RecordingBot, slack: SimulatedSlack, sender: SlackSender
) -> None:
    """The publisher the app uses, with a short interval: a burst of changes publishes at once, then
    once more when the interval has passed, showing the last state."""
    work = BackgroundWork(threads=2, max_pending=10)
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    publisher = HomePublisher(client=client, homes=bot.services.homes, work=work, interval=0.5)
    try:
        sender.command("pause 8856 5m customer reads a card number", user=AGENT)
        request = bot.services.pauses.get(int(buttons(posted_card(slack))[0]["value"]))
        assert request is not None

        def publishes_to(user: str) -> int:
            return sum(1 for c in slack.calls("views.publish") if c.payload["user_id"] == user)

        # The app's own publisher refreshes these Homes once for the new request; let it finish first.
        wait_until(lambda: publishes_to(LEAD) and publishes_to(AGENT), what="the app's own refresh")
        slack.clear()
        for _ in range(5):
            publisher.request_changed(request)

        wait_until(lambda: publishes_to(LEAD) >= 2 and publishes_to(AGENT) >= 2, timeout=3, what="the second publish")
        time.sleep(0.6)  # any further publish would come within an interval
        assert publishes_to(LEAD) == 2 and publishes_to(AGENT) == 2
    finally:
        publisher.stop()
        work.shutdown()


# -- "pause my call" --------------------------------------------------------------------------------


def test_me_means_the_linked_extension_and_the_card_names_its_user(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("link 8856", user=AGENT)
    assert "linked to extension `8856`" in slack.wait_for_call("response_url", containing="linked")[-1].rendered
    sender.command("pause me 5m customer reads a card number", user=AGENT)
    card = posted_card(slack)
    assert "`8856`" in card_text(card) and f"<@{AGENT}>" in card_text(card)
    request = bot.services.pauses.open_requests(TEAM)[0]
    assert request.target.value == "8856" and request.target_user_id == AGENT
    sender.command("users", user=ADMIN)
    assert f"<@{AGENT}>" in slack.wait_for_call("response_url", containing="— extension `8856`")[-1].rendered


def test_me_without_a_link_is_found_through_the_slack_email_and_webex_and_the_link_is_kept(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    slack.emails[AGENT] = "agent@example.com"
    webex.add_person("agent@example.com", extension="8857")
    sender.command("pause me 5m customer reads a card number", user=AGENT)
    card = posted_card(slack)
    assert "`8857`" in card_text(card)
    assert [c.payload.get("user") for c in slack.calls("users.info")] == [AGENT]
    people = [r for r in webex.requests if r.path.endswith("/people")]
    assert people and people[0].params.get("email") == "agent@example.com"
    linked = audit_rows(bot, "link.changed")
    assert linked and json.loads(linked[0].details) | {"source": "webex", "extension": "8857"} == json.loads(
        linked[0].details
    )
    # The next `me` needs no lookup.
    sender.command("resume me", user=AGENT)
    slack.wait_for_call("response_url", containing="8857")
    assert len(slack.calls("users.info")) == 1


def test_me_without_a_link_or_a_webex_match_says_how_to_link(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    slack.emails[AGENT] = "nobody@example.com"
    sender.command("pause me 5m customer reads a card number", user=AGENT)
    reply = slack.wait_for_call("response_url", containing="/recording link")[-1]
    assert "don't know your extension" in reply.rendered
    assert bot.services.pauses.open_requests(TEAM) == [] and recording_system.mute_calls() == []


def test_me_in_the_form_means_the_linked_extension(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("link 8857", user=AGENT)
    slack.wait_for_call("response_url", containing="linked")
    sender.command("pause", user=AGENT)
    sender.submit_view(_form(slack), {**GOOD_ANSWERS, "target": "me"}, user=AGENT)
    assert "`8857`" in card_text(posted_card(slack))


def test_me_in_the_form_without_a_link_or_webex_is_an_error_under_the_target(
    make_config: Callable[..., Config], slack: SimulatedSlack
) -> None:
    served = ServedBot(make_config(webex_access_token=None)).start()
    sender = SlackSender(base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    try:
        assert served.bot is not None
        served.bot.services.authorizer.set_role(TEAM, AGENT, Role.REQUESTER, source="test")
        sender.command("pause", user=AGENT)
        answer = sender.submit_view(_form(slack), {**GOOD_ANSWERS, "target": "me"}, user=AGENT).json()
        assert answer["response_action"] == "errors"
        assert "/recording link <extension>" in answer["errors"]["target"]
        assert served.bot.services.pauses.open_requests(TEAM) == []
    finally:
        sender.close()
        served.stop()


def test_only_admins_link_or_unlink_someone_else(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> None:
    sender.command(f"link <@{LEAD}> 8856", user=AGENT)
    slack.wait_for_call("response_url", containing="admin")
    assert bot.services.links.links(TEAM) == []
    sender.command(f"link <@{LEAD}> 8856", user=ADMIN)
    slack.wait_for_call("response_url", containing="linked to extension")
    sender.command(f"unlink <@{LEAD}>", user=AGENT)
    slack.wait_for_call("response_url", containing="admin", count=2)
    assert [link.user_id for link in bot.services.links.links(TEAM)] == [LEAD]
    sender.command(f"unlink <@{LEAD}>", user=ADMIN)
    slack.wait_for_call("response_url", containing="no longer linked")
    assert bot.services.links.links(TEAM) == []
    sender.command("link 12ab", user=AGENT)
    assert "is not an extension" in slack.wait_for_call("response_url", containing="12ab")[-1].rendered


# -- pick a line with a click --------------------------------------------------------------------------


def test_an_ambiguous_settings_answer_has_a_show_button_per_line_and_a_click_shows_that_line(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    sender.command("settings 1001", user=AGENT)
    answer = slack.wait_for_call("response_url", containing="Lobby Phone")[-1]
    shows = [
        e for b in answer.blocks for e in [b.get("accessory") or {}] if e.get("action_id") == "recording_settings_pick"
    ]
    assert sorted(e["value"] for e in shows) == sorted(webex.line_ids(extension="1001"))
    chosen = next(e["value"] for e in shows if "Lobby" in json.dumps(answer.blocks).split(e["value"])[0][-400:])
    slack.clear()
    sender.click("recording_settings_pick", chosen, user=AGENT)
    shown = slack.wait_for_call("response_url", containing="Lobby Phone")[-1]
    assert shown.payload.get("replace_original") is True
    assert "Front Desk" not in shown.rendered
    assert [r.path for r in webex.requests if chosen in r.path], "the picked line's settings were read"
    wait_until(lambda: audit_rows(bot, "click.settings_pick"), what="the audit row of the pick")


def _slack_error(error: str) -> Any:
    from bot.sandbox.simulators.base import Reply

    return Reply(body=json.dumps({"ok": False, "error": error}))
