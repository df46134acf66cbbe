"""Configuration: names, defaults, and one readable line for each mistake, never echoing a secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Config, ConfigurationError, load_config
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import BOT_TOKEN
from tests.support.cli import run_bot


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
    # Every problem at once, one line each: the malformed PORT and the missing signing secret.
    assert len(lines) == 2
    assert "PORT" in lines[0] and "SLACK_SIGNING_SECRET is not set" in lines[1]
    assert "SECRETVALUE" not in result.stderr + result.stdout


def _run(tmp_path: Path, *args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`recording-bot ARGS` in this process (tests/support/cli.py); the test above runs the real process."""
    return run_bot(args, env={"PATH": "/usr/bin:/bin", **env}, cwd=tmp_path, stdin=stdin)


# Two malformed values, a half-set pair and a missing secret: every command that needs them says all four.
BROKEN = {
    "APPROVAL_TIMEOUT_MINUTES": "soon",
    "MEDIA_REPOSITORY_TIMEOUT_SECONDS": "0",
    "MEDIA_REPOSITORY_URL": "http://127.0.0.1:9",
    "MEDIA_REPOSITORY_API_KEY": "Wombat-key-value",
    "MEDIA_REPOSITORY_USERNAME": "bot",
    "SLACK_BOT_TOKEN": "xoxb-Wombat-token",
    "SLACK_APP_TOKEN": "xapp-Wombat-app",
}


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["serve"], ["MEDIA_REPOSITORY_TIMEOUT_SECONDS", "APPROVAL_TIMEOUT_MINUTES", "SLACK_SIGNING_SECRET",
                     "MEDIA_REPOSITORY_PASSWORD"]),
        (["socket"], ["MEDIA_REPOSITORY_TIMEOUT_SECONDS", "APPROVAL_TIMEOUT_MINUTES", "MEDIA_REPOSITORY_PASSWORD"]),
        (["console", "--as", "U0OPS", "--team", "T0OPS"],
         ["MEDIA_REPOSITORY_TIMEOUT_SECONDS", "APPROVAL_TIMEOUT_MINUTES", "MEDIA_REPOSITORY_PASSWORD"]),
        # A malformed value stops `check` before its report: it names every other problem too.
        (["check"], ["MEDIA_REPOSITORY_TIMEOUT_SECONDS", "APPROVAL_TIMEOUT_MINUTES", "SLACK_SIGNING_SECRET",
                     "MEDIA_REPOSITORY_PASSWORD"]),
        (["users", "list", "--team", "T0OPS"],
         ["MEDIA_REPOSITORY_TIMEOUT_SECONDS", "APPROVAL_TIMEOUT_MINUTES", "MEDIA_REPOSITORY_PASSWORD"]),
    ],
)  # fmt: skip
def test_every_configuration_problem_is_one_line_in_every_command(
    tmp_path: Path, command: list[str], expected: list[str]
) -> None:
    result = _run(tmp_path, *command, env=BROKEN)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert [line.removeprefix("recording-bot: configuration error: ").split(" ")[0] for line in lines] == expected
    assert all(line.startswith("recording-bot: configuration error: ") for line in lines)
    assert "APPROVAL_TIMEOUT_MINUTES is invalid (not a number): minutes a pause request waits" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert "Wombat" not in result.stderr


def test_demo_console_reads_no_environment(tmp_path: Path) -> None:
    # A malformed value and a production database in the environment: the demo uses neither.
    env = {"APPROVAL_TIMEOUT_MINUTES": "soon", "DATABASE_URL": "postgresql://bot:SECRET@127.0.0.1:9/prod"}
    result = _run(tmp_path, "console", "--demo", "-c", "whoami; quit", env=env)
    assert result.returncode == 0, result.stderr
    assert "you are U0DEMOADMIN (admin)" in result.stdout
    assert "Traceback" not in result.stderr and "SECRET" not in result.stdout + result.stderr


def test_serve_with_slack_unreachable_exits_with_one_line_before_the_server_starts(tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-Wombat-token", "SLACK_SIGNING_SECRET": "s" * 32, "PORT": "9",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "DATABASE_PATH": str(tmp_path / "bot.db")}  # fmt: skip
    result = _run(tmp_path, "serve", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "recording-bot: configuration error: Slack: cannot reach http://127.0.0.1:9/api/ (URLError): "
        "check outbound HTTPS from this host, or SLACK_API_URL"
    ]
    assert result.stdout == ""


def test_socket_mode_with_a_refused_app_token_exits_with_one_line(tmp_path: Path, slack: SimulatedSlack) -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-Wombat-refused", "SLACK_API_URL": slack.api_url,
           "DATABASE_PATH": str(tmp_path / "bot.db")}  # fmt: skip
    result = _run(tmp_path, "socket", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "recording-bot: configuration error: Slack Socket Mode: apps.connections.open refused the app-level token "
        "(invalid_auth): create an app-level token with connections:write (Basic Information → App-Level Tokens), "
        "turn Socket Mode on, and put the token in SLACK_APP_TOKEN"
    ]
    assert slack.calls("apps.connections.open")
    assert result.stdout == ""
