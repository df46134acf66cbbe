"""A storm of Approve clicks and Slack-style retries on one request: one pause upstream, every loser told who won."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.app import RecordingBot
from bot.models import RequestState
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import AGENT, LEAD, LEAD2
from tests.support.pauses import audit_rows, buttons, posted_card, wait_for_card, wait_for_state, wait_until
from tests.support.slack_requests import SlackSender, slack_signature

pytestmark = pytest.mark.usefixtures("roles")

CLICKS = 50
RETRIES = 10
ACK_SECONDS = 3.0


def _response_path(body: bytes) -> str:
    return urlsplit(str(json.loads(parse_qs(body.decode())["payload"][0])["response_url"])).path


def test_fifty_concurrent_approvals_and_slack_retries_make_exactly_one_mute_and_every_loser_is_told_who_decided(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, bot: RecordingBot
) -> None:
    assert sender.command("pause 8856 5m customer is reading out a card number", user=AGENT).status_code == 200
    card = posted_card(slack)
    request_id = int(buttons(card)[0]["value"])

    # Each click is its own signed request with its own response_url, as Slack sends them.
    timestamp = str(int(time.time()))
    clicks = [
        sender.click_body("recording_approve", str(request_id), user=(LEAD, LEAD2)[i % 2], message_ts=card["ts"])
        for i in range(CLICKS)
    ]
    signed: list[tuple[bytes, str, str, dict[str, str]]] = [
        (body, timestamp, slack_signature(sender.signing_secret, timestamp, body), {}) for body in clicks
    ]
    # Slack-style retries: the very same signed bytes again, marked as a retry after an HTTP timeout.
    retry_headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    signed += [(body, ts, signature, retry_headers) for body, ts, signature, _ in signed[:RETRIES]]

    start = threading.Barrier(len(signed))
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def click(body: bytes, ts: str, signature: str, headers: dict[str, str]) -> None:
        start.wait(timeout=10)
        began = time.perf_counter()
        status = sender.post(body, timestamp=ts, signature=signature, headers=headers).status_code
        with lock:
            results.append((status, time.perf_counter() - began))

    threads = [threading.Thread(target=click, args=args) for args in signed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == len(signed)
    assert [status for status, _ in results] == [200] * len(signed)
    slowest = max(elapsed for _, elapsed in results)
    assert slowest < ACK_SECONDS, f"slowest ack took {slowest:.2f}s"

    request = wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert request.decided_by in (LEAD, LEAD2)
    # Exactly one MuteRecording reached the recording system.
    wait_for_card(slack, "Recording paused until")
    assert [(c["extension"], c["mute"]) for c in recording_system.mute_calls()] == [("8856", "3")]

    # Every other click (retries included) got a private note naming who decided; the winner got none.
    losers = slack.wait_for_call("response_url", containing="already approved by", count=len(signed) - 1, timeout=15)
    assert len(losers) == len(signed) - 1
    for loser in losers:
        assert loser.payload["response_type"] == "ephemeral"
        assert loser.payload.get("replace_original") is False
        assert f"<@{request.decided_by}>" in loser.rendered
    # Per response URL: one reply per request sent with it (a click, and its retry if any), minus the winner's.
    sent = [_response_path(body) for body, *_ in signed]
    replied = [r.path for r in slack.requests if r.path in set(sent)]
    assert all(replied.count(path) <= sent.count(path) for path in set(sent))
    assert len(replied) == len(sent) - 1

    # One approval on record, one upstream call, one state change to active.
    wait_until(lambda: len(audit_rows(bot, "click.approve")) == len(signed), what="every click to be audited")
    assert len([r for r in audit_rows(bot, "click.approve") if r.outcome == "ok"]) == 1
    assert len(audit_rows(bot, "request.approved")) == 1
    assert len(audit_rows(bot, "upstream.mute_recording")) == 1
    assert len(audit_rows(bot, "request.active")) == 1
    time.sleep(0.3)  # a straggler would show up now
    assert len(recording_system.mute_calls()) == 1
