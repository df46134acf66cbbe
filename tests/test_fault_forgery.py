"""Forged, stale, replayed and cross-workspace requests: refused before anything happens.

"Nothing happens" is checked where it would show: no call at the Slack simulator (after start-up's
auth.test), no audit row for a command or click, no pause request stored, nothing at the recording system.
"""

from __future__ import annotations

import time

import pytest

from bot.app import RecordingBot
from bot.models import RequestState
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, AGENT, LEAD
from tests.support.pauses import audit_rows, buttons, posted_card, wait_until
from tests.support.slack_requests import TEAM, SlackSender, slack_signature

pytestmark = pytest.mark.usefixtures("roles")

PAUSE = "pause 8856 5m customer is reading out a card number"
FIVE_MINUTES = 5 * 60


def _pause_request_count(bot: RecordingBot) -> int:
    row = bot.database.one("SELECT count(*) AS n FROM pause_requests")
    assert row is not None
    return int(row["n"])


def _slack_calls_after_startup(slack: SimulatedSlack) -> list[str]:
    return [c.method for c in slack.calls() if c.method != "auth.test"]


def _settled(sender: SlackSender, slack: SimulatedSlack) -> None:
    """Let anything a forged request might have started show itself: a genuine command sent after the
    forgeries is answered, and then a short bounded pause more."""
    before = len(slack.calls("response_url"))
    assert sender.command("help", user=AGENT).status_code == 200
    slack.wait_for_call("response_url", count=before + 1)
    time.sleep(0.2)


def _forgeries(sender: SlackSender, body: bytes, other_body: bytes) -> dict[str, dict[str, object]]:
    """Ways to send `body` that Slack never would; each value is `sender.post` keyword arguments."""
    now = int(time.time())
    good_now = slack_signature(sender.signing_secret, str(now), body)
    stale = str(now - FIVE_MINUTES - 10)
    future = str(now + FIVE_MINUTES + 10)
    return {
        "wrong_secret": {"signature": slack_signature("not-the-signing-secret", str(now), body)},
        "garbage_signature": {"signature": "v0=" + "f" * 64},
        "v1_signature": {"signature": good_now.replace("v0=", "v1=")},
        "empty_signature": {"signature": ""},
        "stale_timestamp": {"timestamp": stale, "signature": slack_signature(sender.signing_secret, stale, body)},
        "future_timestamp": {"timestamp": future, "signature": slack_signature(sender.signing_secret, future, body)},
        "non_numeric_timestamp": {
            "timestamp": "yesterday", "signature": slack_signature(sender.signing_secret, "yesterday", body),
        },
        "signature_of_another_body": {
            "timestamp": str(now), "signature": slack_signature(sender.signing_secret, str(now), other_body),
        },
        "signature_for_another_timestamp": {"timestamp": str(now - 1), "signature": good_now},
    }  # fmt: skip


def _without_headers(sender: SlackSender, body: bytes, drop: tuple[str, ...]) -> int:
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(sender.signing_secret, ts, body),
    }
    for name in drop:
        headers.pop(name)
    return sender.http.post(sender.base_url + "/slack/events", content=body, headers=headers).status_code


MISSING = {
    "no_signing_headers": ("X-Slack-Request-Timestamp", "X-Slack-Signature"),
    "no_signature": ("X-Slack-Signature",),
    "no_timestamp": ("X-Slack-Request-Timestamp",),
}


def _send_every_forgery(sender: SlackSender, body: bytes, other_body: bytes) -> dict[str, int]:
    """Send `body` every way Slack never would; return each way's HTTP status."""
    statuses = {
        name: sender.post(body, **kwargs).status_code  # type: ignore[arg-type]
        for name, kwargs in _forgeries(sender, body, other_body).items()
    }
    statuses.update({name: _without_headers(sender, body, drop) for name, drop in MISSING.items()})
    return statuses


def _all_refused(statuses: dict[str, int]) -> dict[str, int]:
    return {name: 401 for name in statuses}


# -- slash commands --------------------------------------------------------------------------------


