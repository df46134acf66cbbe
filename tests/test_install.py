"""Installable mode: Slack's OAuth install over HTTP against the simulated Slack (state, code exchange, the
stored installation, the pages), workspaces installed separately, token rotation, uninstall, tokens at rest."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet

from bot.app import RecordingBot
from bot.config import Config, ConfigurationError
from bot.listeners.installations import BOT_SCOPES
from bot.models import RequestState, Role
from bot.models.audit import AuditEntry
from bot.sandbox.postgres_server import PostgresServer
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import Installer, SimulatedSlack
from bot.store.encryption import TokenCipher, TokenUnreadable
from bot.store.installations import InstallationStore
from bot.store.pauses import PauseRequestStore
from bot.store.postgres import PostgresDatabase
from tests.conftest import AGENT, LEAD, SIGNING_SECRET, ServedBot
from tests.support import web
from tests.support.cli import run_bot
from tests.support.pauses import audit_rows, card_text, wait_for_state, wait_until
from tests.support.processes import BotProcess, procfile_environment
from tests.support.slack_requests import SlackSender

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "SECRET-client-3c9d7e1f"
STATE_SECRET = "SECRET-state-8a2b6c4d0e"
# A fixed Fernet key, so a failure can be reproduced; another key reads nothing.
ENCRYPTION_KEY = "p3yJgkF8v0yZb8QmKk0C3mRr1w3Xo2l4Qh2mL9sYc1k="
T1, T2 = "T0ALPHA", "T0BRAVO"
U1, U2 = "U0ALPHA", "U0BRAVO"


@pytest.fixture
def installable(make_config: Callable[..., Config], slack: SimulatedSlack, request: pytest.FixtureRequest) -> Config:
    """Installable mode's configuration; a test may add settings with indirect parametrization."""
    slack.client_id, slack.client_secret = CLIENT_ID, CLIENT_SECRET
    return make_config(
        slack_bot_token=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
        slack_state_secret=STATE_SECRET, token_encryption_key=ENCRYPTION_KEY,
        slack_oauth_authorize_url=slack.authorize_url, bot_admins="", **getattr(request, "param", {}),
    )  # fmt: skip


@pytest.fixture
def served(installable: Config, slack: SimulatedSlack) -> Iterator[ServedBot]:
    # Named as conftest's fixture, so the leak checks read this bot's audit too.
    served_bot = ServedBot(installable).start()
    slack.redirect_url = f"{served_bot.url}/slack/oauth_redirect"
    yield served_bot
    served_bot.stop()


@pytest.fixture
def bot(served: ServedBot) -> RecordingBot:
    assert served.bot is not None
    return served.bot


