"""`recording-bot check`: validate the configuration and reach every dependency once, one line per check."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import logging
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import recording_system_client, webex_client
from bot.clients.errors import AuthenticationFailed, UpstreamBadResponse, UpstreamError, UpstreamUnreachable
from bot.clients.tls import tls_context
from bot.clients.webex import SCOPE_PEOPLE_READ, SCOPE_TELEPHONY_READ, SCOPE_WORKSPACES_READ
from bot.config import Config
from bot.redaction import credentials_in_url, redact_url
from bot.store.audit import AuditStore
from bot.store.connect import open_database
from bot.store.database import DatabaseUnavailable
from bot.store.sqlite import FOLDER_FIX, SqliteDatabase, describe_database_error, folder_problem

# ✓ the dependency answered as it should; ✗ it did not, or cannot work as configured (exit 1);
# – not verified: optional and not configured, or nothing can prove it from here (does not fail the check).
PASS, FAIL, SKIP = "✓", "✗", "–"
EXIT_FAILED = 1


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    detail: str
    fix: str = ""
    # Further problems of the same check, one line each (e.g. every configuration variable at fault).
    more: tuple[str, ...] = ()

    def line(self) -> str:
        text = f"{self.status} {self.name}: {self.detail}"
        text += "".join(f"\n{self.status} {self.name}: {extra}" for extra in self.more)
        return f"{text}\n    fix: {self.fix}" if self.fix else text


@contextlib.contextmanager
def library_logs_quiet() -> Iterator[None]:
    """Mute log lines while a report or a one-line error says what happened (slack_sdk logs each failed
    request at ERROR, and would print it in the middle of the report, twice)."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def run_checks(config: Config, *, socket_mode: bool = False) -> list[CheckResult]:
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("configuration", lambda: _configuration(config, socket_mode=socket_mode)),
        ("database", lambda: _database(config)),
        ("audit chain", lambda: _audit_chain(config)),
        ("Slack", lambda: _slack(config)),
        ("Slack Socket Mode", lambda: _slack_socket(config))
        if socket_mode
        else ("Slack signing secret", lambda: _signing_secret(config)),
        ("recording system", lambda: _recording_system(config)),
        ("Webex", lambda: _webex(config)),
    ]
    results = []
    # LOG_LEVEL=DEBUG keeps every line, for when the report alone does not explain a failure.
    quiet = library_logs_quiet() if config.log_level != "DEBUG" else contextlib.nullcontext()
    with quiet:
        for name, check in checks:
            try:
                results.append(check())
            except Exception as error:  # a check must report, never crash the report
                results.append(CheckResult(name, FAIL, f"unexpected error ({type(error).__name__}) in the check"))
    return results


def print_report(results: list[CheckResult], out: TextIO) -> int:
    """One line per check, then the counts; the exit status: 1 when a check failed, else 0."""
    for result in results:
        out.write(result.line() + "\n")
    passed = sum(r.status == PASS for r in results)
    failed = sum(r.status == FAIL for r in results)
    unverified = sum(r.status == SKIP for r in results)
    summary = f"{passed} passed (✓), {failed} failed (✗), {unverified} not verified (–)"
    if unverified and not failed:
        summary += "; nothing failed, but only the passed checks are proven"
    out.write(f"\n{summary}\n")
    return EXIT_FAILED if failed else 0


def _configuration(config: Config, *, socket_mode: bool) -> CheckResult:
    problems = config.slack_problems(socket_mode=socket_mode) + config.consistency_problems()
    if problems:
        named = "variables" if len(problems) > 1 else "variable"
        fix = f"set the {named} named above (see README, Configuration)"
        return CheckResult("configuration", FAIL, problems[0], fix, more=tuple(problems[1:]))
    return CheckResult("configuration", PASS, "all required variables are set and well-formed")


def _database(config: Config) -> CheckResult:
    if config.database_url is not None:
        return _postgres(config)
    path = config.database_path
    if not path.exists():
        problem = folder_problem(path)
        if problem:
            return CheckResult("database", FAIL, problem, FOLDER_FIX)
        return CheckResult("database", PASS, f"{path} does not exist yet; it will be created on first start")
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


_SLACK_ERROR_CODE = re.compile(r"^[a-z][a-z0-9_.]*$")


