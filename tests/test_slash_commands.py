"""/recording over signed HTTP: help, unknown words, the allow-list and its administration, the audit."""

from __future__ import annotations

import time

from bot.app import RecordingBot
from bot.models import Role
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, AGENT, LEAD, STRANGER
from tests.support.pauses import wait_until
from tests.support.slack_requests import TEAM, SlackSender


def _reply(slack: SimulatedSlack, containing: str = "") -> str:
    """The rendered text of the response_url post that contains `containing` (polls, bounded)."""
    return slack.wait_for_call("response_url", containing=containing)[-1].rendered


def test_help_lists_every_subcommand_with_an_example_privately(sender: SlackSender, slack: SimulatedSlack) -> None:
    response = sender.command("help", user=ADMIN)
    assert response.status_code == 200
    call = slack.wait_for_call("response_url", containing="/recording pause")[0]
    assert call.payload["response_type"] == "ephemeral"
    for word in ("pause", "resume", "requests", "settings", "allow", "revoke", "users", "audit"):
        assert f"/recording {word}" in call.rendered
    assert call.text  # plain-text fallback beside the blocks
    assert call.blocks


def test_empty_command_answers_with_help(sender: SlackSender, slack: SimulatedSlack) -> None:
    sender.command("", user=ADMIN)
    assert "/recording resume" in _reply(slack, "/recording resume")


def test_unknown_subcommand_names_the_word_then_shows_help(sender: SlackSender, slack: SimulatedSlack) -> None:
    sender.command("frobnicate 12", user=ADMIN)
    text = _reply(slack, "frobnicate")
    assert "don't know the subcommand `frobnicate`" in text
    assert "/recording pause" in text


