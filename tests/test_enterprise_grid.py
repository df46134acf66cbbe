"""Enterprise Grid, over HTTP on both engines: an org-wide install serves every workspace the org admin added
it to with one allow-list, one set of groups and one audit; a lead in one workspace decides a request made in
another; a request from another organisation, or from a workspace of the org the install does not cover, is
refused and audited; `users` and `audit` say which workspace each person and entry came from."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import RecordingBot
from bot.config import Config
from bot.models import AuditEntry, RequestState, Role
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import Installer, SimulatedSlack
from bot.sandbox.simulators.slack_sender import grid
from bot.store.audit import AuditStore
from tests import test_install
from tests.conftest import SIGNING_SECRET, ServedBot
from tests.support.cli import run_bot
from tests.support.pauses import buttons, posted_card, wait_for_state, wait_until
from tests.support.slack_requests import SlackSender
from tests.test_install import install

ORG = "E0ORG"
WORKSPACE_A, WORKSPACE_B, LEFT_OUT = "T0WSA", "T0WSB", "T0WSC"
OTHER_ORG, OTHER_WORKSPACE = "E0OTHER", "T0OTHER"
# Installable mode's configuration (SLACK_CLIENT_ID … and no SLACK_BOT_TOKEN), as tests/test_install.py builds it.
installable = test_install.installable
# Grid user IDs are global across the organisation.
ADMIN, LEAD, AGENT = "W0ADMIN", "W0LEAD", "W0AGENT"


@pytest.fixture
def org_bot(slack: SimulatedSlack, make_config: Callable[..., Config]) -> Iterator[ServedBot]:
    """The bot with an org-wide install's token, added by the org admin to workspaces A and B (not C)."""
    slack.make_org_wide(ORG, [WORKSPACE_A, WORKSPACE_B])
    served = ServedBot(make_config(bot_admins=ADMIN)).start()
    assert served.bot is not None
    served.bot.services.authorizer.set_role(ORG, LEAD, Role.APPROVER, source="test")
    served.bot.services.authorizer.set_role(ORG, AGENT, Role.REQUESTER, source="test")
    yield served
    served.stop()


def _sender(served: ServedBot, slack: SimulatedSlack, *, org: str, team: str) -> SlackSender:
    return SlackSender(
        base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url, team=team,
        organisation=grid(org, org_wide=True),
    )  # fmt: skip


@pytest.fixture
def org(org_bot: ServedBot, slack: SimulatedSlack) -> Iterator[SlackSender]:
    """Slack sending from the organisation (workspace A unless a request names another)."""
    sender = _sender(org_bot, slack, org=ORG, team=WORKSPACE_A)
    yield sender
    sender.close()


def _bot(served: ServedBot) -> RecordingBot:
    assert served.bot is not None
    return served.bot


def _ask(org: SlackSender, slack: SimulatedSlack) -> tuple[int, dict[str, Any]]:
    assert org.command("pause 8856 5m customer reads a card number", user=AGENT, team=WORKSPACE_A).status_code == 200
    card = wait_until(lambda: buttons(posted_card(slack)) and posted_card(slack), what="the approval card")
    return int(buttons(card)[0]["value"]), card


def _audited(bot: RecordingBot, which: Callable[[AuditEntry], bool], *, count: int) -> list[AuditEntry]:
    def rows() -> list[AuditEntry] | None:
        found = [r for r in bot.services.audit.recent(50) if which(r)]
        return found if len(found) >= count else None

    found: list[AuditEntry] = wait_until(rows, what=f"{count} audit rows")
    return found


def _homes_published(slack: SimulatedSlack, user_id: str) -> int:
    return sum(1 for call in slack.calls("views.publish") if call.payload.get("user_id") == user_id)