class SlackUnusable(Exception):
    """Slack cannot be used with this configuration: `detail` says what happened, `fix` what to do."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(f"{detail}: {fix}")
        self.detail = detail
        self.fix = fix


def reach_slack(config: Config) -> dict[str, Any]:
    """auth.test with the bot token: the workspace's identity, or SlackUnusable saying which part is wrong."""
    if config.slack_bot_token is None:
        raise SlackUnusable("SLACK_BOT_TOKEN is not set", "copy the Bot User OAuth Token (xoxb-…)")
    where = redact_url(config.slack_api_url)
    _require_sendable(config.slack_api_url, where)
    client = WebClient(token=config.slack_bot_token.get_secret_value(), base_url=config.slack_api_url, timeout=10)
    try:
        return dict(client.auth_test().data)  # type: ignore[arg-type]
    except SlackApiError as error:
        status = error.response.status_code
        data = error.response.data
        code = data.get("error") if isinstance(data, dict) else None
        # Slack refuses with a snake_case code (`invalid_auth`); anything else is a proxy, a captive
        # portal or a wrong address answering in Slack's place.
        if status != 200 or not isinstance(code, str) or not _SLACK_ERROR_CODE.match(code):
            raise SlackUnusable(
                f"{where} answered auth.test with HTTP {status} but not as Slack does (no Slack error code)",
                "check SLACK_API_URL (https://slack.com/api/) and any proxy between this host and Slack",
            ) from None
        raise SlackUnusable(
            f"auth.test refused the token ({code})",
            "reinstall the app and copy the Bot User OAuth Token from OAuth & Permissions into SLACK_BOT_TOKEN",
        ) from None
    except (SlackClientError, OSError) as error:
        raise SlackUnusable(
            f"cannot reach {where} ({type(error).__name__})", "check outbound HTTPS from this host, or SLACK_API_URL"
        ) from None
    except (http.client.HTTPException, ValueError) as error:
        raise _unusable_url(where, error) from None


def _require_sendable(url: str, where: str) -> None:
    """Slack's client (urllib) cannot send a user name or password written into the URL: it takes them for
    part of the host, and fails after a DNS lookup (or logs the password in its error). Said before trying."""
    if credentials_in_url(url):
        raise SlackUnusable(
            f"Slack's client cannot send a request to {where}: it cannot log in with a user name or password "
            "written into the URL",
            "set SLACK_API_URL to a URL like https://slack.com/api/, without a user name or password",
        )


def _unusable_url(where: str, error: BaseException) -> SlackUnusable:
    # Slack's client (urllib) refuses a user name or password in the URL, saying so with the password in its
    # message: only the error's type is shown.
    return SlackUnusable(
        f"Slack's client cannot send a request to {where} ({type(error).__name__})",
        "set SLACK_API_URL to a URL like https://slack.com/api/, without a user name or password",
    )


def _slack(config: Config) -> CheckResult:
    try:
        identity = reach_slack(config)
    except SlackUnusable as error:
        return CheckResult("Slack", FAIL, error.detail, error.fix)
    return CheckResult(
        "Slack", PASS, f"workspace {identity.get('team')} ({identity.get('team_id')}), bot user {identity.get('user')}"
    )


def _signing_secret(config: Config) -> CheckResult:
    # Only Slack holds the other copy: nothing sent from here can prove the secret right.
    if config.slack_signing_secret is None:
        return CheckResult("Slack signing secret", SKIP, "not verified: SLACK_SIGNING_SECRET is not set")
    return CheckResult(
        "Slack signing secret", SKIP,
        "not verified: only a request from Slack can prove it (a wrong secret makes the bot answer 401 to "
        "every request; Slack then says `dispatch_failed`)",
    )  # fmt: skip


def reach_socket_mode(config: Config) -> None:
    """apps.connections.open with the app-level token, or SlackUnusable saying what is wrong.

    Slack hands out a WebSocket URL; not connecting to it leaves nothing behind."""
    token = config.slack_app_token.get_secret_value() if config.slack_app_token else ""
    _require_sendable(config.slack_api_url, redact_url(config.slack_api_url))
    client = WebClient(token=token, base_url=config.slack_api_url, timeout=10)
    try:
        client.apps_connections_open(app_token=token)
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        raise SlackUnusable(
            f"apps.connections.open refused the app-level token ({reason})",
            "create an app-level token with connections:write (Basic Information → App-Level Tokens), "
            "turn Socket Mode on, and put the token in SLACK_APP_TOKEN",
        ) from None
    except (SlackClientError, OSError) as error:
        raise SlackUnusable(
            f"cannot reach {redact_url(config.slack_api_url)} ({type(error).__name__})",
            "check outbound HTTPS from this host, or SLACK_API_URL",
        ) from None
    except (http.client.HTTPException, ValueError) as error:
        raise _unusable_url(redact_url(config.slack_api_url), error) from None


