"""Time-boxed pauses: automatic resume (also across a restart), manual resume, the requests list."""

from __future__ import annotations

import logging
import time

import pytest

from bot.app import RecordingBot
from bot.models import RequestState
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import AGENT, SECRETS, ServedBot
from tests.support.pauses import audit_rows, card_text, posted_card, wait_for_card, wait_for_state
from tests.support.slack_requests import SlackSender
from tests.test_pause_flow import _approve, _ask

CALL_8856 = DEMO_CALLS[0][0]

pytestmark = pytest.mark.usefixtures("roles")


def _paused(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, text: str = "pause 8856 5m card") -> int:
    request_id = _ask(sender, slack, text)
    _approve(sender, slack, request_id)
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    # The approval updates the card after it writes the state: wait for that update, so that the updates
    # a test looks for next come after it.
    wait_for_card(slack, "Recording paused until")
    return request_id


def test_pause_resumes_by_itself_when_the_window_ends(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _paused(sender, slack, bot)
    served.clock.advance(minutes=4, seconds=59)
    time.sleep(0.2)
    assert len(recording_system.mute_calls()) == 1  # not yet

    served.clock.advance(seconds=1)
    resumed = wait_for_state(bot, request_id, RequestState.RESUMED)
    _pause, resume = recording_system.mute_calls()
    assert resume["mute"] == "0" and resume["extension"] == "8856" and resume["status"] == "ongoing"
    assert recording_system.mute_state(CALL_8856) == 0
    assert resumed.resumed_by == "system"
    card = wait_for_card(slack, "resumed automatically at")
    assert "Recording paused, then resumed automatically" in card_text(card)
    assert audit_rows(bot, "request.resumed")[0].user_id == "system"


def test_pause_resumes_on_time_after_the_bot_is_stopped_and_started_again(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _paused(sender, slack, bot)
    served.stop()
    served.clock.advance(minutes=6)  # the window ends while the bot is down
    served.start()
    assert served.bot is not None
    wait_for_state(served.bot, request_id, RequestState.RESUMED)
    wait_for_card(slack, "resumed automatically at")
    time.sleep(0.2)
    assert [c["mute"] for c in recording_system.mute_calls()] == ["3", "0"]  # resumed exactly once


def test_pending_request_survives_a_restart_and_can_be_approved(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, served: ServedBot
) -> None:
    request_id = _ask(sender, slack)
    served.restart()
    assert served.bot is not None
    _approve(sender, slack, request_id)
    wait_for_state(served.bot, request_id, RequestState.ACTIVE)
    assert len(recording_system.mute_calls()) == 1


def test_manual_resume_resumes_at_once_and_cancels_the_automatic_one(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _paused(sender, slack, bot)
    sender.command("resume 8856", user=AGENT)
    reply = slack.wait_for_call("response_url", containing="resumed the recording")[0]
    assert reply.payload["response_type"] == "in_channel"
    assert f"automatic resume of #{request_id} is cancelled" in reply.rendered
    resumed = wait_for_state(bot, request_id, RequestState.RESUMED)
    assert resumed.resumed_by == AGENT
    card = wait_for_card(slack, "resumed by")
    assert f"resumed by <@{AGENT}>" in card_text(card)
    served.clock.advance(minutes=10)
    time.sleep(0.3)
    assert [c["mute"] for c in recording_system.mute_calls()] == ["3", "0"]


def test_resume_without_an_active_pause_still_resumes(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    sender.command("resume 8857", user=AGENT)
    reply = slack.wait_for_call("response_url", containing="sent a resume for the recording")[0]
    # No pause of the bot was there: the answer never says one was resumed.
    assert "no pause by recording-bot was active there" in reply.rendered
    assert "resumed the recording" not in reply.rendered
    (call,) = recording_system.mute_calls()
    assert (call["extension"], call["mute"]) == ("8857", "0")


def test_resume_failure_is_reported_and_the_pause_stays_scheduled(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _paused(sender, slack, bot)
    recording_system.fail_next("http_503")
    sender.command("resume 8856", user=AGENT)
    slack.wait_for_call("response_url", containing="Recording system")
    assert bot.services.pauses.get(request_id).state is RequestState.ACTIVE  # type: ignore[union-attr]
    served.clock.advance(minutes=5)
    wait_for_state(bot, request_id, RequestState.RESUMED)


def test_a_failed_automatic_resume_is_retried_until_it_works(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
) -> None:
    request_id = _paused(sender, slack, bot)
    recording_system.fail_next("http_500")
    served.clock.advance(minutes=5)
    card = wait_for_card(slack, "automatic resume failed")
    assert "Recording paused until" in card_text(card)
    request = bot.services.pauses.get(request_id)
    assert request is not None and request.state is RequestState.ACTIVE and request.resume_attempts == 1
    served.clock.advance(seconds=16)
    wait_for_state(bot, request_id, RequestState.RESUMED)
    assert [c["mute"] for c in recording_system.mute_calls()] == ["3", "0", "0"]
    assert audit_rows(bot, "request.resume_failed")


def test_requests_lists_pending_and_active_with_remaining_time(
    sender: SlackSender, slack: SimulatedSlack, served: ServedBot, bot: RecordingBot
) -> None:
    active_id = _paused(sender, slack, bot, "pause 8857 5m first")
    pending_id = _ask(sender, slack, "pause 8856 2m second")
    served.clock.advance(minutes=1)
    sender.command("requests", user=AGENT)
    reply = slack.wait_for_call("response_url", containing="Pending approval")[0]
    assert reply.payload["response_type"] == "ephemeral"
    assert f"#{pending_id}" in reply.rendered and "expires in 9 minutes" in reply.rendered
    assert f"#{active_id}" in reply.rendered and "resumes in 4 minutes" in reply.rendered


def test_no_secret_reaches_logs_audit_or_slack(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
    bot: RecordingBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    request_id = _paused(sender, slack, bot)
    recording_system.fail_next("bad_api_key")
    sender.command("resume 8856", user=AGENT)
    slack.wait_for_call("response_url", containing="tell a bot admin")
    recording_system.fail_next("expired_token")
    served.clock.advance(minutes=5)
    wait_for_state(bot, request_id, RequestState.RESUMED)
    tokens = recording_system.issued_tokens()
    assert tokens
    logged = caplog.text
    audit = "\n".join(f"{r.command} {r.details}" for r in bot.services.audit.recent(500))
    sent = "\n".join(c.rendered + str(c.payload) for c in slack.calls())
    for secret in (*SECRETS, *tokens):
        assert secret not in logged
        assert secret not in audit
        assert secret not in sent
    assert posted_card(slack)