def test_user_not_on_allow_list_is_refused_with_admins_named_and_audited(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("users", user=STRANGER)
    call = slack.wait_for_call("response_url", containing="allow-list")[0]
    assert call.payload["response_type"] == "ephemeral"
    assert f"<@{ADMIN}>" in call.rendered
    # Nothing but the private refusal went to Slack.
    assert slack.calls("chat.postMessage") == []
    rows = _wait_for_audit(bot, "command.users")
    assert rows[0].user_id == STRANGER
    assert rows[0].outcome == "refused"
    assert rows[0].team_id == TEAM


def test_same_user_id_from_another_workspace_is_not_allowed(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("users", user=ADMIN, team="T0OTHER")
    assert "not on recording-bot's allow-list" in _reply(slack, "allow-list")
    assert _wait_for_audit(bot, "command.users")[0].outcome == "refused"


def test_admin_allows_revokes_and_lists_users(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command(f"allow <@{LEAD}|lead> approver", user=ADMIN)
    assert f"<@{LEAD}> is now allowed as *approver*" in _reply(slack, "is now allowed")
    assert bot.services.authorizer.role_of_user(TEAM, LEAD) is Role.APPROVER

    sender.command(f"allow <@{AGENT}> requester", user=ADMIN)
    _reply(slack, f"<@{AGENT}> is now allowed")

    sender.command("users", user=ADMIN)
    listing = _reply(slack, "Allow-list")
    assert "Admins" in listing and f"<@{ADMIN}>" in listing
    assert "Approvers" in listing and f"<@{LEAD}>" in listing
    assert "Requesters" in listing and f"<@{AGENT}>" in listing

    sender.command(f"revoke <@{AGENT}>", user=ADMIN)
    assert "no longer on the allow-list" in _reply(slack, "no longer")
    assert bot.services.authorizer.role_of_user(TEAM, AGENT) is None


def test_revoked_user_is_refused_at_once(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> None:
    sender.command(f"allow <@{AGENT}> requester", user=ADMIN)
    _reply(slack, "is now allowed")
    sender.command("help", user=AGENT)  # fills the role cache
    _reply(slack, "/recording pause")
    sender.command(f"revoke <@{AGENT}>", user=ADMIN)
    _reply(slack, "no longer")
    slack.clear()
    sender.command("help", user=AGENT)
    assert "not on recording-bot's allow-list" in _reply(slack, "allow-list")


def test_non_admin_cannot_change_or_list_the_allow_list(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, roles: None
) -> None:
    sender.command(f"allow <@{STRANGER}> admin", user=LEAD)
    assert "needs the admin role" in _reply(slack, "needs the admin role")
    assert bot.services.authorizer.role_of_user(TEAM, STRANGER) is None
    slack.clear()
    sender.command(f"revoke <@{AGENT}>", user=LEAD)
    _reply(slack, "needs the admin role")
    assert bot.services.authorizer.role_of_user(TEAM, AGENT) is Role.REQUESTER
    slack.clear()
    sender.command("users", user=AGENT)
    _reply(slack, "needs the admin role")
    def refused_actions() -> set[str]:
        return {r.action for r in bot.services.audit.recent(20) if r.outcome == "refused"}

    wait_until(lambda: refused_actions() >= {"command.allow", "command.revoke", "command.users"}, what="refusals")


def test_last_admin_cannot_be_revoked_or_demoted(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command(f"revoke <@{ADMIN}>", user=ADMIN)
    assert "without an admin" in _reply(slack, "without an admin")
    slack.clear()
    sender.command(f"allow <@{ADMIN}> requester", user=ADMIN)
    _reply(slack, "without an admin")
    assert bot.services.authorizer.role_of_user(TEAM, ADMIN) is Role.ADMIN
    # With a second admin, the first may step down.
    sender.command(f"allow <@{LEAD}> admin", user=ADMIN)
    _reply(slack, "is now allowed")
    sender.command(f"revoke <@{ADMIN}>", user=ADMIN)
    _reply(slack, "no longer")
    assert bot.services.authorizer.role_of_user(TEAM, ADMIN) is None


def test_bad_allow_input_says_what_to_type(sender: SlackSender, slack: SimulatedSlack) -> None:
    sender.command("allow <@U0PAT|pat> overlord", user=ADMIN)
    text = _reply(slack, "is not a role")
    assert "`overlord` is not a role" in text
    assert "/recording allow @pat approver" in text


def test_audit_shows_recent_entries_to_approvers_only(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, roles: None
) -> None:
    sender.command("help", user=AGENT)
    _reply(slack, "/recording pause")
    _wait_for_audit(bot, "command.help")
    sender.command("audit 5", user=LEAD)
    text = _reply(slack, "Audit log")
    assert "command.help" in text
    assert f"<@{AGENT}>" in text
    slack.clear()
    sender.command("audit", user=AGENT)
    assert "needs the approver role" in _reply(slack, "approver role")


def test_every_command_is_audited_with_team_user_channel_and_text(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    sender.command("help", user=ADMIN, channel="C0AUDIT")
    _reply(slack, "/recording pause")
    row = _wait_for_audit(bot, "command.help")[0]
    assert (row.team_id, row.user_id, row.channel_id, row.command, row.outcome) == (
        TEAM, ADMIN, "C0AUDIT", "help", "ok",
    )  # fmt: skip
    assert row.request_id
    assert row.at.tzinfo is not None


def test_user_text_cannot_ping_the_channel_or_forge_links(sender: SlackSender, slack: SimulatedSlack) -> None:
    sender.command("<!channel> <https://evil.example|click>", user=ADMIN)
    call = slack.wait_for_call("response_url", containing="know the subcommand")[0]
    assert "<!channel>" not in call.rendered
    # Shown as the user typed it, escaped once: a word, not a broadcast.
    assert "subcommand `@channel`" in call.text


def _wait_for_audit(bot: RecordingBot, action: str, timeout: float = 5.0) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in bot.services.audit.recent(50) if r.action == action]
        if rows:
            return rows
        time.sleep(0.02)
    raise AssertionError(f"no audit row {action!r} within {timeout}s")


def test_replies_reuse_kept_alive_connections_to_slack(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    for count in range(1, 11):
        sender.command("help", user=ADMIN)
        slack.wait_for_call("response_url", count=count)
    replies = [r for r in slack.requests if r.path.startswith("/response/")]
    assert len(replies) == 10
    assert all(b"/recording pause" in r.body for r in replies)
    # Bolt's own respond() opens a connection per reply (ten client ports); the bot's keeps them open. The
    # simulator records a reply before answering it, so the next reply may find that connection still busy.
    assert len({r.peer for r in replies}) <= 3
