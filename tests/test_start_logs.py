"""What `recording-bot serve` logs as it starts: only lines that are true, and no warning about its own wiring."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.app import create_app
from bot.config import Config
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import (
    ADMIN,
    BOT_TOKEN,
    RECORDER_API_KEY,
    RECORDER_PASSWORD,
    RECORDER_USER,
    SIGNING_SECRET,
    TEAM,
)
from tests.support.processes import BotProcess, free_port, procfile_command

BOLT_TOKEN_WARNING = "will be unused"  # Bolt: "As you gave `client` as well, `token` will be unused."


def test_building_the_app_with_the_token_in_the_environment_warns_of_nothing(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As on every deployment: SLACK_BOT_TOKEN is set, and Bolt looks for it by itself.
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    caplog.set_level(logging.INFO)
    bot = create_app(make_config())
    try:
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert not any(BOLT_TOKEN_WARNING in message for message in warned), warned
        # Bolt still answers Slack through the bot's own client (SLACK_API_URL, the retry on 429).
        assert bot.bolt.client.base_url == make_config().slack_api_url
    finally:
        bot.close()


@pytest.fixture(scope="module")
def sqlite_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotProcess, dict[str, str], Path]]:
    """One `recording-bot serve` on an SQLite file, started once for the module."""
    folder = tmp_path_factory.mktemp("start-logs")
    with (
        SimulatedSlack(bot_token=BOT_TOKEN, team_id=TEAM) as slack,
        SimulatedRecordingSystem(
            api_key=RECORDER_API_KEY, username=RECORDER_USER, password=RECORDER_PASSWORD
        ) as recording_system,
    ):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "BOT_ADMINS": ADMIN,
            "MEDIA_REPOSITORY_URL": recording_system.url,
            "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY,
            "MEDIA_REPOSITORY_USERNAME": RECORDER_USER,
            "MEDIA_REPOSITORY_PASSWORD": RECORDER_PASSWORD,
            "DATABASE_PATH": str(folder / "bot.db"),
            "LOG_LEVEL": "INFO",
        }
        first = BotProcess(env={**env, "PORT": str(free_port())}, cwd=folder, log_path=folder / "first.log")
        first.start()
        try:
            yield first, env, folder
        finally:
            first.stop()


def test_serve_starts_without_bolts_token_warning(sqlite_served: tuple[BotProcess, dict[str, str], Path]) -> None:
    first, _env, _folder = sqlite_served
    log = first.log()
    assert "serving on port" in log, log
    assert BOLT_TOKEN_WARNING not in log, log


def test_a_refused_second_sqlite_instance_never_says_it_is_serving(
    sqlite_served: tuple[BotProcess, dict[str, str], Path],
) -> None:
    _first, env, folder = sqlite_served
    second = subprocess.run(
        procfile_command(), env={**env, "PORT": str(free_port())}, cwd=folder,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    output = second.stdout + second.stderr
    assert second.returncode != 0
    assert "cannot start" in output and "another recording-bot instance is already serving" in output, output
    assert "serving on port" not in output, output
    assert BOLT_TOKEN_WARNING not in output, output
