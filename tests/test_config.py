"""Configuration: names, defaults, and one readable line for each mistake, never echoing a secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Config, ConfigurationError, load_config


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("SLACK_", "MEDIA_REPOSITORY_", "WEBEX_", "BOT_", "DATABASE_", "PORT")):
            monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    _env(monkeypatch)
    config = load_config()
    assert config.port == 3000
    assert config.database_path == Path("recording-bot.db")
    assert config.slack_api_url == "https://slack.com/api/"
    assert config.bot_admins == ()
    assert config.default_pause_minutes == 10
    assert config.max_pause_minutes == 30
    assert config.approval_timeout_minutes == 10
    assert config.media_repository_timeout_seconds == 10
    assert config.webex_api_url == "https://webexapis.com/v1"


def test_environment_names_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    _env(
        monkeypatch,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="abc",
        SLACK_APP_TOKEN="xapp-1",
        SLACK_API_URL="http://127.0.0.1:9/api",
        DATABASE_PATH="/data/bot.db",
        BOT_ADMINS="U012ABCDEF, U034GHIJKL",
        PORT="8080",
    )
    config = load_config()
    assert config.slack_bot_token is not None and config.slack_bot_token.get_secret_value() == "xoxb-1"
    assert config.slack_api_url == "http://127.0.0.1:9/api/"
    assert config.database_path == Path("/data/bot.db")
    assert config.bot_admins == ("U012ABCDEF", "U034GHIJKL")
    assert config.port == 8080
    config.require_slack(socket_mode=True)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "eighty", "PORT is invalid"),
        ("PORT", "70000", "PORT is invalid"),
        ("BOT_ADMINS", "alice", "BOT_ADMINS is invalid ('alice' is not a Slack user ID)"),
        ("SLACK_API_URL", "slack.com", "SLACK_API_URL is invalid"),
    ],
)
def test_malformed_variable_gives_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _env(monkeypatch, **{name: value})
    with pytest.raises(ConfigurationError) as error:
        load_config()
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_missing_slack_credentials_are_named() -> None:
    with pytest.raises(ConfigurationError, match=r"^SLACK_BOT_TOKEN is not set"):
        Config(_env_file=None).require_slack()  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match=r"^SLACK_SIGNING_SECRET is not set"):
        Config(_env_file=None, slack_bot_token="xoxb-1").require_slack()  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match=r"^SLACK_APP_TOKEN is not set"):
        Config(_env_file=None, slack_bot_token="xoxb-1").require_slack(socket_mode=True)  # type: ignore[call-arg]


def test_wrong_token_kind_is_named_without_echoing_it() -> None:
    config = Config(_env_file=None, slack_bot_token="xapp-TOPSECRET", slack_signing_secret="s")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError) as error:
        config.require_slack()
    assert "SLACK_BOT_TOKEN does not start with 'xoxb-'" in str(error.value)
    assert "TOPSECRET" not in str(error.value)


def test_serve_with_bad_configuration_exits_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env={"PATH": "/usr/bin:/bin", "PORT": "not-a-port", "SLACK_BOT_TOKEN": "xoxb-SECRETVALUE"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PORT" in lines[0]
    assert "SECRETVALUE" not in result.stderr + result.stdout
