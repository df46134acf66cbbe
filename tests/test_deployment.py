"""What a PaaS runs: the Procfile's command serves HTTP on $PORT; the manifests create the Slack app."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.action_ids import PAUSE_SHORTCUT
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, BOT_TOKEN, SIGNING_SECRET
from tests.support import web
from tests.support.pauses import wait_until
from tests.support.processes import ROOT, free_port, is_healthy, procfile_command
from tests.support.slack_requests import SlackSender


@pytest.fixture
def server(tmp_path: Path, slack: SimulatedSlack) -> Iterator[str]:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(port),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "BOT_ADMINS": ADMIN,
    }
    process = subprocess.Popen(
        procfile_command(), env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: is_healthy(url), timeout=30, what="the server to start")
    except AssertionError:
        process.kill()
        raise AssertionError(process.stdout.read().decode() if process.stdout else "server did not start") from None
    yield url
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_procfile_command_serves_healthz_and_slack_commands_on_port(server: str, slack: SimulatedSlack) -> None:
    health = web.get(server + "/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    sender = SlackSender(base_url=server, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    started = time.perf_counter()
    response = sender.command("help", user=ADMIN)
    assert response.status_code == 200
    assert time.perf_counter() - started < 3
    slack.wait_for_call("response_url", containing="/recording pause", timeout=10)
    bad = sender.command("help", user=ADMIN, signature="v0=" + "0" * 64)
    assert bad.status_code == 401


def test_procfile_runs_a_production_server() -> None:
    assert (ROOT / "Procfile").read_text().strip() == "web: recording-bot serve"
    import bot.cli.serve as cli

    source = Path(cli.__file__).read_text()
    assert "gunicorn" in source and "config.port" in source


@pytest.mark.parametrize("name", ["manifest.yaml", "manifest-socket.yaml"])
def test_manifest_creates_the_slash_command_with_escaping_and_scopes(name: str) -> None:
    manifest = yaml.safe_load((ROOT / "manifests" / name).read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/recording"
    assert command["should_escape"] is True
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands", "chat:write", "chat:write.public", "im:write",
        # users.info with the e-mail address, to find the Webex extension `me` means.
        "users:read", "users:read.email",
        # The daily digest's files, and its channel read back for the anchored chain heads.
        "files:write", "channels:history", "groups:history",
    }  # fmt: skip
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    (shortcut,) = manifest["features"]["shortcuts"]
    assert shortcut["type"] == "global" and shortcut["callback_id"] == PAUSE_SHORTCUT
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["bot_events"] == ["app_home_opened"]
    if name == "manifest.yaml":
        assert command["url"] == "https://YOUR-HOST/slack/events"
        assert manifest["settings"]["interactivity"]["request_url"] == "https://YOUR-HOST/slack/events"
        assert events["request_url"] == "https://YOUR-HOST/slack/events"
        assert manifest["settings"]["socket_mode_enabled"] is False
    else:
        assert manifest["settings"]["socket_mode_enabled"] is True
        assert "url" not in command and "request_url" not in events
