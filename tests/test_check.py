"""`recording-bot check`: one line per dependency, the fix for each failure, exit 0 only when all pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import DEFAULT_ACCESS_TOKEN, SimulatedWebex
from tests.conftest import BOT_TOKEN, RECORDER_API_KEY, RECORDER_PASSWORD, RECORDER_USER, SIGNING_SECRET


def _env(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "MEDIA_REPOSITORY_URL": recording_system.url,
        "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY,
        "MEDIA_REPOSITORY_USERNAME": RECORDER_USER,
        "MEDIA_REPOSITORY_PASSWORD": RECORDER_PASSWORD,
        "WEBEX_API_URL": webex.base_url,
        "WEBEX_ACCESS_TOKEN": DEFAULT_ACCESS_TOKEN,
    }


def _check(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "check"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line[2:].startswith(name + ":"))


def test_everything_reachable_passes_with_one_line_each(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    result = _check(_env(tmp_path, slack, recording_system, webex), tmp_path)
    assert result.returncode == 0, result.stdout
    for name in ("configuration", "database", "Slack", "recording system", "Webex"):
        assert _line(result.stdout, name).startswith("✓"), name
    assert "T0TEST" in _line(result.stdout, "Slack")
    assert "5 of 6 checks passed; 1 not verified (–)" in result.stdout
    assert _line(result.stdout, "audit chain").startswith("–")  # never verified: not counted as passed
    assert [r.path for r in slack.requests] == ["/api/auth.test"]
    assert len(recording_system.token_requests()) == 1  # credentials really tried
    assert webex.list_requests()


def test_each_failure_names_its_fix_and_exits_1_without_printing_secrets(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    env["SLACK_BOT_TOKEN"] = "xoxb-SECRET-wrong-token"
    env["MEDIA_REPOSITORY_PASSWORD"] = "SECRET-wrong-password"
    webex.expire_access_token()
    result = _check(env, tmp_path)
    assert result.returncode == 1
    assert _line(result.stdout, "Slack").startswith("✗") and "invalid_auth" in result.stdout
    assert "fix: reinstall the app" in result.stdout
    assert _line(result.stdout, "recording system").startswith("✗")
    assert "fix: check MEDIA_REPOSITORY_API_KEY" in result.stdout
    assert _line(result.stdout, "Webex").startswith("✗") and "fix: renew WEBEX_ACCESS_TOKEN" in result.stdout
    assert _line(result.stdout, "database").startswith("✓")
    for secret in ("xoxb-SECRET-wrong-token", "SECRET-wrong-password", RECORDER_API_KEY, DEFAULT_ACCESS_TOKEN):
        assert secret not in result.stdout + result.stderr


def test_unreachable_upstreams_and_missing_configuration_are_reported(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    env["MEDIA_REPOSITORY_URL"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    del env["WEBEX_ACCESS_TOKEN"]
    env["DATABASE_PATH"] = "/nonexistent-dir/bot.db"
    result = _check(env, tmp_path)
    assert result.returncode == 1
    assert _line(result.stdout, "recording system").startswith("✗")
    assert "check MEDIA_REPOSITORY_URL" in result.stdout
    assert _line(result.stdout, "Webex").startswith("–")  # not configured: skipped, not failed
    assert _line(result.stdout, "database").startswith("✗")
    assert "persistent volume" in result.stdout


def test_missing_signing_secret_fails_the_configuration_check(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    del env["SLACK_SIGNING_SECRET"]
    result = _check(env, tmp_path)
    assert result.returncode == 1
    assert "SLACK_SIGNING_SECRET is not set" in _line(result.stdout, "configuration")