def _slack_socket(config: Config) -> CheckResult:
    name = "Slack Socket Mode"
    if config.slack_app_token is None or not config.slack_app_token.get_secret_value().startswith("xapp-"):
        return CheckResult(name, SKIP, "not verified: SLACK_APP_TOKEN is not set (see configuration)")
    try:
        reach_socket_mode(config)
    except SlackUnusable as error:
        return CheckResult(name, FAIL, error.detail, error.fix)
    return CheckResult(name, PASS, "the app-level token is accepted; Slack offered a Socket Mode connection")


def _recording_system(config: Config) -> CheckResult:
    name = "recording system"
    if not config.media_repository_configured:
        return CheckResult(
            name, FAIL, "not configured: pause and resume are disabled",
            "set MEDIA_REPOSITORY_URL and MEDIA_REPOSITORY_API_KEY (and USERNAME/PASSWORD for token auth)",
        )  # fmt: skip
    with httpx.Client(timeout=config.media_repository_timeout_seconds, verify=tls_context()) as http:
        client = recording_system_client(config, http)
        try:
            return CheckResult(name, PASS, client.verify_credentials())
        except (AuthenticationFailed, UpstreamUnreachable, UpstreamBadResponse) as error:
            return CheckResult(name, FAIL, error.reason(), _upstream_fix(error, "MEDIA_REPOSITORY"))
        except UpstreamError as error:
            # Busy, rate-limited or an answer the bot has no words for: the key may well be fine.
            return CheckResult(
                name, SKIP, f"not verified: the harmless test call was answered with: {error.reason()}",
                "run the check again in a minute; if it stays, see the audit log's raw answer of the first pause",
            )  # fmt: skip


# What each read scope is for, in the check's words.
_SCOPE_USES = {
    SCOPE_TELEPHONY_READ: "virtual lines, workspaces' settings, extensions and numbers",
    SCOPE_PEOPLE_READ: "people: their settings, e-mail addresses and names, and `me`",
    SCOPE_WORKSPACES_READ: "finding workspaces by name or ID",
}
_WRITE_SCOPES = "spark-admin:people_write and spark-admin:telephony_config_write"


def _webex(config: Config) -> CheckResult:
    if not config.webex_configured:
        return CheckResult("Webex", SKIP, "not configured: /recording settings and pause-card warnings are off")
    with httpx.Client(timeout=config.webex_timeout_seconds, verify=tls_context()) as http:
        client = webex_client(config, http)
        results = client.probe_scopes()
    proven = [scope for scope, error in results.items() if error is None]
    # A 403 names one scope; anything else (a dead token, no answer) is the token's or the network's problem.
    other = next((e for e in results.values() if e is not None and e.status_code != 403), None)
    if other is not None:
        return CheckResult("Webex", FAIL, other.reason(), _upstream_fix(other, "WEBEX"))
    missing = [scope for scope, error in results.items() if error is not None]
    said = f"read scopes proven so far: {', '.join(proven) or 'none'}"
    later = f"the write scopes ({_WRITE_SCOPES}) are verified only on first use"
    if not missing:
        return CheckResult("Webex", PASS, f"token works; {said}; {later}")
    lacking = [f"the token lacks {scope} ({_SCOPE_USES[scope]})" for scope in missing]
    return CheckResult(
        "Webex", FAIL, lacking[0],
        f"grant the integration or service app {' and '.join(missing)} and authorize it again",
        more=(*lacking[1:], said, later),
    )  # fmt: skip


def _upstream_fix(error: UpstreamError, prefix: str) -> str:
    if isinstance(error, AuthenticationFailed):
        if prefix == "WEBEX":
            return (
                "renew WEBEX_ACCESS_TOKEN (or set WEBEX_REFRESH_TOKEN with WEBEX_CLIENT_ID/SECRET); the token "
                "needs spark-admin:telephony_config_read, spark-admin:people_read, spark-admin:workspaces_read "
                "and an admin role"
            )
        return "check MEDIA_REPOSITORY_API_KEY (and that it allows this host), USERNAME and PASSWORD"
    if isinstance(error, UpstreamUnreachable):
        return f"check {prefix}_URL and that this host can reach it" if prefix != "WEBEX" else "check WEBEX_API_URL"
    return "see the message above; the tracking ID helps the vendor's support"


def add_check_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="validate the configuration and reach every dependency once",
        description="Validate the configuration and reach every dependency once: one line per check, ✓ passed, "
        "✗ failed (with the fix), – not verified. Exit 0 when nothing failed, 1 when a check failed, 2 when a "
        "variable is malformed or two databases are set (then every configuration problem is named).",
    )
    check.add_argument("--socket", action="store_true", help="check for Socket Mode (needs SLACK_APP_TOKEN)")
    check.set_defaults(func=_check, needs_consistent=False, reports=True)


def _check(config: Config, args: argparse.Namespace) -> int:
    return print_report(run_checks(config, socket_mode=args.socket), sys.stdout)
