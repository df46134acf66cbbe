"""Running on PostgreSQL as an operator does: DATABASE_URL, `check` and `/healthz` with a wrong URL, a refused
login or a missing database, `migrate-db` from SQLite, and `audit --verify` — and never the password."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.config import Config, ConfigurationError
from bot.models import RequestState, Role
from bot.sandbox.postgres_server import PostgresServer
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import DEFAULT_ACCESS_TOKEN, SimulatedWebex
from bot.store import postgres
from bot.store.allow_list import AllowListStore
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase
from tests.conftest import ADMIN, AGENT, BOT_TOKEN, LEAD, SIGNING_SECRET, ServedBot
from tests.support import web
from tests.support.cli import run_bot
from tests.support.pauses import buttons, cards, wait_for_state, wait_until
from tests.support.processes import free_port
from tests.support.slack_requests import TEAM, SlackSender
from tests.support.tcp_proxy import TcpRelay


def _env(slack: SimulatedSlack, webex: SimulatedWebex, **database: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "WEBEX_API_URL": webex.base_url,
        "WEBEX_ACCESS_TOKEN": DEFAULT_ACCESS_TOKEN,
        **database,
    }


def _cli(env: dict[str, str], cwd: Path, *args: str, process: bool = False) -> subprocess.CompletedProcess[str]:
    """`recording-bot ARGS`: in this process unless `process` is set (see tests/support/cli.py)."""
    return run_bot(args, env=env, cwd=cwd, process=process)


def _line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line[2:].startswith(name + ":"))


# -- configuration --------------------------------------------------------------------------------


def test_database_url_and_database_path_together_are_refused_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://bot:hunter2secret@db.example:5432/bot")
    monkeypatch.setenv("DATABASE_PATH", "/data/bot.db")
    config = Config(_env_file=None)
    with pytest.raises(ConfigurationError) as caught:
        config.require_consistent_credentials()
    assert "DATABASE_URL" in str(caught.value) and "DATABASE_PATH" in str(caught.value)
    assert "hunter2secret" not in str(caught.value)
    assert "hunter2secret" in config.secret_values()


@pytest.mark.parametrize("url", ["mysql://bot:pw@db/bot", "sqlite:///bot.db"])
def test_a_database_url_that_is_not_postgresql_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import load_config

    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigurationError) as caught:
        load_config()
    assert "DATABASE_URL" in str(caught.value) and "pw" not in str(caught.value)


# -- check ----------------------------------------------------------------------------------------


def test_check_on_postgresql_reports_reachable_writable_and_current(
    postgres_server: PostgresServer, slack: SimulatedSlack, webex: SimulatedWebex, tmp_path: Path
) -> None:
    url = postgres_server.create_database()
    PostgresDatabase(url).migrate()
    result = _cli(_env(slack, webex, DATABASE_URL=url), tmp_path, "check")
    line = _line(result.stdout, "database")
    assert line.startswith("✓") and "reachable and writable" in line and "schema is current" in line
    assert postgres_server.password not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("problem", "says"),
    [
        ("wrong password", "refused the bot's login: check the user name and password in DATABASE_URL"),
        ("missing database", "does not exist"),
        ("closed port", "cannot reach PostgreSQL"),
        ("unknown host", "cannot be found"),
    ],
)
def test_check_on_postgresql_names_the_fix_and_never_the_password(
    postgres_server: PostgresServer,
    slack: SimulatedSlack,
    webex: SimulatedWebex,
    tmp_path: Path,
    problem: str,
    says: str,
) -> None:
    secret = "Wr0ngPassw0rd-LEAKCHECK"
    url = {
        "wrong password": postgres_server.url(password=secret),
        "missing database": postgres_server.url("no_such_database"),
        "closed port": f"postgresql://postgres:{secret}@127.0.0.1:1/bot",
        "unknown host": f"postgresql://postgres:{secret}@db.invalid:5432/bot",
    }[problem]
    result = _cli(_env(slack, webex, DATABASE_URL=url), tmp_path, "check")
    assert result.returncode == 1
    line = _line(result.stdout, "database")
    assert line.startswith("✗") and says in line, result.stdout
    output = result.stdout + result.stderr
    assert secret not in output and postgres_server.password not in output
    assert "Traceback" not in output


def test_serve_with_an_unreachable_database_exits_with_one_line(
    slack: SimulatedSlack, webex: SimulatedWebex, tmp_path: Path
) -> None:
    url = "postgresql://postgres:Leak-Me-Not-77@127.0.0.1:1/bot"
    result = _cli(_env(slack, webex, DATABASE_URL=url, PORT=str(free_port())), tmp_path, "serve", process=True)
    assert result.returncode != 0
    assert "cannot reach PostgreSQL at postgres@127.0.0.1:1/bot" in result.stderr
    assert "Leak-Me-Not-77" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# -- /healthz -------------------------------------------------------------------------------------


@pytest.mark.engines("postgresql")
def test_healthz_on_postgresql_is_503_while_the_database_accepts_no_writes_and_200_after(
    served: ServedBot, postgres_server: PostgresServer
) -> None:
    assert web.get(served.url + "/healthz", timeout=10).status_code == 200
    assert served.config.database_url is not None
    name = served.config.database_url.get_secret_value().rsplit("/", 1)[1]
    postgres_server.sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    postgres_server.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        response = wait_until(
            # Right after its connections are ended the pool may first find the server "unreachable" (503
            # too); the new connections then meet the read-only database.
            lambda: (r := web.get(served.url + "/healthz", timeout=10)).status_code == 503
            and "unreachable" not in r.json()["database"] and r,
            timeout=10, what="/healthz to fail on the read-only database",
        )  # fmt: skip
        assert response.json()["database"] == "cannot be written: read-only"
        assert postgres_server.password not in response.text
        assert "127.0.0.1" not in response.text and name not in response.text
    finally:
        postgres_server.sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
        postgres_server.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    wait_until(lambda: web.get(served.url + "/healthz", timeout=10).status_code == 200, timeout=10)


@pytest.mark.engines("postgresql")
def test_healthz_with_postgresql_stopped_is_503_within_a_second_and_every_log_line_is_one_line(
    make_config: Any, database_settings: dict[str, Any], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Still longer than the health check may take, but short enough that the bot stops soon with no database.
    monkeypatch.setattr(postgres, "POOL_WAIT_SECONDS", 1.5)
    url = urlsplit(database_settings["database_url"])
    relay = TcpRelay(url.hostname or "127.0.0.1", url.port or 5432)
    through_relay = url._replace(netloc=f"{url.username}:{url.password}@127.0.0.1:{relay.port}").geturl()
    served = ServedBot(make_config(database_url=through_relay)).start()
    try:
        assert web.get(served.url + "/healthz", timeout=10).status_code == 200
        relay.cut()  # PostgreSQL is gone: its port refuses, the pool's connections are dead
        for _ in range(3):
            started = time.monotonic()
            response = web.get(served.url + "/healthz", timeout=10)
            elapsed = time.monotonic() - started
            # The check waits at most 0.5 s to connect and 0.4 s per statement; the margin is this test's own
            # HTTP round trip on a busy machine (it took 5.0 s before those bounds).
            assert response.status_code == 503 and elapsed < 1.5, (response.status_code, elapsed)
        assert response.json()["database"].startswith("cannot be written")
        started = time.monotonic()
        served.stop()
        # The scheduler's pass in progress ends after its current step, not after every step has waited out
        # the pool (1.5 s each here; 11.5 s for the whole stop before). What is left is at most three waits for
        # a connection: that step, the heartbeat's beat in progress, and unregistering the instance (3.5 s
        # measured).
        assert time.monotonic() - started < 3 * 1.5 + 1.5
    finally:
        served.stop()
    multi_line = [r.getMessage() for r in caplog.records if "\n" in r.getMessage()]
    assert multi_line == []
    assert [r for r in caplog.records if r.name.startswith("psycopg")], "the pool's own warnings are kept"


# -- migrate-db -----------------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
def test_migrate_db_copies_a_working_sqlite_database_and_the_bot_carries_on_in_postgresql(
    served: ServedBot,
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    webex: SimulatedWebex,
    postgres_server: PostgresServer,
    make_config: Any,
    tmp_path: Path,
) -> None:
    bot = served.bot
    assert bot is not None
    bot.services.authorizer.set_role(TEAM, LEAD, Role.APPROVER, source="test")
    bot.services.authorizer.set_role(TEAM, AGENT, Role.REQUESTER, source="test")
    sender.command("pause 8856 10m card number", user=AGENT)
    pending = wait_until(lambda: cards(slack) and cards(slack)[-1], what="the first card")
    sender.command("pause 8857 10m another card", user=AGENT)
    wait_until(lambda: len(cards(slack)) == 2, what="the second card")
    first = int(buttons(pending)[0]["value"])
    sender.click("recording_approve", str(first), user=LEAD, message_ts=pending["ts"])
    wait_for_state(bot, first, RequestState.ACTIVE)
    wait_until(lambda: len(bot.services.audit.recent(500)) >= 8, what="the audit rows")
    sqlite_path = served.config.database_path
    served.stop()

    target = postgres_server.create_database()
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(sqlite_path)}
    # The real command, as its own process; the commands after it run in this one.
    result = _cli(env, tmp_path, "migrate-db", "--to", target, process=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for table in ("allow_list", "pause_requests", "audit"):
        assert any(line.strip().startswith(f"✓ {table}") for line in result.stdout.splitlines()), table
    assert "set DATABASE_URL" in result.stdout
    assert postgres_server.password not in result.stdout + result.stderr

    # A second copy into the same database is refused: it is no longer empty.
    again = _cli(env, tmp_path, "migrate-db", "--to", target)
    assert again.returncode == 1 and "not empty" in again.stderr

    moved = ServedBot(make_config(database_url=target), clock=served.clock).start()
    try:
        assert moved.bot is not None
        requests = {r.target.value: r for r in moved.bot.services.pauses.open_requests(TEAM)}
        assert requests["8856"].state is RequestState.ACTIVE and requests["8857"].state is RequestState.PENDING
        # New rows continue after the copied ones, and the audit chain continues unbroken.
        moved_sender = SlackSender(
            base_url=moved.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url
        )
        moved_sender.command("help", user=ADMIN)
        slack.wait_for_call("response_url", containing="/recording pause")
        verify = _cli({"PATH": os.environ.get("PATH", ""), "DATABASE_URL": target}, tmp_path, "audit", "--verify")
        assert verify.returncode == 0, verify.stdout
        assert "intact" in verify.stdout
        moved_sender.close()
    finally:
        moved.stop()


def test_migrate_db_names_to_as_where_the_wrong_password_is_and_counts_one_row_as_a_row(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    source = SqliteDatabase(tmp_path / "bot.db")
    source.migrate()
    AllowListStore(database=source).put(TEAM, ADMIN, Role.ADMIN, added_by="test")
    source.close()
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "bot.db")}
    secret = "Wr0ngPassw0rd-LEAKCHECK"
    refused = _cli(env, tmp_path, "migrate-db", "--to", postgres_server.url(password=secret))
    assert refused.returncode == 1
    assert "check the user name and password in --to" in refused.stderr and "DATABASE_URL" not in refused.stderr
    assert secret not in refused.stdout + refused.stderr

    copied = _cli(env, tmp_path, "migrate-db", "--to", postgres_server.create_database())
    assert copied.returncode == 0, copied.stderr
    allow_list = next(line for line in copied.stdout.splitlines() if line.strip().startswith("✓ allow_list"))
    assert allow_list.split()[2:] == ["1", "row", "(1", "in", "SQLite)"], allow_list


def test_migrate_db_to_a_url_whose_port_is_out_of_range_is_one_line_without_the_password(tmp_path: Path) -> None:
    SqliteDatabase(tmp_path / "bot.db").migrate()
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "bot.db")}
    result = _cli(env, tmp_path, "migrate-db", "--to", "postgresql://bot:Leak-Me-Not-77@127.0.0.1:99999/bot")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "recording-bot: configuration error: --to is not a usable PostgreSQL URL (its port is not a number from "
        "1 to 65535), e.g. --to postgresql://user:password@host:5432/dbname"
    ]
    assert "Leak-Me-Not-77" not in result.stderr


@pytest.mark.engines("sqlite")
def test_migrate_db_refuses_while_the_bot_still_serves_the_file(
    served: ServedBot, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(served.config.database_path)}
    result = _cli(env, tmp_path, "migrate-db", "--to", postgres_server.create_database())
    assert result.returncode == 1 and "stop it first" in result.stderr


# -- audit --verify -------------------------------------------------------------------------------


def test_audit_verify_prints_the_heads_then_finds_a_changed_row_and_a_lost_head(
    served: ServedBot, sender: SlackSender, slack: SimulatedSlack, tmp_path: Path
) -> None:
    bot = served.bot
    assert bot is not None
    for _ in range(3):
        sender.command("help", user=ADMIN)
    wait_until(lambda: len([r for r in bot.services.audit.recent(50) if r.action == "command.help"]) == 3)
    env = {"PATH": os.environ.get("PATH", "")}
    if served.config.database_url is not None:
        env["DATABASE_URL"] = served.config.database_url.get_secret_value()
    else:
        env["DATABASE_PATH"] = str(served.config.database_path)

    intact = _cli(env, tmp_path, "audit", "--verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    head = next(line.split(" ", 1)[1] for line in intact.stdout.splitlines() if line.startswith(f"head {TEAM}:"))
    assert _cli(env, tmp_path, "audit", "--verify", "--head", head).returncode == 0

    victim = next(r for r in bot.services.audit.recent(50) if r.action == "command.help")
    bot.database.run("UPDATE audit SET outcome = 'refused' WHERE id = ?", [victim.id])
    broken = _cli(env, tmp_path, "audit", "--verify", "--head", head)
    assert broken.returncode == 1
    assert f"BROKEN: audit row {victim.id} (workspace {TEAM}) was changed" in broken.stdout

    bot.database.run("DELETE FROM audit WHERE team_id = ?", [TEAM])
    rewritten = _cli(env, tmp_path, "audit", "--verify", "--head", head)
    assert rewritten.returncode == 1 and "is not in the chain" in rewritten.stdout

    # `check` reports the last verification.
    check_env = {**env, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    line = _line(_cli(check_env, tmp_path, "check").stdout, "audit chain")
    assert line.startswith("✗") and "found a problem" in line


# -- a resume gets through a database that cannot be written ---------------------------------------


@pytest.mark.engines("postgresql")
@pytest.mark.usefixtures("roles")
def test_the_automatic_resume_is_on_time_while_another_session_locks_the_requests_and_is_recorded_once_after(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    served: ServedBot,
) -> None:
    import psycopg

    bot = served.bot
    assert bot is not None and served.config.database_url is not None
    sender.command("pause 8856 5m customer reads a card number", user=AGENT)
    card = wait_until(lambda: cards(slack) and cards(slack)[-1], what="the approval card")
    request_id = int(buttons(card)[0]["value"])
    sender.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"])
    wait_for_state(bot, request_id, RequestState.ACTIVE)

    def resumes() -> list[dict[str, str]]:
        return [c for c in recording_system.mute_calls() if c["mute"] == "0"]

    with psycopg.connect(served.config.database_url.get_secret_value()) as blocker:
        # Readers pass; every writer of the table waits behind this session, then gives up (lock_timeout).
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE pause_requests IN EXCLUSIVE MODE")
        served.clock.advance(minutes=5, seconds=1)
        wait_until(resumes, timeout=10, what="the automatic resume")
        blocker.execute("ROLLBACK")
    done = wait_for_state(bot, request_id, RequestState.RESUMED, timeout=10)
    assert done.resumed_by == "system"
    assert [(c["extension"], c["mute"]) for c in resumes()] == [("8856", "0")]
