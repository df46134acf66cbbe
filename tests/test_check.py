"""`recording-bot check`: one line per dependency, the fix for each failure, exit 0 only when all pass."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import DEFAULT_ACCESS_TOKEN, SimulatedWebex
from tests.conftest import BOT_TOKEN, RECORDER_API_KEY, RECORDER_PASSWORD, RECORDER_USER, SIGNING_SECRET
from tests.support.cli import run_bot


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


def _check(env: dict[str, str], cwd: Path, *args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """`recording-bot check ARGS`: in this process unless `process` is set (see tests/support/cli.py)."""
    return run_bot(["check", *args], env=env, cwd=cwd, process=process)


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line[2:].startswith(name + ":"))


def _assert_only_the_report(result: subprocess.CompletedProcess[str]) -> None:
    """Nothing but report lines: no library log line, no traceback, nothing on stderr."""
    assert result.stderr == ""
    for line in result.stdout.splitlines():
        assert not line or line[0] in "✓✗–" or line.startswith("    fix: ") or " passed (✓), " in line, line


PROBE_CALL_ID = "00000000-0000-0000-0000-000000000000"


def test_everything_reachable_passes_with_one_line_each(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    # The real command as its own process; the other tests here run it in this one.
    result = _check(_env(tmp_path, slack, recording_system, webex), tmp_path, process=True)
    assert result.returncode == 0, result.stdout
    for name in ("configuration", "database", "Slack", "recording system", "Webex"):
        assert _line(result.stdout, name).startswith("✓"), name
    assert "T0TEST" in _line(result.stdout, "Slack")
    # What nothing proved is shown, and not counted as passed.
    assert _line(result.stdout, "audit chain").startswith("–")
    assert _line(result.stdout, "Slack signing secret").startswith("– Slack signing secret: not verified")
    assert result.stdout.rstrip().endswith("5 passed (✓), 0 failed (✗), 2 not verified (–); nothing failed, but only "
                                           "the passed checks are proven")  # fmt: skip
    assert [r.path for r in slack.requests] == ["/api/auth.test"]
    assert len(recording_system.token_requests()) == 1  # credentials really tried
    # ... and used: one harmless resume for a call ID no call has, which changes nothing.
    assert [(c["callID"], c["mute"]) for c in recording_system.mute_calls()] == [(PROBE_CALL_ID, "0")]
    assert all(recording_system.mute_state(call_id) == 0 for call_id in recording_system.ongoing_calls())
    assert webex.list_requests()
    _assert_only_the_report(result)


def test_key_only_mode_passes_only_once_the_recording_system_accepted_the_key(
    tmp_path: Path, slack: SimulatedSlack, webex: SimulatedWebex
) -> None:
    with SimulatedRecordingSystem(api_key=RECORDER_API_KEY) as key_only:
        env = _env(tmp_path, slack, key_only, webex)
        del env["MEDIA_REPOSITORY_USERNAME"], env["MEDIA_REPOSITORY_PASSWORD"]
        accepted = _check(env, tmp_path)
        assert accepted.returncode == 0, accepted.stdout
        assert _line(accepted.stdout, "recording system").startswith(
            "✓ recording system: key-only mode; the API key is accepted from this host"
        )
        assert [(c["callID"], c["mute"], "token" in c) for c in key_only.mute_calls()] == [(PROBE_CALL_ID, "0", False)]
        assert key_only.token_requests() == []

        env["MEDIA_REPOSITORY_API_KEY"] = "SECRET-a-revoked-key"
        refused = _check(env, tmp_path)
        assert refused.returncode == 1
        line = _line(refused.stdout, "recording system")
        assert line.startswith("✗ recording system: did not accept the bot's API key or the address it calls from")
        assert "fix: check MEDIA_REPOSITORY_API_KEY" in refused.stdout
        assert "SECRET-a-revoked-key" not in refused.stdout + refused.stderr

        key_only.fail_next("address_not_allowed")
        elsewhere = _check({**env, "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY}, tmp_path)
        assert elsewhere.returncode == 1
        assert "Source address not allowed" in _line(elsewhere.stdout, "recording system")
        _assert_only_the_report(elsewhere)


def test_key_only_bot_against_a_system_that_wants_a_login_fails_the_check(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    del env["MEDIA_REPOSITORY_USERNAME"], env["MEDIA_REPOSITORY_PASSWORD"]
    result = _check(env, tmp_path)
    assert result.returncode == 1
    assert _line(result.stdout, "recording system").startswith("✗ recording system: wants a user login")


def test_an_answer_that_proves_nothing_is_not_verified_and_does_not_fail(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    recording_system.fail_next("other_error")  # "Recorder busy": neither a yes nor a no about the key
    result = _check(_env(tmp_path, slack, recording_system, webex), tmp_path)
    assert result.returncode == 0, result.stdout
    line = _line(result.stdout, "recording system")
    assert line.startswith("– recording system: not verified: the harmless test call was answered with: refused")
    assert "Recorder busy" in line
    assert "4 passed (✓), 0 failed (✗), 3 not verified (–)" in result.stdout


def test_failing_upstreams_are_named_once_per_line(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    env["MEDIA_REPOSITORY_URL"] = "http://127.0.0.1:9"
    env["WEBEX_API_URL"] = "http://127.0.0.1:9/v1"
    env["WEBEX_TIMEOUT_SECONDS"] = "1"
    result = _check(env, tmp_path)
    assert result.returncode == 1
    recording = _line(result.stdout, "recording system")
    assert recording.startswith("✗ recording system: refused the connection"), recording
    webex_line = _line(result.stdout, "Webex")
    assert webex_line.startswith("✗ Webex: did not answer"), webex_line
    assert recording.lower().count("recording system") == 1 and webex_line.lower().count("webex") == 1
    _assert_only_the_report(result)


def test_unreachable_slack_is_one_report_line_without_library_log_lines(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    env["SLACK_API_URL"] = "http://127.0.0.1:9/api/"
    result = _check(env, tmp_path)
    assert result.returncode == 1
    assert _line(result.stdout, "Slack").startswith("✗ Slack: cannot reach http://127.0.0.1:9/api/")
    assert "slack_sdk" not in result.stdout + result.stderr
    _assert_only_the_report(result)


def test_socket_mode_check_proves_the_app_token(
    tmp_path: Path, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    with SimulatedSlack(bot_token=BOT_TOKEN, team_id="T0TEST", app_token="xapp-SECRET-app-token",
                        socket_mode_url="ws://127.0.0.1:9/link") as slack:  # fmt: skip
        env = _env(tmp_path, slack, recording_system, webex)
        del env["SLACK_SIGNING_SECRET"]  # not needed in Socket Mode
        env["SLACK_APP_TOKEN"] = "xapp-SECRET-app-token"
        accepted = _check(env, tmp_path, "--socket")
        assert accepted.returncode == 0, accepted.stdout
        assert _line(accepted.stdout, "Slack Socket Mode").startswith("✓")
        assert "signing secret" not in accepted.stdout
        assert slack.calls("apps.connections.open")

        env["SLACK_APP_TOKEN"] = "xapp-SECRET-wrong"
        refused = _check(env, tmp_path, "--socket")
        assert refused.returncode == 1
        assert "refused the app-level token (invalid_auth)" in _line(refused.stdout, "Slack Socket Mode")
        assert "SECRET" not in refused.stdout + refused.stderr


def test_the_webex_line_says_which_scopes_are_proven_and_names_a_missing_one(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    webex_line = _line(_check(env, tmp_path).stdout, "Webex")
    proven = "spark-admin:telephony_config_read, spark-admin:people_read, spark-admin:workspaces_read"
    assert webex_line.startswith(f"✓ Webex: token works; read scopes proven so far: {proven}; the write"), webex_line
    assert "verified only on first use" in webex_line

    webex.remove_scope("spark-admin:people_read")
    result = _check(env, tmp_path)
    assert result.returncode == 1
    assert _line(result.stdout, "Webex").startswith("✗ Webex: the token lacks spark-admin:people_read (people:")
    assert "✗ Webex: read scopes proven so far: spark-admin:telephony_config_read, spark-admin:workspaces_read" in (
        result.stdout
    )
    assert "fix: grant the integration or service app spark-admin:people_read" in result.stdout


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


def test_every_configuration_problem_is_reported_at_once(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    del env["SLACK_SIGNING_SECRET"], env["MEDIA_REPOSITORY_PASSWORD"]
    env["WEBEX_REFRESH_TOKEN"] = "SECRET-refresh"
    result = _check(env, tmp_path)
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("✗ configuration: ")]
    assert [p.split(": ")[1].split(" ")[0] for p in problems] == [
        "SLACK_SIGNING_SECRET", "MEDIA_REPOSITORY_PASSWORD", "WEBEX_CLIENT_ID", "WEBEX_CLIENT_SECRET",
    ]  # fmt: skip
    assert "fix: set the variables named above" in result.stdout
    assert "SECRET-refresh" not in result.stdout


def test_malformed_values_are_each_named_on_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PORT": "eighty", "APPROVAL_TIMEOUT_MINUTES": "ten",
           "SLACK_API_URL": "slack.com", "WEBEX_TIMEOUT_SECONDS": "-1"}  # fmt: skip
    result = _check(env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    # The malformed values first, then what else is wrong (the Slack credentials are missing here).
    assert [line.split(": ")[2].split(" ")[0] for line in lines] == [
        "SLACK_API_URL", "PORT", "APPROVAL_TIMEOUT_MINUTES", "WEBEX_TIMEOUT_SECONDS", "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
    ]  # fmt: skip
    assert "PORT is invalid (not a whole number)" in result.stderr
    assert "WEBEX_TIMEOUT_SECONDS is invalid (must be more than 0)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_value_and_missing_credentials_are_all_named_at_once(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PORT": "99999", "DATABASE_PATH": str(tmp_path / "bot.db")}
    result = _check(env, tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    named = [line.split(": ")[2].split(" ")[0] for line in result.stderr.splitlines()]
    assert named == ["PORT", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"], result.stderr


def test_two_databases_are_one_configuration_line_and_exit_2(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    env["DATABASE_URL"] = "postgresql://bot:SECRET-db-password@127.0.0.1:1/bot"
    result = _check(env, tmp_path)
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "recording-bot: configuration error: DATABASE_URL and DATABASE_PATH are both set: keep DATABASE_URL for "
        "PostgreSQL, or DATABASE_PATH for SQLite, and unset the other"
    ]


def test_a_port_out_of_range_in_database_url_is_a_configuration_error_without_the_password(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": "postgresql://bot:SECRET-db-pw@127.0.0.1:99999/bot",
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}  # fmt: skip
    result = _check(env, tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "recording-bot: configuration error: DATABASE_URL is invalid (its port is not a number from 1 to 65535): "
        "a PostgreSQL URL, e.g. DATABASE_URL=postgresql://user:password@host:5432/dbname"
    ]
    assert "SECRET-db-pw" not in result.stderr


def test_credentials_in_slack_api_url_are_one_report_line_naming_the_fix_and_nothing_else(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    env["SLACK_API_URL"] = slack.api_url.replace("http://", "http://gateway:SECRET-gw-password@")
    result = _check(env, tmp_path)
    assert result.returncode == 1
    line = _line(result.stdout, "Slack")
    assert line.startswith("✗ Slack: Slack's client cannot send a request to http://***@127.0.0.1:"), line
    assert "without a user name or password" in result.stdout
    assert "unexpected" not in result.stdout and "slack_sdk" not in result.stdout + result.stderr
    assert "SECRET-gw-password" not in result.stdout + result.stderr
    _assert_only_the_report(result)


def _serve(
    env: dict[str, str], cwd: Path, command: str = "serve", *, process: bool = False
) -> subprocess.CompletedProcess[str]:
    return run_bot([command], env=env, cwd=cwd, process=process)


def test_serve_refuses_a_database_folder_that_does_not_exist_in_the_words_of_check(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    env["DATABASE_PATH"] = str(tmp_path / "data" / "recording-bot.db")  # a volume that is not mounted
    checked = _check(env, tmp_path)
    said = _line(checked.stdout, "database").removeprefix("✗ database: ")
    assert "is missing or not writable" in said
    for command in ("serve", "socket"):
        result = _serve({**env, "SLACK_APP_TOKEN": "xapp-1"}, tmp_path, command)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"recording-bot: configuration error: DATABASE_PATH: {said}: point DATABASE_PATH at a file on a "
            "writable, persistent volume"
        ]
        assert not (tmp_path / "data").exists(), f"{command} created the folder on throw-away disk"


def test_serve_on_a_platform_of_several_instances_with_a_default_sqlite_file_warns_at_start(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex
) -> None:
    env = _env(tmp_path, slack, recording_system, webex)
    del env["DATABASE_PATH"]
    env["SLACK_API_URL"] = "http://127.0.0.1:9/api/"  # so that serve stops right after its start-up checks
    for platform in ("DYNO", "RENDER_INSTANCE_ID", "FLY_MACHINE_ID", "RAILWAY_REPLICA_ID"):
        # One real process (the warning is its start-up's), the others in this one.
        result = _serve({**env, platform: "instance-1"}, tmp_path, process=platform == "DYNO")
        assert result.returncode == 2
        warning = next(line for line in result.stderr.splitlines() if platform in line)
        assert "own allow-list" in warning and "audit log" in warning and "DATABASE_URL" in warning
    # With DATABASE_PATH chosen on purpose (a persistent volume, one instance), nothing is said.
    quiet = _serve({**env, "DYNO": "web.1", "DATABASE_PATH": str(tmp_path / "bot.db")}, tmp_path)
    assert "own allow-list" not in quiet.stderr
