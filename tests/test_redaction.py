"""Secrets in URLs never reach the output: Slack response URLs (they let anyone post into the channel for 30
minutes), credentials written into a configured URL, and credential query parameters — also at DEBUG, where
Slack's libraries log whole payloads."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.redaction import MASK, SecretRedactor
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import BOT_TOKEN, RECORDER_API_KEY, SIGNING_SECRET
from tests.support.pauses import buttons, cards, wait_until
from tests.support.processes import free_port, is_healthy
from tests.support.slack_requests import SlackSender

HOOK = "https://hooks.slack.com/commands/T0TEST/1234567890/zGxQ2Rr9bX1tKqEwQx7hU3pA"
HOOK_SECRET = "zGxQ2Rr9bX1tKqEwQx7hU3pA"
URL_PASSWORD = "SECRET-url-password-41c7"


def _every_spelling(url: str) -> list[str]:
    """A URL as it stands raw, in a JSON string, in a form body and in a form-encoded JSON string."""
    escaped = url.replace("/", "\\/")
    return [url, escaped, quote(url, safe=""), quote(escaped, safe="")]


@pytest.mark.parametrize("spelling", _every_spelling(HOOK))
def test_a_slack_response_url_is_masked_however_it_is_spelled(spelling: str) -> None:
    redactor = SecretRedactor()
    cleaned = redactor(f"Sending a request - url: {spelling}, body: {{'text': 'hello'}}")
    assert HOOK_SECRET not in cleaned and "1234567890" not in cleaned
    assert "hooks.slack.com" in cleaned and MASK in cleaned and "'text': 'hello'" in cleaned


def test_response_urls_of_the_configured_slack_are_masked_but_its_web_api_urls_are_kept() -> None:
    redactor = SecretRedactor()
    redactor.protect_slack_responses("https://slack-gateway.example.com:8443/api/")
    for spelling in _every_spelling("https://slack-gateway.example.com:8443/response/77/Zz9"):
        assert "77" not in redactor(f"body: {spelling} end")
    web_api = "https://slack-gateway.example.com:8443/api/chat.postMessage"
    assert redactor(f"POST {web_api}") == f"POST {web_api}"
    # Another host that merely ends with the same name is not Slack's.
    other = "https://x-slack-gateway.example.com:8443/response/77"
    assert redactor(other) == other


def test_credentials_in_a_url_and_credential_fields_are_masked() -> None:
    redactor = SecretRedactor()
    text = redactor(
        f"GET https://bot:{URL_PASSWORD}@gateway.example.com/api/auth.test and "
        f"https://rec.example.com/verba/api?action=MuteRecording&apiKey=k-123456&token=t-123456&mute=3 and "
        f'token=verification-123456&team_id=T0 and {{"token": "verification-123456", "ok": true}} and '
        f"response_url=https%3A%2F%2Fgateway.example.com%2Fr%2F9 and "
        f"{{'response_url': 'https://gateway.example.com/r/8', 'token': 'verification-123456'}}"
    )
    for secret in (URL_PASSWORD, "k-123456", "t-123456", "verification-123456", "gateway.example.com%2Fr", "/r/8"):
        assert secret not in text
    assert "https://***@gateway.example.com/api/auth.test" in text
    assert "action=MuteRecording" in text and "mute=3" in text and "team_id=T0" in text and '"ok": true' in text


def test_ordinary_text_is_left_alone() -> None:
    text = (
        "pause 8856 5m customer reads a card; see https://acme.slack.com/archives/C0OPS/p1700000000 "
        "and https://slack.com/api/chat.update (monkey=1)"
    )
    assert SecretRedactor()(text) == text
    with_slack = SecretRedactor()
    with_slack.protect_slack_responses("https://slack.com/api/")
    assert with_slack(text) == text


# -- the real server at LOG_LEVEL=DEBUG ----------------------------------------------------------


def _serve_env(tmp_path: Path, slack_api_url: str, recording_system: SimulatedRecordingSystem) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PORT": str(free_port()),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "BOT_ADMINS": "U0ADMIN",
        "MEDIA_REPOSITORY_URL": recording_system.url,
        "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY,
        "LOG_LEVEL": "DEBUG",
    }


def test_no_response_url_reaches_the_debug_log_of_a_command_and_a_click(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    env = _serve_env(tmp_path, slack.api_url, recording_system)
    log_path = tmp_path / "server.log"
    handed_out: list[str] = []

    def response_url() -> str:
        handed_out.append(slack.response_url())
        return handed_out[-1]

    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{env['PORT']}"
        wait_until(lambda: is_healthy(url), timeout=30, what="the server to start")
        sender = SlackSender(base_url=url, signing_secret=SIGNING_SECRET, response_url_factory=response_url)
        sender.command("pause 8856 5m customer reads a card", user="U0ADMIN")
        card = wait_until(lambda: cards(slack), what="the card")[-1]
        # The requester may not approve their own request: the refusal goes back through the click's response URL.
        sender.click("recording_approve", buttons(card)[0]["value"], user="U0ADMIN", message_ts=card["ts"])
        wait_until(lambda: len(slack.calls("response_url")) >= 2, what="both answers through response URLs")
        time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)

    text = log_path.read_text()
    assert len(handed_out) == 2
    assert "DEBUG" in text and "slack_bolt" in text, "Bolt's DEBUG lines were not logged: the test proves nothing"
    for handed in handed_out:
        for spelling in _every_spelling(handed):
            assert spelling not in text
    assert not re.search(r"response(/|\\/|%2F|%5C%2F)\d", text, re.IGNORECASE), "a response URL path was logged"


def _run(args: list[str], env: dict[str, str], cwd: Path, *, timeout: float = 60) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    return done.stdout + done.stderr


def test_credentials_in_slack_api_url_never_appear_in_check_or_serve_output(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    with_credentials = slack.api_url.replace("://", f"://recording-bot:{URL_PASSWORD}@", 1)
    env = _serve_env(tmp_path, with_credentials, recording_system)
    checked = _run(["check"], env, tmp_path)
    assert "Slack" in checked
    served = _run(["serve"], env, tmp_path)
    assert "SLACK_API_URL" in served or "Slack" in served
    for output in (checked, served):
        assert URL_PASSWORD not in output
        assert quote(URL_PASSWORD, safe="") not in output