@pytest.fixture
def sender(served: ServedBot, slack: SimulatedSlack) -> Iterator[SlackSender]:
    client = SlackSender(base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    yield client
    client.close()


def _state_cookie(page: httpx.Response) -> dict[str, str]:
    """The install page's state cookie, as a browser sends it back (it is `Secure`: httpx keeps those for
    https alone, and the tests speak plain HTTP on loopback)."""
    name, _, value = page.headers["set-cookie"].split(";", 1)[0].partition("=")
    return {"cookie": f"{name}={value}"}


def _link(page: httpx.Response) -> str:
    return unescape(re.search(r'href="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]


def install(served: ServedBot, slack: SimulatedSlack, installer: Installer) -> httpx.Response:
    """A browser's install: the install page, its Add to Slack link, Slack's redirect back, the final page."""
    slack.installer = installer
    with web.client(timeout=5) as browser:
        page = browser.get(f"{served.url}/slack/install")
        assert page.status_code == 200
        back = browser.get(_link(page))
        assert back.status_code == 302
        done = browser.get(back.headers["location"], headers=_state_cookie(page))
        assert done.status_code == 200, done.text
        return done


def test_installing_stores_the_installation_makes_the_installer_admin_and_refuses_a_replayed_state(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack
) -> None:
    with web.client(timeout=5) as browser:
        page = browser.get(f"{served.url}/slack/install")
        assert page.status_code == 200 and "Add to Slack" in page.text
        link = _link(page)
        assert link.startswith(slack.authorize_url) and f"client_id={CLIENT_ID}" in link and "state=" in link
        slack.installer = Installer(team_id=T1, user_id=U1, team_name="Alpha Trading")
        redirect = browser.get(link).headers["location"]
        done = browser.get(redirect, headers=_state_cookie(page))
        assert done.status_code == 200
        assert "Alpha Trading" in done.text and "/recording help" in done.text
        # The same state again (a replay, or the back button): refused with a page, nothing stored twice.
        again = browser.get(redirect, headers=_state_cookie(page))
        assert again.status_code == 401 and "already used" in again.text and "Traceback" not in again.text

    (exchange,) = slack.calls("oauth.v2.access")
    assert exchange.payload["code"].startswith("code-")
    (record,) = bot.workspaces.store.records()  # type: ignore[union-attr]
    assert (record.installation.team_id, record.installation.installer_user_id) == (T1, U1)
    assert record.installation.bot_token is None  # listings never carry a token
    assert bot.services.authorizer.role_of_user(T1, U1) is Role.ADMIN
    assert bot.services.authorizer.role_of_user(T2, U1) is None
    (added,) = audit_rows(bot, "installation.added")
    assert added.team_id == T1 and added.user_id == U1
    assert any(r.target == U1 and r.team_id == T1 for r in audit_rows(bot, "allow_list.changed"))

    # A forged state, a cancelled install, a missing cookie: each a page saying what happened.
    with web.client(timeout=5) as browser:
        forged = browser.get(f"{served.url}/slack/oauth_redirect", params={"code": "x", "state": "made.up"},
                             headers={"cookie": "slack-app-oauth-state=made.up"})  # fmt: skip
        assert forged.status_code == 401 and "expired or was already used" in forged.text
        cookieless = browser.get(f"{served.url}/slack/oauth_redirect", params={"code": "x", "state": "made.up"})
        assert cookieless.status_code == 400 and "another browser" in cookieless.text
        cancelled = browser.get(f"{served.url}/slack/oauth_redirect", params={"error": "access_denied"})
        assert cancelled.status_code == 200 and "cancelled" in cancelled.text
    health = web.get(f"{served.url}/healthz").json()
    assert health["mode"] == "installable"


def _pause(sender: SlackSender, bot: RecordingBot, slack: SimulatedSlack, team: str, extension: str) -> int:
    before = {r.id for r in bot.services.pauses.open_requests(team)}
    answer = sender.command(f"pause {extension} 5m customer reads a card number", user=AGENT, team=team)
    assert answer.status_code == 200
    new = wait_until(
        lambda: [r for r in bot.services.pauses.open_requests(team) if r.id not in before and r.message_ts],
        what="the request's card",
    )
    return int(new[0].id)


def _approve(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, request_id: int, team: str) -> None:
    request = bot.services.pauses.get(request_id)
    assert request is not None and request.message_ts
    answer = sender.click("recording_approve", str(request_id), user=LEAD, team=team,
                          message_ts=request.message_ts, channel=request.card_channel)  # fmt: skip
    assert answer.status_code == 200
    wait_for_state(bot, request_id, RequestState.ACTIVE)


def details(row: AuditEntry) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(row.details)
    return found


def _staff(bot: RecordingBot, team: str) -> None:
    bot.services.authorizer.set_role(team, LEAD, Role.APPROVER, source="test")
    bot.services.authorizer.set_role(team, AGENT, Role.REQUESTER, source="test")


def test_two_workspaces_are_each_answered_with_their_own_token_and_keep_their_own_allow_list(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack, sender: SlackSender
) -> None:
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    install(served, slack, Installer(team_id=T2, user_id=U2, team_name="Bravo"))
    (token1,), (token2,) = slack.tokens_of(T1), slack.tokens_of(T2)
    _staff(bot, T1)
    _pause(sender, bot, slack, T1, "8856")
    # The card, and the approvers' DMs: every one with T1's token.
    assert {c.token for c in slack.calls("chat.postMessage")} == {token1}
    # The agent is listed in T1 only: in T2 they are refused, and nothing is asked there.
    assert sender.command("pause 8857 5m customer reads a card number", user=AGENT, team=T2).status_code == 200
    slack.wait_for_call("response_url", containing="allow-list")
    assert bot.services.pauses.open_requests(T2) == []
    assert bot.services.authorizer.role_of_user(T2, AGENT) is None
    assert bot.services.authorizer.role_of_user(T1, U2) is None
    assert bot.services.authorizer.role_of_user(T2, U2) is Role.ADMIN
    # A workspace the app is not installed in is told so, in words, and nothing else happens there.
    assert sender.command("help", user=U1, team="T0NOWHERE").status_code == 200
    slack.wait_for_call("response_url", containing="not installed in this workspace")
    _staff(bot, T2)
    third = _pause(sender, bot, slack, T2, "8857")
    cards = [c for c in slack.calls("chat.postMessage") if not str(c.payload.get("channel")).startswith("D")]
    assert [c.token for c in cards if "Pause request #" in c.text] == [token1, token2]
    assert bot.services.pauses.get(third).team_id == T2  # type: ignore[union-attr]


def test_an_expiring_token_is_refreshed_before_use_also_by_the_scheduler(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack, sender: SlackSender,
    recording_system: SimulatedRecordingSystem,
) -> None:  # fmt: skip
    # Tokens that live a minute: within Bolt's two hours of expiry, so each use refreshes first.
    slack.rotation_seconds = 60
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    (installed,) = slack.tokens_of(T1)
    slack.expire(installed)
    _staff(bot, T1)
    request_id = _pause(sender, bot, slack, T1, "8856")
    card_post = next(c for c in slack.calls("chat.postMessage") if "Pause request #" in c.text)
    assert card_post.token not in ("", installed) and card_post.token in slack.tokens_of(T1)
    assert [c.payload.get("grant_type") for c in slack.calls("oauth.v2.access")][-1] == "refresh_token"
    _approve(sender, slack, bot, request_id, T1)
    # Every token issued so far stops working: the scheduler's resume must refresh before its card update.
    for token in slack.tokens_of(T1):
        slack.expire(token)
    issued_before = set(slack.tokens_of(T1))
    refreshes = len(slack.calls("oauth.v2.access"))
    served.clock.advance(minutes=6)
    wait_for_state(bot, request_id, RequestState.RESUMED)
    update = wait_until(
        lambda: [c for c in slack.calls("chat.update") if "resumed" in card_text(c.payload).lower()],
        what="the card updated after the automatic resume",
    )[-1]
    assert update.token not in issued_before and update.token in slack.tokens_of(T1)
    assert len(slack.calls("oauth.v2.access")) > refreshes
    assert not [c for c in slack.requests if b"token_expired" in c.body]


def test_uninstall_deletes_the_tokens_resumes_active_pauses_and_withdraws_pending_requests(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack, sender: SlackSender,
    recording_system: SimulatedRecordingSystem,
) -> None:  # fmt: skip
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    _staff(bot, T1)
    active = _pause(sender, bot, slack, T1, "8856")
    _approve(sender, slack, bot, active, T1)
    pending = _pause(sender, bot, slack, T1, "8857")
    assert sender.app_uninstalled(team=T1).status_code == 200

    wait_for_state(bot, active, RequestState.RESUMED)
    withdrawn = wait_for_state(bot, pending, RequestState.CANCELLED)
    assert "removed" in (withdrawn.error or "")
    assert len(recording_system.mute_calls()) == 2  # the pause, and its resume
    assert bot.workspaces.store.find("", T1) is None  # type: ignore[union-attr]
    (record,) = bot.workspaces.store.records()  # type: ignore[union-attr]
    assert record.uninstalled_at is not None
    (removed,) = audit_rows(bot, "installation.removed")
    assert removed.team_id == T1
    # Each request's audit row follows its change of state.
    wait_until(lambda: audit_rows(bot, "request.resume_early"), what="the early resume's audit row")
    wait_until(lambda: audit_rows(bot, "request.withdrawn"), what="the withdrawal's audit row")
    # The allow-list stays, for a reinstall.
    assert bot.services.authorizer.role_of_user(T1, U1) is Role.ADMIN


# The held pause waits for the uninstall; the recording system's client must not give up on it first.
@pytest.mark.parametrize("installable", [{"media_repository_timeout_seconds": 10.0}], indirect=True)
def test_uninstall_resumes_every_pause_at_once_also_one_being_sent_and_leaves_the_other_workspace_alone(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack, sender: SlackSender,
    recording_system: SimulatedRecordingSystem,
) -> None:  # fmt: skip
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    install(served, slack, Installer(team_id=T2, user_id=U2, team_name="Bravo"))
    for call_id, extension in (("call-held", "8870"), ("call-pending", "8871"), ("call-bravo", "8872")):
        recording_system.add_call(call_id, {extension})
    _staff(bot, T1)
    _staff(bot, T2)
    active = _pause(sender, bot, slack, T1, "8856")
    _approve(sender, slack, bot, active, T1)
    bravo = _pause(sender, bot, slack, T2, "8872")
    _approve(sender, slack, bot, bravo, T2)
    pending = _pause(sender, bot, slack, T1, "8871")
    # Approved, and its MuteRecording held at the recording system: the pause is out when the uninstall comes.
    in_flight = _pause(sender, bot, slack, T1, "8870")
    gate = recording_system.hold_next()
    card = bot.services.pauses.get(in_flight)
    assert card is not None
    assert sender.click("recording_approve", str(in_flight), user=LEAD, team=T1, message_ts=card.message_ts,
                        channel=card.card_channel).status_code == 200  # fmt: skip

    def calls_on(extension: str) -> list[dict[str, str]]:
        return [c for c in recording_system.mute_calls() if c.get("extension") == extension]

    wait_until(lambda: calls_on("8870"), what="the held pause at the recording system")
    wait_for_state(bot, in_flight, RequestState.EXECUTING)
    assert sender.app_uninstalled(team=T1).status_code == 200

    # The active pause and the one being sent are resumed at once, before the held pause is even answered.
    wait_for_state(bot, active, RequestState.RESUMED)
    wait_for_state(bot, in_flight, RequestState.RESUMED)
    assert [c["mute"] for c in calls_on("8870")] == ["3", "0"]
    withdrawn = wait_for_state(bot, pending, RequestState.CANCELLED)
    assert "removed" in (withdrawn.error or "")
    # Now the held pause lands, after the resume: the thread that sent it finds its request taken, and
    # resumes once more, so the recording is not left paused.
    gate.set()
    wait_until(lambda: len(calls_on("8870")) == 3, what="the resume that follows the late pause")
    assert [c["mute"] for c in calls_on("8870")] == ["3", "0", "0"]
    wait_until(lambda: recording_system.mute_state("call-held") == 0, what="the held call recording again")
    assert recording_system.mute_state("call-pending") == 0 and not calls_on("8871")
    assert [c["mute"] for c in calls_on("8856")] == ["3", "0"]
    assert bot.services.pauses.get(in_flight).state is RequestState.RESUMED  # type: ignore[union-attr]

    # The other workspace: its pause runs on, its installation stays.
    assert bot.services.pauses.get(bravo).state is RequestState.ACTIVE  # type: ignore[union-attr]
    assert [c["mute"] for c in calls_on("8872")] == ["3"] and recording_system.mute_state("call-bravo") == 3
    assert bot.workspaces.store.find("", T2) is not None  # type: ignore[union-attr]
    assert bot.workspaces.store.find("", T1) is None  # type: ignore[union-attr]

    early = {details(r)["request"]: r for r in audit_rows(bot, "request.resume_early")}
    assert set(early) == {active, in_flight}
    assert (details(early[active])["was"], details(early[in_flight])["was"]) == ("active", "executing")
    assert all(r.team_id == T1 and r.user_id == "system" for r in early.values())
    (gone,) = [r for r in audit_rows(bot, "request.withdrawn") if details(r)["request"] == pending]
    assert details(gone)["was"] == "pending" and gone.team_id == T1
    def resumes() -> list[int]:
        rows = [details(r) for r in audit_rows(bot, "upstream.mute_recording")]
        return sorted(d["request"] for d in rows if d["operation"] == "resume")

    # The late pause's thread writes its resume's row after the answer: wait for it.
    wait_until(lambda: len(resumes()) == 3, what="every resume audited")
    assert resumes() == sorted([active, in_flight, in_flight])
    assert not [r for r in audit_rows(bot, "request.resumed") if r.team_id == T2]


def test_uninstall_withdraws_a_request_approved_but_not_yet_sent_and_nothing_pauses_it_later(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack, sender: SlackSender,
    recording_system: SimulatedRecordingSystem,
) -> None:  # fmt: skip
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    _staff(bot, T1)
    request_id = _pause(sender, bot, slack, T1, "8856")
    # Approved by an instance that has not claimed it for its MuteRecording yet (approved → executing).
    store = PauseRequestStore(database=bot.database)
    approved = store.transition(request_id, from_states=[RequestState.PENDING], to_state=RequestState.APPROVED,
                                now=served.clock(), decided_by=LEAD, claimed_by="another-instance")  # fmt: skip
    assert approved is not None
    assert sender.app_uninstalled(team=T1).status_code == 200
    withdrawn = wait_for_state(bot, request_id, RequestState.CANCELLED)
    assert "removed" in (withdrawn.error or "")
    (row,) = wait_until(
        lambda: [r for r in audit_rows(bot, "request.withdrawn") if details(r)["request"] == request_id],
        what="the withdrawal audited",
    )
    assert details(row)["was"] == "approved"
    # That instance's claim now finds it taken: the pause is never sent.
    assert store.transition(request_id, from_states=[RequestState.APPROVED], to_state=RequestState.EXECUTING,
                            now=served.clock()) is None  # fmt: skip
    assert recording_system.mute_calls() == []


def test_tokens_are_unreadable_in_the_database_without_the_key(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack, installable: Config
) -> None:
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    (token,) = slack.tokens_of(T1)
    row = bot.database.one("SELECT bot_token FROM slack_installations WHERE team_id = ?", [T1])
    assert row is not None and token not in str(row["bot_token"])
    with pytest.raises(TokenUnreadable):
        TokenCipher(Fernet.generate_key().decode()).decrypt(row["bot_token"])
    assert TokenCipher(ENCRYPTION_KEY).decrypt(row["bot_token"]) == token
    if bot.database.engine == "sqlite":
        served.stop()
        assert token.encode() not in installable.database_path.read_bytes()


@pytest.mark.engines("sqlite")
def test_installable_mode_needs_its_key_and_not_a_bot_token_too(make_config: Callable[..., Config]) -> None:
    oauth: dict[str, Any] = {"slack_client_id": CLIENT_ID, "slack_client_secret": CLIENT_SECRET,
                             "slack_state_secret": STATE_SECRET}  # fmt: skip
    both = make_config(**oauth, token_encryption_key=ENCRYPTION_KEY)
    with pytest.raises(ConfigurationError) as raised:
        both.require_slack()
    assert "SLACK_BOT_TOKEN and SLACK_CLIENT_ID" in str(raised.value)
    keyless = make_config(**oauth, slack_bot_token=None)
    with pytest.raises(ConfigurationError) as raised:
        keyless.require_slack()
    assert "TOKEN_ENCRYPTION_KEY is not set" in str(raised.value) and "Fernet.generate_key()" in str(raised.value)
    assert make_config(**oauth, slack_bot_token=None, token_encryption_key=ENCRYPTION_KEY).mode == "installable"
    assert make_config(bot_admins=f"{T1}:{U1},U0PLAIN").admins_for(T1) == (U1, "U0PLAIN")
    assert make_config(bot_admins=f"{T1}:{U1},U0PLAIN").admins_for(T2) == ("U0PLAIN",)


@pytest.mark.engines("sqlite")
def test_the_distributed_manifest_adds_the_redirect_org_deploy_and_the_leaving_events() -> None:
    manifests = Path(__file__).resolve().parents[1] / "manifests"
    distributed = yaml.safe_load((manifests / "manifest-distributed.yaml").read_text())
    single = yaml.safe_load((manifests / "manifest.yaml").read_text())
    assert distributed["oauth_config"]["redirect_urls"] == ["https://YOUR-HOST/slack/oauth_redirect"]
    assert distributed["settings"]["org_deploy_enabled"] is True
    assert distributed["settings"]["event_subscriptions"]["bot_events"] == [
        "app_home_opened", "app_uninstalled", "tokens_revoked",
    ]  # fmt: skip
    # The same app otherwise: commands, shortcut, Home tab, and the scopes the install asks for.
    assert distributed["features"] == single["features"]
    assert set(distributed["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    assert set(single["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)


@pytest.mark.engines("sqlite")
def test_installations_lists_without_tokens_check_tests_each_token_and_migrate_db_carries_them(
    served: ServedBot, bot: RecordingBot, slack: SimulatedSlack, sender: SlackSender, installable: Config,
    postgres_server: PostgresServer, tmp_path: Path,
) -> None:  # fmt: skip
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    install(served, slack, Installer(team_id=T2, user_id=U2, team_name="Bravo"))
    # A user's token revoked leaves the bot's; the bot's own revoked is as good as an uninstall.
    assert sender.tokens_revoked(oauth=[U1], bot=[], team=T1).status_code == 200
    assert sender.tokens_revoked(oauth=[], bot=["UBOT"], team=T2).status_code == 200
    wait_until(lambda: audit_rows(bot, "installation.removed"), what="the revoked tokens deleted")
    served.stop()
    env = {
        "PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(installable.database_path),
        "SLACK_API_URL": slack.api_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_STATE_SECRET": STATE_SECRET,
        "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY,
    }  # fmt: skip
    listed = run_bot(["installations"], env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    alpha, bravo = listed.stdout.splitlines()
    assert alpha.startswith(f"workspace Alpha ({T1}): installed ") and f"by {U1}; tokens valid" in alpha
    assert bravo.startswith(f"workspace Bravo ({T2})") and "tokens deleted (uninstalled" in bravo
    assert not any(token in listed.stdout for token in slack.tokens)

    checked = run_bot(["check"], env=env, cwd=tmp_path)
    slack_line = next(line for line in checked.stdout.splitlines() if line.startswith("✓ Slack:"))
    assert slack_line == f"✓ Slack: installable mode: Alpha ({T1}): auth.test accepts its token"
    (token1,) = slack.tokens_of(T1)
    assert slack.calls("auth.test")[-1].token == token1

    target = postgres_server.create_database()
    moved = run_bot(["migrate-db", "--to", target], env=env, cwd=tmp_path)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    copied = PostgresDatabase(target)
    try:
        found = InstallationStore(database=copied, cipher=TokenCipher(ENCRYPTION_KEY)).find("", T1)
        assert found is not None and found.bot_token == token1 and found.installer_user_id == U1
    finally:
        copied.close()


@pytest.mark.engines("sqlite")
def test_serve_in_installable_mode_installs_through_its_front_and_answers_with_the_installed_token(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    """The real `recording-bot serve`: the install pages cross from the HTTP front to the bot's process."""
    slack.client_id, slack.client_secret = CLIENT_ID, CLIENT_SECRET
    env = procfile_environment(
        tmp_path, slack, recording_system, SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_STATE_SECRET=STATE_SECRET, TOKEN_ENCRYPTION_KEY=ENCRYPTION_KEY, BOT_ADMINS=f"{T1}:{LEAD}",
        SLACK_OAUTH_AUTHORIZE_URL=slack.authorize_url,
    )  # fmt: skip
    del env["SLACK_BOT_TOKEN"]
    server = BotProcess(env=env, cwd=tmp_path, log_path=tmp_path / "server.log")
    server.start()
    try:
        assert web.get(f"{server.url}/healthz").json()["mode"] == "installable"
        slack.redirect_url = f"{server.url}/slack/oauth_redirect"
        slack.installer = Installer(team_id=T1, user_id=U1, team_name="Alpha")
        with web.client(timeout=10) as browser:
            page = browser.get(f"{server.url}/slack/install")
            back = browser.get(_link(page))
            done = browser.get(back.headers["location"], headers=_state_cookie(page))
        assert done.status_code == 200 and "Alpha" in done.text, server.log()
        (token,) = slack.tokens_of(T1)
        sender = SlackSender(base_url=server.url, signing_secret=SIGNING_SECRET, team=T1,
                             response_url_factory=slack.response_url)  # fmt: skip
        try:
            # The lead is an admin of T1 by BOT_ADMINS' T…:U… entry, added at the install.
            assert sender.command("pause 8856 5m customer reads a card number", user=LEAD).status_code == 200
            card = slack.wait_for_call("chat.postMessage", containing="Pause request #", timeout=10)[0]
        finally:
            sender.close()
        assert card.token == token
    finally:
        server.stop()
    assert token not in server.log()
