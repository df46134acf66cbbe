"""Requests into /slack/events must carry Slack's signature; anything else gets 401 and changes nothing."""

from __future__ import annotations

import time

from bot.app import RecordingBot
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN
from tests.support.slack_requests import SlackSender, slack_signature


def _nothing_happened(slack: SimulatedSlack, bot: RecordingBot) -> None:
    time.sleep(0.3)  # give a wrongly accepted request time to show itself
    assert slack.calls("response_url") == []
    assert slack.calls("chat.postMessage") == []
    assert bot.services.audit.recent(50) == [] or all(
        r.action == "allow_list.changed" for r in bot.services.audit.recent(50)
    )


def test_bad_signature_is_rejected_and_nothing_recorded(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    body = sender.command_body("help", user=ADMIN)
    ts = str(int(time.time()))
    response = sender.post(body, timestamp=ts, signature=slack_signature("not-the-secret", ts, body))
    assert response.status_code == 401
    _nothing_happened(slack, bot)


def test_stale_timestamp_is_rejected(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> None:
    stale = str(int(time.time()) - 6 * 60)
    response = sender.command("help", user=ADMIN, timestamp=stale)  # correctly signed, but old
    assert response.status_code == 401
    _nothing_happened(slack, bot)


def test_missing_signature_headers_are_rejected(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> None:
    body = sender.command_body("help", user=ADMIN)
    response = sender.http.post(
        sender.base_url + "/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 401
    _nothing_happened(slack, bot)


def test_valid_signature_replayed_with_another_body_is_rejected(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    original = sender.command_body("help", user=ADMIN)
    ts = str(int(time.time()))
    signature = slack_signature(sender.signing_secret, ts, original)
    tampered = sender.command_body("allow <@U0EVIL> admin", user=ADMIN)
    response = sender.post(tampered, timestamp=ts, signature=signature)
    assert response.status_code == 401
    _nothing_happened(slack, bot)


def test_correctly_signed_command_is_acknowledged(sender: SlackSender, slack: SimulatedSlack) -> None:
    response = sender.command("help", user=ADMIN)
    assert response.status_code == 200
    slack.wait_for_call("response_url", containing="/recording pause")
