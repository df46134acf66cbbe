"""Authorization that holds: the audit log is read per workspace, and a revoked user stops deciding at once in
the process that revoked them and within 5 seconds in any other (another instance, the `users` command line)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from bot.app import RecordingBot
from bot.config import Config
from bot.models import AuditQuery, Role, SlackUser
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.services.allow_list import REVOCATION_SECONDS, Authorizer
from bot.services.audit import AuditTrail
from bot.store.allow_list import AllowListStore
from bot.store.audit import AuditStore
from bot.store.sqlite import SqliteDatabase
from tests.conftest import ADMIN, AGENT, LEAD, ServedBot
from tests.support.pauses import audit_rows, buttons, posted_card, wait_until
from tests.support.slack_requests import TEAM, SlackSender

OTHER_TEAM = "T0OTHER"
OTHER_ADMIN = "U0OTHERADMIN"


def _reply(slack: SimulatedSlack, containing: str) -> str:
    return slack.wait_for_call("response_url", containing=containing)[-1].rendered


# -- the audit log, per workspace -----------------------------------------------------------------


def test_audit_shows_only_the_callers_workspace_also_for_break_glass(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, roles: None
) -> None:
    bot.services.authorizer.set_role(OTHER_TEAM, OTHER_ADMIN, Role.ADMIN, source="test")
    sender.command("breakglass 8857 5m other workspace emergency", user=OTHER_ADMIN, team=OTHER_TEAM)
    sender.command("breakglass 8856 5m our own emergency", user=LEAD)
    sender.command("help", user=AGENT)
    wait_until(lambda: len(audit_rows(bot, "breakglass")) == 2, what="both break-glass rows")
    wait_until(lambda: audit_rows(bot, "command.help"), what="the help row")

    sender.command("audit 200", user=ADMIN)
    ours = _reply(slack, "Audit log")
    assert f"<@{AGENT}>" in ours and f"<@{LEAD}>" in ours and "8856" in ours
    assert OTHER_ADMIN not in ours and "8857" not in ours and "other workspace" not in ours
    slack.clear()

    sender.command("audit breakglass", user=ADMIN)
    ours = _reply(slack, "break-glass pauses")
    assert "8856" in ours and OTHER_ADMIN not in ours and "8857" not in ours

    sender.command("audit 200", user=OTHER_ADMIN, team=OTHER_TEAM)
    theirs = _reply(slack, f"<@{OTHER_ADMIN}> *breakglass*")
    assert f"<@{OTHER_ADMIN}>" in theirs and "8857" in theirs
    assert LEAD not in theirs and AGENT not in theirs and "8856" not in theirs


# -- revocation --------------------------------------------------------------------------------


def _users_cli(config: Config, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`recording-bot users …` in its own process, on the bot's database (either engine)."""
    where = (
        {"DATABASE_URL": config.database_url.get_secret_value()} if config.database_url
        else {"DATABASE_PATH": str(config.database_path)}
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "bot", "users", "--team", TEAM, *args],
        env={"PATH": os.environ.get("PATH", ""), **where},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_approver_removed_on_the_command_line_stops_deciding_within_5_seconds(
    served: ServedBot, sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, roles: None,
    recording_system: SimulatedRecordingSystem, tmp_path: Path,
) -> None:  # fmt: skip
    sender.command("pause 8856 5m customer reads a card", user=AGENT)
    request_id = buttons(posted_card(slack))[0]["value"]
    # The lead's role is in the bot's cache now, as on a busy day.
    sender.command("help", user=LEAD)
    _reply(slack, "/recording pause")
    assert bot.services.authorizer.role_of_user(TEAM, LEAD) is Role.APPROVER

    removed = _users_cli(served.config, tmp_path, "remove", LEAD)
    assert removed.returncode == 0, removed.stderr
    # The bot's clock moves on by the promised bound: the cached role must have gone by then.
    served.clock.advance(seconds=REVOCATION_SECONDS)

    sender.click("recording_approve", request_id, user=LEAD)
    assert "not on recording-bot's allow-list" in _reply(slack, "allow-list")
    assert bot.services.pauses.get(int(request_id)).state.value == "pending"  # type: ignore[union-attr]
    assert recording_system.mute_calls() == []


class _AllowListThatPausesMidRead(AllowListStore):
    """The real store on the real database; a read waits after it has its answer, as a slow thread would,
    so that a revocation can land between the read and the caching of what it read."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.read_done = threading.Event()
        self.may_return = threading.Event()
        self.hold_next = False

    def access_of(self, team_id: str, user_id: str):  # type: ignore[no-untyped-def]
        access = super().access_of(team_id, user_id)
        if self.hold_next:
            self.hold_next = False
            self.read_done.set()
            assert self.may_return.wait(5)
        return access


def test_a_lookup_that_raced_a_revocation_does_not_cache_the_old_role(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "bot.db")
    database.migrate()
    allow_list = _AllowListThatPausesMidRead(database=database)
    authorizer = Authorizer(allow_list=allow_list, audit=AuditTrail(store=AuditStore(database=database)))
    authorizer.set_role(TEAM, ADMIN, Role.ADMIN, source="test")
    authorizer.set_role(TEAM, LEAD, Role.APPROVER, source="test")
    lead = SlackUser(team_id=TEAM, user_id=LEAD)

    allow_list.hold_next = True
    seen: list[Role | None] = []
    lookup = threading.Thread(target=lambda: seen.append(authorizer.role_of(lead)))
    lookup.start()
    assert allow_list.read_done.wait(5)
    authorizer.remove(TEAM, LEAD, source="test")  # lands after the read, before the caching
    allow_list.may_return.set()
    lookup.join(5)

    assert seen == [Role.APPROVER]  # that lookup began before the revocation: it may use what it read, once
    assert authorizer.role_of(lead) is None, "the role read before the revocation was cached after it"
    database.close()


def test_an_empty_workspace_filter_reads_the_bots_own_rows_not_every_workspace(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "bot.db")
    database.migrate()
    store = AuditStore(database=database)
    for team in (TEAM, OTHER_TEAM, ""):
        store.record(action="command.help", outcome="ok", team_id=team, user_id=f"U0{team or 'BOT'}")
    assert [r.team_id for r in store.query(AuditQuery(team_id=""))] == [""]
    assert [r.team_id for r in store.query(AuditQuery(team_id=TEAM))] == [TEAM]
    assert len(store.query(AuditQuery())) == 3  # the operator's unscoped read
    database.close()
