"""`recording-bot users add|remove|list`: bootstrapping the allow-list from a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import BOT_TOKEN


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "users", *args],
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "bot.db"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_list_remove_with_explicit_team(tmp_path: Path) -> None:
    added = _cli(tmp_path, "--team", "T0TEST", "add", "U0LEAD", "approver")
    assert added.returncode == 0, added.stderr
    assert "U0LEAD is now approver" in added.stdout
    _cli(tmp_path, "--team", "T0TEST", "add", "U0BOSS", "admin")
    listing = _cli(tmp_path, "--team", "T0TEST", "list")
    assert "U0BOSS" in listing.stdout and "admin" in listing.stdout
    assert "U0LEAD" in listing.stdout and "approver" in listing.stdout
    removed = _cli(tmp_path, "--team", "T0TEST", "remove", "U0LEAD")
    assert removed.returncode == 0
    assert "U0LEAD" not in _cli(tmp_path, "--team", "T0TEST", "list").stdout


def test_last_admin_cannot_be_removed_from_the_command_line(tmp_path: Path) -> None:
    _cli(tmp_path, "--team", "T0TEST", "add", "U0BOSS", "admin")
    refused = _cli(tmp_path, "--team", "T0TEST", "remove", "U0BOSS")
    assert refused.returncode == 1
    assert "last admin" in refused.stderr
    demoted = _cli(tmp_path, "--team", "T0TEST", "add", "U0BOSS", "requester")
    assert demoted.returncode == 1
    assert "U0BOSS" in _cli(tmp_path, "--team", "T0TEST", "list").stdout


def test_team_defaults_to_the_bot_tokens_workspace(tmp_path: Path, slack: SimulatedSlack) -> None:
    result = _cli(tmp_path, "add", "U0LEAD", "approver", SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.api_url)
    assert result.returncode == 0, result.stderr
    assert f"in {slack.team_id}" in result.stdout
    assert slack.calls("auth.test")


def test_bad_user_id_and_missing_team_are_explained(tmp_path: Path) -> None:
    bad = _cli(tmp_path, "--team", "T0TEST", "add", "bob", "admin")
    assert bad.returncode == 2 and "not a Slack user ID" in bad.stderr
    no_team = _cli(tmp_path, "list")
    assert no_team.returncode == 2 and "--team" in no_team.stderr