def test_a_lead_in_another_workspace_of_the_org_approves_and_the_call_is_paused_once(
    org_bot: ServedBot, org: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    bot = _bot(org_bot)
    request_id, card = _ask(org, slack)
    # One allow-list for the organisation: the request is the org's, not workspace A's.
    assert bot.services.pauses.get(request_id).team_id == ORG  # type: ignore[union-attr]
    org.click("recording_approve", str(request_id), user=LEAD, team=WORKSPACE_B, message_ts=card["ts"])
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert len(recording_system.mute_calls()) == 1
    (approved,) = _audited(bot, lambda r: r.action == "click.approve", count=1)
    assert (approved.outcome, approved.team_id, approved.user_id, approved.workspace_id) == (
        "ok", ORG, LEAD, WORKSPACE_B
    )  # fmt: skip
    # `users` and `audit` say where each person and entry came from.
    org.command("users", user=ADMIN, team=WORKSPACE_B)
    listed = slack.wait_for_call("response_url", containing="Allow-list")[-1].rendered
    assert f"<@{LEAD}> (workspace `{WORKSPACE_B}`)" in listed
    assert f"<@{AGENT}> (workspace `{WORKSPACE_A}`)" in listed
    org.command("audit", user=ADMIN, team=WORKSPACE_B)
    log = slack.wait_for_call("response_url", containing="Audit log")[-1].rendered
    assert f"in `{WORKSPACE_B}` *click.approve*" in log and f"in `{WORKSPACE_A}` *command.pause*" in log
    # The organisation's rows are one chain, and the workspaces they name are covered by its hashes.
    assert AuditStore(database=bot.database).verify_chain().intact


def test_another_organisation_is_refused_and_audited_even_with_the_same_user_ids(
    org_bot: ServedBot, org: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    bot = _bot(org_bot)
    request_id, card = _ask(org, slack)
    other = _sender(org_bot, slack, org=OTHER_ORG, team=OTHER_WORKSPACE)
    try:
        other.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"])
        other.command("pause 8857 5m customer reads a card number", user=AGENT)
        refusals = slack.wait_for_call("response_url", containing="not installed", count=2)
    finally:
        other.close()
    assert all(json.dumps(r.payload).count("org admin") for r in refusals)
    refused = _audited(bot, lambda r: r.team_id == OTHER_ORG, count=2)
    assert sorted((r.action, r.outcome, r.workspace_id) for r in refused) == [
        ("click.approve", "refused", OTHER_WORKSPACE), ("command.pause", "refused", OTHER_WORKSPACE),
    ]  # fmt: skip
    assert bot.services.pauses.get(request_id).state is RequestState.PENDING  # type: ignore[union-attr]
    assert recording_system.mute_calls() == []
    assert [r.id for r in bot.services.pauses.open_requests(ORG)] == [request_id]


def test_a_workspace_the_org_install_does_not_cover_is_refused_and_audited(
    org_bot: ServedBot, org: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    bot = _bot(org_bot)
    request_id, card = _ask(org, slack)
    # The lead is on the org's allow-list, but acts from workspace C, which the org admin did not add the app to.
    org.click("recording_approve", str(request_id), user=LEAD, team=LEFT_OUT, message_ts=card["ts"])
    (refusal,) = slack.wait_for_call("response_url", containing="not for this workspace")
    assert LEFT_OUT in refusal.rendered and refusal.payload["response_type"] == "ephemeral"
    wait_until(lambda: slack.home(LEAD), what="the lead's Home to show the new request")
    homes = _homes_published(slack, LEAD)
    org.home_opened(user=LEAD, team=LEFT_OUT)
    refused = _audited(bot, lambda r: r.outcome == "refused", count=2)
    assert sorted((r.action, r.team_id, r.user_id, r.workspace_id) for r in refused) == [
        ("click.approve", ORG, LEAD, LEFT_OUT), ("event.app_home_opened", ORG, LEAD, LEFT_OUT),
    ]  # fmt: skip
    assert _homes_published(slack, LEAD) == homes  # nothing is shown where the bot does not serve
    assert recording_system.mute_calls() == []
    # Slack was asked which workspaces the install covers once, not once per refused request.
    assert len(slack.calls("auth.teams.list")) == 1
    # The org admin adds the app to workspace C: once the list may be read again, the lead decides from there.
    slack.org_workspaces[ORG].append(LEFT_OUT)
    org_bot.clock.advance(seconds=31)
    org.click("recording_approve", str(request_id), user=LEAD, team=LEFT_OUT, message_ts=card["ts"])
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    assert len(recording_system.mute_calls()) == 1
    assert len(slack.calls("auth.teams.list")) == 2


# -- installable mode: the organisation installed org-wide through Slack's OAuth install -------------------


def test_an_org_wide_oauth_install_serves_its_workspaces_with_one_token_and_refuses_everywhere_else(
    installable: Config, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    served = ServedBot(installable).start()
    slack.redirect_url = f"{served.url}/slack/oauth_redirect"
    org = _sender(served, slack, org=ORG, team=WORKSPACE_A)
    other = _sender(served, slack, org=OTHER_ORG, team=OTHER_WORKSPACE)
    try:
        bot = _bot(served)
        slack.org_workspaces[ORG] = [WORKSPACE_A, WORKSPACE_B]
        done = install(served, slack, Installer(team_id="", user_id=ADMIN, enterprise_id=ORG,
                                                enterprise_name="Example Bank", org_wide=True))  # fmt: skip
        assert "Example Bank" in done.text
        (token,) = slack.tokens_of(ORG)
        # The org admin who installed is the first admin of the organisation's one allow-list.
        assert bot.services.authorizer.role_of_user(ORG, ADMIN) is Role.ADMIN
        bot.services.authorizer.set_role(ORG, LEAD, Role.APPROVER, source="test")
        bot.services.authorizer.set_role(ORG, AGENT, Role.REQUESTER, source="test")

        request_id, card = _ask(org, slack)
        assert {c.token for c in slack.calls("chat.postMessage")} == {token}  # the org-wide install's token
        # Another organisation (the same user ID) and a workspace the org admin left out: refused, audited.
        other.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"])
        slack.wait_for_call("response_url", containing="not installed in this workspace")
        org.click("recording_approve", str(request_id), user=LEAD, team=LEFT_OUT, message_ts=card["ts"])
        slack.wait_for_call("response_url", containing="not for this workspace")
        refused = _audited(bot, lambda r: r.outcome == "refused", count=2)
        assert sorted((r.team_id, r.workspace_id, r.action) for r in refused) == [
            (ORG, LEFT_OUT, "click.approve"), (OTHER_ORG, OTHER_WORKSPACE, "click.approve"),
        ]  # fmt: skip
        assert recording_system.mute_calls() == []

        org.click("recording_approve", str(request_id), user=LEAD, team=WORKSPACE_B, message_ts=card["ts"])
        wait_for_state(bot, request_id, RequestState.ACTIVE)
        assert len(recording_system.mute_calls()) == 1
        updates = wait_until(lambda: slack.calls("chat.update"), what="the card to be updated")
        assert {c.token for c in updates} == {token}
    finally:
        org.close()
        other.close()
        served.stop()


def test_the_audit_exports_name_the_workspace_each_row_of_an_org_wide_install_came_from(
    org_bot: ServedBot, org: SlackSender, slack: SimulatedSlack, tmp_path: Path
) -> None:
    bot = _bot(org_bot)
    request_id, card = _ask(org, slack)
    org.click("recording_approve", str(request_id), user=LEAD, team=WORKSPACE_B, message_ts=card["ts"])
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    _audited(bot, lambda r: r.action == "click.approve", count=1)
    config = org_bot.config
    env = {"PATH": os.environ.get("PATH", "")}
    if config.database_url is not None:
        env["DATABASE_URL"] = config.database_url.get_secret_value()
    else:
        env["DATABASE_PATH"] = str(config.database_path)

    exported = run_bot(["audit", "--format", "csv"], env=env, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert exported.stdout.splitlines()[0].startswith("id,at,request_id,team_id,workspace_id,user_id,")
    (approved,) = [r for r in rows if r["action"] == "click.approve"]
    (asked,) = [r for r in rows if r["action"] == "command.pause"]
    assert (approved["team_id"], approved["workspace_id"], approved["user_id"]) == (ORG, WORKSPACE_B, LEAD)
    assert (asked["team_id"], asked["workspace_id"], asked["user_id"]) == (ORG, WORKSPACE_A, AGENT)

    as_json = run_bot(["audit", "--format", "json"], env=env, cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    (approved_record,) = [r for r in records if r["action"] == "click.approve"]
    assert (approved_record["team_id"], approved_record["workspace_id"]) == (ORG, WORKSPACE_B)
    # A row of no workspace of its own (the bot's, or a single workspace's) has the column, empty.
    assert all("workspace_id" in r for r in records)
