"""Logs: one JSON object per line with LOG_FORMAT=json; one request ID ties Slack request, audit and upstream."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import (
    BOT_TOKEN,
    RECORDER_API_KEY,
    RECORDER_PASSWORD,
    RECORDER_USER,
    SECRETS,
    SIGNING_SECRET,
)
from tests.support.pauses import buttons, cards, wait_until
from tests.support.processes import free_port, is_healthy
from tests.support.slack_requests import SlackSender


def test_json_logs_tie_the_click_its_audit_rows_and_the_upstream_call_together(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    port = free_port()
    database = tmp_path / "bot.db"
    log_path = tmp_path / "server.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORT": str(port),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_PATH": str(database),
        "BOT_ADMINS": "U0ADMIN,U0LEAD",
        "MEDIA_REPOSITORY_URL": recording_system.url,
        "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY,
        "MEDIA_REPOSITORY_USERNAME": RECORDER_USER,
        "MEDIA_REPOSITORY_PASSWORD": RECORDER_PASSWORD,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
    }
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: is_healthy(url), timeout=30, what="the server to start")
        sender = SlackSender(base_url=url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
        sender.command("pause 8856 5m customer reads a card", user="U0ADMIN")
        card = wait_until(lambda: cards(slack), what="the card")[-1]
        request_id = buttons(card)[0]["value"]
        sender.click("recording_approve", request_id, user="U0LEAD", message_ts=card["ts"])
        wait_until(lambda: recording_system.mute_calls(), what="the MuteRecording call")
        wait_until(lambda: slack.calls("chat.update"), what="the card update")
        time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "request_id", "message"} <= set(e) for e in entries)

    with sqlite3.connect(database) as db:
        (click_request,) = db.execute("SELECT request_id FROM audit WHERE action = 'click.approve'").fetchone()
        actions = {row[0] for row in db.execute("SELECT action FROM audit WHERE request_id = ?", [click_request])}
    assert {"click.approve", "request.approved", "upstream.mute_recording", "request.active"} <= actions
    tied = [e["message"] for e in entries if e["request_id"] == click_request]
    assert any("Media Repository MuteRecording" in m for m in tied)
    assert any(m.startswith("click approve") for m in tied)
    text = log_path.read_text()
    for secret in (*SECRETS, *recording_system.issued_tokens()):
        assert secret not in text
