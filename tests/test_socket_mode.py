"""`recording-bot socket`: the same app over Socket Mode, against a simulated Socket Mode WebSocket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, BOT_TOKEN
from tests.support.socket_mode import SimulatedSocketMode

APP_TOKEN = "xapp-SECRET-app-token-77c1"


@pytest.fixture
def socket_mode() -> Iterator[SimulatedSocketMode]:
    with SimulatedSocketMode() as simulated:
        yield simulated


def test_socket_mode_answers_a_slash_command_without_a_public_url(
    tmp_path: Path, slack: SimulatedSlack, socket_mode: SimulatedSocketMode
) -> None:
    slack.app_token = APP_TOKEN
    slack.socket_mode_url = socket_mode.url
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "BOT_ADMINS": ADMIN,
    }
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "socket"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        socket_mode.wait_for_connection(timeout=20)
        opened = slack.calls("apps.connections.open")
        assert opened and opened[0].method == "apps.connections.open"
        command = dict(parse_qsl(
            f"team_id={slack.team_id}&channel_id=C0OPS&user_id={ADMIN}&command=%2Frecording&text=help"
            f"&response_url={slack.response_url()}&trigger_id=1.2.3&api_app_id=A0TEST"
        ))  # fmt: skip
        envelope_id = socket_mode.send_envelope("slash_commands", command)
        socket_mode.wait_for_ack(envelope_id)  # acknowledged over the socket
        reply = slack.wait_for_call("response_url", containing="/recording pause", timeout=10)[0]
        assert reply.payload["response_type"] == "ephemeral"
    finally:
        bot.send_signal(signal.SIGINT)
        try:
            bot.wait(timeout=10)
        except subprocess.TimeoutExpired:
            bot.kill()
        output = bot.stdout.read().decode() if bot.stdout else ""
    assert APP_TOKEN not in output and BOT_TOKEN not in output


def test_socket_mode_without_an_app_token_says_what_to_set(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "socket"],
        env={"PATH": os.environ.get("PATH", ""), "SLACK_BOT_TOKEN": BOT_TOKEN, "DATABASE_PATH": str(tmp_path / "b.db")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN is not set" in result.stderr
