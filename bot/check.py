"""`recording-bot check`: validate the configuration and reach every dependency once, one line per check."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import recording_system_client, webex_client
from bot.clients.errors import AuthenticationFailed, UpstreamError, UpstreamUnreachable
from bot.clients.tls import tls_context
from bot.config import Config, ConfigurationError
from bot.store.audit import AuditStore
from bot.store.connect import open_database
from bot.store.database import DatabaseUnavailable
from bot.store.sqlite import SqliteDatabase, describe_database_error

PASS, FAIL, SKIP = "✓", "✗", "–"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status} {self.name}: {self.detail}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


def run_checks(config: Config, *, socket_mode: bool = False) -> list[CheckResult]:
    checks: list[Callable[[], CheckResult]] = [
        lambda: _configuration(config, socket_mode=socket_mode),
        lambda: _database(config),
        lambda: _audit_chain(config),
        lambda: _slack(config),
        lambda: _recording_system(config),
        lambda: _webex(config),
    ]
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as error:  # a check must report, never crash the report
            results.append(CheckResult("check", FAIL, f"unexpected error ({type(error).__name__})"))
    return results


def print_report(results: list[CheckResult], out: TextIO) -> int:
    for result in results:
        out.write(result.line() + "\n")
    passed = sum(r.status == PASS for r in results)
    failed = sum(r.status == FAIL for r in results)
    unverified = sum(r.status == SKIP for r in results)
    summary = f"{passed} of {len(results)} checks passed"
    if unverified:
        summary += f"; {unverified} not verified (–)"
    if failed:
        summary += f"; {failed} failed (✗)"
    out.write(f"\n{summary}\n")
    return 1 if failed else 0


def _configuration(config: Config, *, socket_mode: bool) -> CheckResult:
    try:
        config.require_slack(socket_mode=socket_mode)
        config.require_consistent_credentials()
    except ConfigurationError as error:
        return CheckResult(
            "configuration", FAIL, str(error), "set the variable named above (see README, Configuration)"
        )
    return CheckResult("configuration", PASS, "all required variables are set and well-formed")


def _database(config: Config) -> CheckResult:
    if config.database_url is not None:
        return _postgres(config)
    path = config.database_path
    if not path.exists():
        folder = path.parent.resolve()
        if folder.is_dir() and os.access(folder, os.W_OK):
            return CheckResult("database", PASS, f"{path} does not exist yet; it will be created on first start")
        return CheckResult(
            "database", FAIL, f"{path} cannot be created: {folder} is missing or not writable",
            "point DATABASE_PATH at a file on a writable, persistent volume",
        )  # fmt: skip
    database = SqliteDatabase(path)
    try:
        database.check_writable()
        pending = database.pending_migrations()
    except (DatabaseUnavailable, sqlite3.Error) as error:
        detail = str(error) if isinstance(error, DatabaseUnavailable) else describe_database_error(path, error)
        return CheckResult("database", FAIL, detail, "make the file writable by the bot, or fix DATABASE_PATH")
    finally:
        database.close()
    if pending:
        return CheckResult("database", PASS, f"{path} is writable; {len(pending)} migration(s) will run at start")
    return CheckResult("database", PASS, f"{path} is writable and its schema is current")


def _postgres(config: Config) -> CheckResult:
    database = open_database(config)
    where = f"PostgreSQL at {database.location}"
    try:
        pending = database.pending_migrations()
        if not pending:
            database.check_writable()
    except DatabaseUnavailable as error:
        return CheckResult("database", FAIL, str(error), "fix DATABASE_URL (the message says which part)")
    finally:
        database.close()
    if pending:
        return CheckResult("database", PASS, f"{where} is reachable; {len(pending)} migration(s) will run at start")
    return CheckResult("database", PASS, f"{where} is reachable and writable, and its schema is current")


def _audit_chain(config: Config) -> CheckResult:
    if config.database_url is None and not config.database_path.exists():
        return CheckResult("audit chain", SKIP, "not verified: there is no database yet")
    database = open_database(config)
    try:
        if database.pending_migrations():
            return CheckResult("audit chain", SKIP, "not verified: the schema is not current yet (start the bot once)")
        last = AuditStore(database=database).last_verification()
    except DatabaseUnavailable as error:
        return CheckResult("audit chain", SKIP, f"not verified: {error}")
    finally:
        database.close()
    if last is None:
        return CheckResult(
            "audit chain", SKIP, "not verified yet", "run `recording-bot audit --verify` (and keep its head line)"
        )
    when = f"{last.at:%Y-%m-%d %H:%M} UTC"
    if not last.intact:
        return CheckResult(
            "audit chain", FAIL, f"the verification of {when} found a problem: {last.first_problem}",
            "find out who changed the audit table; restore it from a backup; run `recording-bot audit --verify`",
        )  # fmt: skip
    return CheckResult("audit chain", PASS, f"intact at the last verification ({when}, {last.rows_checked} rows)")


def _slack(config: Config) -> CheckResult:
    if config.slack_bot_token is None:
        return CheckResult("Slack", FAIL, "SLACK_BOT_TOKEN is not set", "copy the Bot User OAuth Token (xoxb-…)")
    client = WebClient(token=config.slack_bot_token.get_secret_value(), base_url=config.slack_api_url, timeout=10)
    try:
        identity = client.auth_test()
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        return CheckResult(
            "Slack", FAIL, f"auth.test refused the token ({reason})",
            "reinstall the app and copy the Bot User OAuth Token from OAuth & Permissions into SLACK_BOT_TOKEN",
        )  # fmt: skip
    except (SlackClientError, OSError) as error:
        return CheckResult(
            "Slack", FAIL, f"cannot reach {config.slack_api_url} ({type(error).__name__})",
            "check outbound HTTPS from this host, or SLACK_API_URL",
        )  # fmt: skip
    return CheckResult(
        "Slack", PASS, f"workspace {identity.get('team')} ({identity.get('team_id')}), bot user {identity.get('user')}"
    )


def _recording_system(config: Config) -> CheckResult:
    if not config.media_repository_configured:
        return CheckResult(
            "recording system", FAIL, "not configured: pause and resume are disabled",
            "set MEDIA_REPOSITORY_URL and MEDIA_REPOSITORY_API_KEY (and USERNAME/PASSWORD for token auth)",
        )  # fmt: skip
    with httpx.Client(timeout=config.media_repository_timeout_seconds, verify=tls_context()) as http:
        client = recording_system_client(config, http)
        try:
            return CheckResult("recording system", PASS, client.verify_credentials())
        except UpstreamError as error:
            return CheckResult("recording system", FAIL, error.user_message(), _upstream_fix(error, "MEDIA_REPOSITORY"))


def _webex(config: Config) -> CheckResult:
    if not config.webex_configured:
        return CheckResult("Webex", SKIP, "not configured: /recording settings and pause-card warnings are off")
    with httpx.Client(timeout=config.webex_timeout_seconds, verify=tls_context()) as http:
        client = webex_client(config, http)
        try:
            return CheckResult("Webex", PASS, client.verify())
        except UpstreamError as error:
            return CheckResult("Webex", FAIL, error.user_message(), _upstream_fix(error, "WEBEX"))


def _upstream_fix(error: UpstreamError, prefix: str) -> str:
    if isinstance(error, AuthenticationFailed):
        if prefix == "WEBEX":
            return (
                "renew WEBEX_ACCESS_TOKEN (or set WEBEX_REFRESH_TOKEN with WEBEX_CLIENT_ID/SECRET); the token "
                "needs spark-admin:telephony_config_read and a telephony admin role"
            )
        return "check MEDIA_REPOSITORY_API_KEY (and that it allows this host), USERNAME and PASSWORD"
    if isinstance(error, UpstreamUnreachable):
        return f"check {prefix}_URL and that this host can reach it" if prefix != "WEBEX" else "check WEBEX_API_URL"
    return "see the message above; the tracking ID helps the vendor's support"
