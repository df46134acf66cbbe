"""`recording-bot users add|remove|list`: bootstrapping the allow-list from a shell."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import _parser
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, BOT_TOKEN, TEAM, ServedBot
from tests.support.cli import run_bot
from tests.support.slack_requests import SlackSender


def _cli(tmp_path: Path, *args: str, process: bool = False, **env: str) -> subprocess.CompletedProcess[str]:
    """`recording-bot users ARGS` on the database in `tmp_path`: in this process unless `process` is set."""
    environment = {"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "bot.db"), **env}
    return run_bot(["users", *args], env=environment, cwd=tmp_path, process=process)


def test_add_list_remove_with_explicit_team(tmp_path: Path) -> None:
    # The one test here that runs the real command as its own process, as an operator's shell does.
    added = _cli(tmp_path, "--team", "T0TEST", "add", "U0LEAD", "approver", process=True)
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


def _audit_rows(tmp_path: Path, *filters: str) -> list[dict[str, str]]:
    result = run_bot(
        ["audit", "--format", "csv", *filters],
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "bot.db")},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_a_change_that_changes_nothing_is_neither_audited_nor_rewritten(tmp_path: Path) -> None:
    first = _cli(tmp_path, "--team", "T0TEST", "add", "U0LEAD", "approver", LOGNAME="alice")
    assert first.returncode == 0, first.stderr
    again = _cli(tmp_path, "--team", "T0TEST", "add", "U0LEAD", "approver", LOGNAME="bob")
    assert again.returncode == 0
    assert again.stdout.strip() == "U0LEAD already is approver in T0TEST; nothing changed"
    (row,) = [r for r in _audit_rows(tmp_path) if r["action"] == "allow_list.changed"]
    assert row["target"] == "U0LEAD" and row["user_id"] == "cli:alice"
    assert "cli:alice" in _cli(tmp_path, "--team", "T0TEST", "list").stdout  # still who really added them

    grouped = _cli(tmp_path, "--team", "T0TEST", "add", "U0LEAD", "approver", "--group", "sales", LOGNAME="bob")
    assert grouped.stdout.strip() == "U0LEAD stays approver; group sales (was -) in T0TEST"
    changes = [r for r in _audit_rows(tmp_path) if r["action"] == "allow_list.changed"]
    assert [r["user_id"] for r in changes] == ["cli:alice", "cli:bob"]


def test_the_cli_names_its_actor_as_the_list_and_the_audit_log_show_it(tmp_path: Path) -> None:
    _cli(tmp_path, "--team", "T0TEST", "add", "U0BOSS", "admin", LOGNAME="ops-carol")
    _cli(tmp_path, "--team", "T0TEST", "add", "U0LEAD", "approver", LOGNAME="ops-carol")
    removed = _cli(tmp_path, "--team", "T0TEST", "remove", "U0LEAD", LOGNAME="ops-dave")
    assert removed.stdout.strip() == "U0LEAD removed (was approver) from T0TEST"
    listing = _cli(tmp_path, "--team", "T0TEST", "list").stdout
    assert "U0BOSS" in listing and "cli:ops-carol" in listing
    rows = [r for r in _audit_rows(tmp_path) if r["action"] == "allow_list.changed"]
    assert [(r["target"], r["user_id"]) for r in rows] == [
        ("U0BOSS", "cli:ops-carol"), ("U0LEAD", "cli:ops-carol"), ("U0LEAD", "cli:ops-dave"),
    ]  # fmt: skip
    assert all(json.loads(r["details"])["by"] == r["user_id"] for r in rows)
    # The audit command finds an actor by the same name.
    assert [r["target"] for r in _audit_rows(tmp_path, "--user", "cli:ops-dave")] == ["U0LEAD"]


def test_team_is_accepted_after_the_action_and_users_may_be_written_with_at(tmp_path: Path) -> None:
    added = _cli(tmp_path, "add", "@u0lead", "approver", "--team", "T0TEST")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "U0LEAD is now approver in T0TEST"
    _cli(tmp_path, "--team", "T0TEST", "add", "<@U0BOSS|boss>", "admin")
    listing = _cli(tmp_path, "list", "--team", "t0test")
    assert "U0LEAD" in listing.stdout and "U0BOSS" in listing.stdout
    # Given on both sides, the one after the action wins, as the last word on a command line does.
    assert "the allow-list of T0NEW is empty" in _cli(tmp_path, "--team", "T0TEST", "list", "--team", "T0NEW").stdout
    assert _cli(tmp_path, "remove", "@U0LEAD", "--team", "T0TEST").returncode == 0


def test_a_near_miss_is_answered_with_the_word_meant(tmp_path: Path) -> None:
    command = _run_bot(tmp_path, "user", "list")
    assert command.returncode == 2
    assert "invalid choice: 'user'; did you mean 'users'?" in command.stderr
    role = _cli(tmp_path, "--team", "T0TEST", "add", "U0LEAD", "aprover")
    assert role.returncode == 2
    assert "did you mean 'approver'?" in role.stderr


def test_bare_command_prints_help_and_exits_2(tmp_path: Path) -> None:
    result = _run_bot(tmp_path)
    assert result.returncode == 2
    assert "usage: recording-bot" in result.stderr and "users" in result.stderr
    assert result.stdout == ""


def test_every_command_and_action_describes_itself_in_its_help() -> None:
    def parsers(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from parsers(child, f"{path} {name}")

    found = dict(parsers(_parser(), "recording-bot"))
    assert {"recording-bot serve", "recording-bot users add", "recording-bot audit", "recording-bot migrate-db"} <= {
        *found
    }
    undescribed = [path for path, parser in found.items() if not (parser.description or "").strip()]
    assert undescribed == []


def _run_bot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A real process: what these tests check is the exit status a shell sees.
    return run_bot(
        args, env={"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "bot.db")}, cwd=tmp_path,
        process=True,
    )  # fmt: skip


@pytest.mark.engines("sqlite")
def test_a_change_on_the_command_line_is_in_the_workspaces_audit_in_slack_with_its_actor_in_words(
    served: ServedBot, sender: SlackSender, slack: SimulatedSlack
) -> None:
    database = served.config.database_path
    added = _cli(database.parent, "--team", TEAM, "add", "U0NEWLEAD", "approver", DATABASE_PATH=str(database))
    assert added.returncode == 0, added.stderr
    sender.command("audit 5", user=ADMIN)
    (reply,) = slack.wait_for_call("response_url", timeout=10)
    line = next(line for line in reply.rendered.splitlines() if "allow_list.changed" in line)
    assert "_cli:" in line and "<@cli:" not in line