def test_forged_stale_future_and_unsigned_pause_commands_are_401_and_leave_no_trace(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    body = sender.command_body(PAUSE, user=AGENT)
    statuses = _send_every_forgery(sender, body, sender.command_body("help", user=AGENT))
    assert statuses == _all_refused(statuses)
    _settled(sender, slack)
    assert _slack_calls_after_startup(slack) == ["response_url"]  # only the genuine help's reply
    commands = [r.action for r in bot.services.audit.recent(500) if r.action.startswith("command.")]
    assert commands == ["command.help"]
    assert _pause_request_count(bot) == 0
    assert recording_system.requests == []


def test_forged_admin_commands_change_no_role(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> None:
    # The forged body makes a stranger an admin; the "other body" signatures are for an innocent `help`.
    body = sender.command_body("allow <@U0EVIL> admin", user=ADMIN)
    statuses = _send_every_forgery(sender, body, sender.command_body("help", user=ADMIN))
    assert statuses == _all_refused(statuses)
    _settled(sender, slack)
    assert bot.services.authorizer.role_of_user(TEAM, "U0EVIL") is None
    assert audit_rows(bot, "command.allow") == []
    assert "U0EVIL" not in [r.target for r in audit_rows(bot, "allow_list.changed")]


def test_a_correctly_signed_command_replayed_within_five_minutes_with_another_body_is_refused(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    # A captured genuine request: accepted once.
    genuine = sender.command_body("requests", user=AGENT)
    ts = str(int(time.time()))
    signature = slack_signature(sender.signing_secret, ts, genuine)
    assert sender.post(genuine, timestamp=ts, signature=signature).status_code == 200
    slack.wait_for_call("response_url", containing="No pending requests")
    # The same headers on a body asking for a pause: refused, nothing stored, nothing upstream.
    assert sender.post(sender.command_body(PAUSE, user=AGENT), timestamp=ts, signature=signature).status_code == 401
    _settled(sender, slack)
    assert audit_rows(bot, "command.pause") == []
    assert _pause_request_count(bot) == 0
    assert slack.calls("chat.postMessage") == []
    assert recording_system.requests == []


# -- button clicks ---------------------------------------------------------------------------------


@pytest.fixture
def pending(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> tuple[int, str]:
    """A real pending request and the ts of its card; the Slack calls it took are forgotten."""
    assert sender.command(PAUSE, user=AGENT).status_code == 200
    card = posted_card(slack)
    slack.wait_for_call("response_url", containing="waiting for an approver")
    wait_until(lambda: audit_rows(bot, "command.pause"), what="the pause command to be audited")
    slack.clear()
    return int(buttons(card)[0]["value"]), str(card["ts"])


def _assert_click_had_no_effect(
    slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot, request_id: int, card_ts: str
) -> None:
    request = bot.services.pauses.get(request_id)
    assert request is not None and request.state is RequestState.PENDING and request.decided_by is None
    assert slack.calls("chat.update") == []
    assert slack.calls("chat.postMessage") == []
    assert recording_system.requests == []
    card = slack.message(request.channel_id, card_ts)
    assert card is not None and [b["action_id"] for b in buttons(card)] == ["recording_approve", "recording_deny"]


@pytest.mark.parametrize("action", ["recording_approve", "recording_deny"])
def test_forged_stale_future_and_unsigned_clicks_on_a_real_card_are_401_and_change_nothing(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    bot: RecordingBot,
    pending: tuple[int, str],
    action: str,
) -> None:
    request_id, card_ts = pending
    body = sender.click_body(action, str(request_id), user=LEAD, message_ts=card_ts)
    opposite = "recording_deny" if action == "recording_approve" else "recording_approve"
    statuses = _send_every_forgery(sender, body, sender.click_body(opposite, str(request_id), user=LEAD,
                                                                   message_ts=card_ts))  # fmt: skip
    assert statuses == _all_refused(statuses)
    _settled(sender, slack)
    _assert_click_had_no_effect(slack, recording_system, bot, request_id, card_ts)
    assert [r.action for r in bot.services.audit.recent(500) if r.action.startswith("click.")] == []
    (help_reply,) = slack.calls("response_url")  # only the genuine help's reply
    assert help_reply.text.startswith("recording-bot commands")


@pytest.mark.parametrize("clicker", [LEAD, ADMIN], ids=["lead_id", "admin_id"])
def test_a_correctly_signed_click_from_another_workspace_is_refused_privately_and_changes_nothing(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    bot: RecordingBot,
    pending: tuple[int, str],
    clicker: str,
) -> None:
    # The same user ID as a real lead or admin, but in another workspace: a different person.
    request_id, card_ts = pending
    started = time.perf_counter()
    response = sender.click("recording_approve", str(request_id), user=clicker, team="T0OTHER", message_ts=card_ts)
    assert response.status_code == 200
    assert time.perf_counter() - started < 3
    (refusal,) = slack.wait_for_call("response_url", containing="allow-list")
    assert refusal.payload["response_type"] == "ephemeral"
    assert refusal.payload.get("replace_original") is False
    _assert_click_had_no_effect(slack, recording_system, bot, request_id, card_ts)
    refused = wait_until(lambda: audit_rows(bot, "click.approve"), what="the refusal to be audited")
    assert [(r.outcome, r.team_id, r.user_id) for r in refused] == [("refused", "T0OTHER", clicker)]
    # The real lead can still decide.
    sender.click("recording_approve", str(request_id), user=LEAD, message_ts=card_ts)
    wait_until(lambda: len(recording_system.mute_calls()) == 1, what="the genuine approval to pause the call")
