"""`/recording set`: a line's call-recording settings changed only with approval, over signed HTTP against the
Webex simulator, on both engines: approved (one PUT with only the changed fields, a confirming GET), denied,
two approvals to turn recording off, refused because the line changed meanwhile, 403 and 409, undone, and
the audit rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.app import RecordingBot
from bot.cli.audit import run_audit
from bot.config import Config
from bot.models.changes import ChangeState
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import SimulatedWebex
from bot.sandbox.simulators.webex_people import person_id, workspace_id
from bot.store.changes import ChangeRequestStore
from tests.conftest import ADMIN, AGENT, LEAD, LEAD2, ServedBot
from tests.support.pauses import audit_rows, buttons, card_text, latest_reply, wait_until
from tests.support.slack_requests import TEAM, SlackSender
from tests.test_audit_export import _args

pytestmark = pytest.mark.usefixtures("roles")

_SALES_QUEUE = "/callRecording"  # a virtual line's settings path ends so


def _change_cards(slack: SimulatedSlack) -> list[dict[str, Any]]:
    return [
        m for m in slack.messages()
        if not m["channel"].startswith("D") and m["text"].startswith(("Settings change #", "Undo #"))
    ]  # fmt: skip


def _ask(sender: SlackSender, slack: SimulatedSlack, text: str, user: str = LEAD) -> int:
    before = len(_change_cards(slack))
    assert sender.command(text, user=user).status_code == 200
    card = wait_until(lambda: len(_change_cards(slack)) > before and _change_cards(slack)[-1], what="a change card")
    return int(buttons(card)[0]["value"])


def _card(slack: SimulatedSlack, change_id: int, containing: str = "") -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        for message in _change_cards(slack):
            if f" #{change_id} for " in message["text"].split(":", 1)[0]:
                found = slack.message(message["channel"], message["ts"])
                if found is not None and containing in card_text(found):
                    return found
        return None

    found: dict[str, Any] = wait_until(current, what=f"change #{change_id}'s card saying {containing!r}")
    return found


def _click(sender: SlackSender, slack: SimulatedSlack, action: str, change_id: int, user: str) -> None:
    card = _card(slack, change_id)
    response = sender.click(f"recording_change_{action}", str(change_id), user=user, message_ts=card["ts"],
                            channel=card["channel"])  # fmt: skip
    assert response.status_code == 200


def _state(bot: RecordingBot, change_id: int, state: ChangeState) -> None:
    changes = bot.services.changes
    assert changes is not None

    def reached() -> bool:
        request = changes.get(change_id)
        return request is not None and request.state is state

    wait_until(reached, what=f"change #{change_id} to be {state.value}")


def test_change_approved_sends_one_put_with_only_the_changed_fields_and_reads_again(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    # Sales Queue (1002): Always with Pause/Resume, a Beep, a repeating beep every 15 s.
    change_id = _ask(sender, slack, "set 1002 mode=on-demand repeat-beep=15s notification=announcement agents start it")
    card = card_text(_card(slack, change_id))
    assert "Virtual line: Sales Queue" in card
    assert "Always with Pause/Resume → *On Demand with User Initiated Start*" in card
    assert "Beep → *Play Announcement*" in card
    assert "Repeating beep" not in card  # unchanged: not in the table
    assert webex.puts == []

    _click(sender, slack, "approve", change_id, LEAD2)
    done = card_text(_card(slack, change_id, "Changed in Webex"))
    assert "Webex now reads" in done and "Undo" in done
    (put,) = webex.puts
    assert put["body"] == {
        "record": "On Demand with User Initiated Start",
        "notification": {"type": "Play Announcement", "enabled": True},
    }
    calls = [(r.method, r.path) for r in webex.api_requests(_SALES_QUEUE)]
    put_at = calls.index(next(c for c in calls if c[0] == "PUT"))
    assert calls[put_at - 1][0] == "GET" and calls[put_at + 1][0] == "GET"  # read before, confirmed after

    (applied,) = audit_rows(bot, "change.applied")
    details = json.loads(applied.details)
    assert details["requester"] == LEAD and details["approvers"] == [LEAD2]
    assert details["reason"] == "agents start it"
    assert details["before"] == {"mode": "pause-resume", "notification": "beep"}
    assert details["after"] == {"mode": "on-demand", "notification": "announcement"}
    assert [a["call"] for a in details["answers"]] == ["GET", "GET", "PUT", "GET"]
    assert all(a["trackingid"] for a in details["answers"])

    sender.command("audit changes", user=LEAD)
    listed = latest_reply(slack, "settings-change entries").rendered
    assert "change.applied" in listed and "change.created" in listed and "command.set" not in listed


def test_denied_change_writes_nothing(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot, config: Config,
    capsys: pytest.CaptureFixture[str],
) -> None:
    change_id = _ask(sender, slack, "set 1002 announce-internal=on customers asked")
    _click(sender, slack, "deny", change_id, LEAD)  # nobody decides their own
    assert "another approver must decide" in latest_reply(slack, "decide").rendered
    _click(sender, slack, "deny", change_id, LEAD2)
    assert "Nothing was written" in card_text(_card(slack, change_id, "denied"))
    assert webex.puts == []
    assert len(audit_rows(bot, "change.denied")) == 1
    # The command line lists settings changes alone with --changes.
    assert run_audit(config, _args("--changes", "--format", "json")) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["action"] for row in listed} == {"change.created", "change.denied"}


def test_turning_recording_off_needs_two_approvals_whatever_the_group(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    change_id = _ask(sender, slack, "set 1002 record=off line is being retired")
    assert "needs two approvals" in card_text(_card(slack, change_id))
    _click(sender, slack, "approve", change_id, LEAD2)
    assert "1 of 2" in card_text(_card(slack, change_id, "1 of 2 approvals"))
    assert webex.puts == []
    _click(sender, slack, "approve", change_id, ADMIN)
    _card(slack, change_id, "Changed in Webex")
    assert [p["body"] for p in webex.puts] == [{"enabled": False}]


def test_a_change_is_refused_when_the_line_changed_meanwhile(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    change_id = _ask(sender, slack, "set 1002 mode=always auditors want everything")
    (line_id,) = webex.line_ids(extension="1002")
    settings = webex.line(line_id).call_recording
    webex.set_call_recording(line_id, {**settings, "record": "Never"})  # someone in Control Hub, meanwhile
    _click(sender, slack, "approve", change_id, LEAD2)
    card = card_text(_card(slack, change_id, "Nothing was written"))
    assert "Always with Pause/Resume → now *Never*" in card
    assert webex.puts == []
    _state(bot, change_id, ChangeState.STALE)


def test_a_403_names_the_write_scope_and_a_retry_writes_once_it_is_granted(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    webex.remove_scope("spark-admin:people_write")
    change_id = _ask(sender, slack, f"set {person_id('jane-doe')} announce-pstn=off legal asked")
    assert "Person: Jane Doe" in card_text(_card(slack, change_id))
    _click(sender, slack, "approve", change_id, LEAD2)
    failed = _card(slack, change_id, "did not take the change")
    assert "spark-admin:people_write" in card_text(failed)
    assert [b["action_id"] for b in buttons(failed)] == ["recording_change_retry", "recording_change_abandon"]
    (row,) = audit_rows(bot, "change.failed")
    assert json.loads(row.details)["answers"][-1]["status"] == 403

    webex.add_scope("spark-admin:people_write")
    _click(sender, slack, "retry", change_id, ADMIN)
    _card(slack, change_id, "Changed in Webex")
    assert [p["body"] for p in webex.puts] == [{"startStopAnnouncement": {"pstnCallsEnabled": False}}]


def test_a_409_on_a_workspace_names_the_vendor_and_abandon_ends_it(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    webex.require_vendor_terms(workspace_id("trading-room-3"), "Dubber")
    change_id = _ask(sender, slack, "set 5003 mode=pause-resume traders need to pause")
    assert "Workspace: Trading room 3" in card_text(_card(slack, change_id))
    _click(sender, slack, "approve", change_id, LEAD2)
    failed = card_text(_card(slack, change_id, "did not take the change"))
    assert "Dubber" in failed and "terms of service" in failed
    _click(sender, slack, "abandon", change_id, LEAD2)
    _card(slack, change_id, "Abandoned")
    assert webex.puts == []


def test_undo_asks_again_through_the_same_approval_and_puts_the_before_values_back(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    change_id = _ask(sender, slack, "set 1002 repeat-beep=off notification=none too noisy")
    _click(sender, slack, "approve", change_id, LEAD2)
    _card(slack, change_id, "Changed in Webex")
    before = len(_change_cards(slack))
    _click(sender, slack, "undo", change_id, LEAD2)
    undo = wait_until(lambda: len(_change_cards(slack)) > before and _change_cards(slack)[-1], what="the undo's card")
    undo_id = int(buttons(undo)[0]["value"])
    assert "Puts back" in card_text(undo) and "off → *every 15 s*" in card_text(undo)
    _click(sender, slack, "approve", undo_id, LEAD2)  # the undo's requester may not decide it
    _click(sender, slack, "approve", undo_id, LEAD)
    _card(slack, undo_id, "Changed in Webex")
    assert "Undone by change" in card_text(_card(slack, change_id))
    assert [p["body"] for p in webex.puts] == [
        {"repeat": {"enabled": False}, "notification": {"enabled": False}},
        {"repeat": {"enabled": True, "interval": 15}, "notification": {"type": "Beep", "enabled": True}},
    ]


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("set 1002 moed=never x", "Did you mean `mode`?"),
        ("set 1002 mode=sometimes x", "`mode` takes `always` or `never` or `pause-resume` or `on-demand`"),
        ("set 1002 repeat-beep=5s x", "from 10 to 1800"),
        ("set 1002 mode=never", "Give a reason after the settings"),
        ("set mode=never because", "Say which line first"),
    ],
)
def test_bad_settings_get_the_list_of_what_is_accepted(
    sender: SlackSender, slack: SimulatedSlack, text: str, answer: str
) -> None:
    sender.command(text, user=LEAD)
    assert answer in latest_reply(slack, answer.split("`")[0][:20]).rendered


@pytest.mark.engines("sqlite")
def test_only_approvers_and_admins_may_ask(sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex) -> None:
    sender.command("set 1002 mode=never please", user=AGENT)
    assert "needs the approver role" in latest_reply(slack, "approver role").rendered
    assert webex.puts == []


@pytest.mark.engines("sqlite")
def test_a_change_whose_requester_was_revoked_is_withdrawn_not_written(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    change_id = _ask(sender, slack, "set 1002 mode=always auditors want everything")
    bot.services.authorizer.remove(TEAM, LEAD)
    _click(sender, slack, "approve", change_id, LEAD2)
    assert "no longer on the allow-list" in card_text(_card(slack, change_id, "cancelled"))
    assert webex.puts == []
    assert len(audit_rows(bot, "change.withdrawn")) == 1


@pytest.mark.engines("sqlite")
def test_a_change_whose_writer_stopped_is_offered_for_retry(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, served: ServedBot, bot: RecordingBot
) -> None:
    change_id = _ask(sender, slack, "set 1002 announce-internal=on customers asked")
    # What a process killed between the approval and the PUT leaves behind: the request stuck in `executing`.
    store = ChangeRequestStore(database=bot.database)
    assert store.transition(change_id, from_states=[ChangeState.PENDING], to_state=ChangeState.EXECUTING,
                            now=served.clock())  # fmt: skip
    served.clock.advance(minutes=6)
    failed = _card(slack, change_id, "did not take the change")
    assert "stopped while writing" in card_text(failed)
    _click(sender, slack, "retry", change_id, LEAD2)
    _card(slack, change_id, "Changed in Webex")
    assert [p["body"] for p in webex.puts] == [{"startStopAnnouncement": {"internalCallsEnabled": True}}]


@pytest.mark.engines("sqlite")
def test_a_change_nobody_decides_expires_and_writes_nothing(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, served: ServedBot, bot: RecordingBot
) -> None:
    change_id = _ask(sender, slack, "set 1002 announce-internal=on customers asked")
    served.clock.advance(minutes=11)  # APPROVAL_TIMEOUT_MINUTES is 10
    assert "Nothing was written" in card_text(_card(slack, change_id, "expired"))
    _click(sender, slack, "approve", change_id, LEAD2)
    assert "Too late" in latest_reply(slack, "Too late").rendered
    assert webex.puts == []
