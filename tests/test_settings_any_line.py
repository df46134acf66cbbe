"""/recording settings finds any line over signed HTTP against the Webex simulator: people, workspaces and virtual
lines by each key, a mixed-kind pick list and its click, and a pause on a person's or a workspace's line that
cannot pause (the card's warning)."""

from __future__ import annotations

import json

import pytest

from bot.app import RecordingBot
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import SimulatedWebex, person_id, virtual_line_id, workspace_id
from tests.conftest import AGENT
from tests.support.pauses import audit_rows, card_text, wait_for_card, wait_until
from tests.support.slack_requests import SlackSender
from tests.test_pause_flow import _ask

pytestmark = pytest.mark.usefixtures("roles")

JANE = person_id("jane-doe")
TRADING = workspace_id("trading-room-3")
FRONT_DESK_WS = workspace_id("front-desk-austin")
FRONT_DESK_VL = virtual_line_id("front-desk-sj")


def _answer(sender: SlackSender, slack: SimulatedSlack, query: str, containing: str) -> str:
    slack.clear()
    sender.command(f"settings {query}", user=AGENT)
    return slack.wait_for_call("response_url", containing=containing)[-1].rendered


def test_each_kind_of_line_is_found_by_each_key_and_says_what_it_is(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    keys = {
        "Person: Jane Doe": ["4001", "+14085554001", "jane.doe@example.com", "Jane Doe", JANE],
        "Workspace: Trading room 3": ["5003", "+14085555003", "trading room 3", TRADING],
        "Virtual line: Sales Queue": ["1002", "+14085550102", "Sales Queue", virtual_line_id("sales-queue")],
    }
    for title, queries in keys.items():
        for query in queries:
            text = _answer(sender, slack, query, title)
            assert "Always" in text and "Pause and resume" in text, (query, text)
    rows = audit_rows(bot, "command.settings")
    assert {json.loads(r.details).get("line_kind") for r in rows} == {"person", "workspace", "virtual_line"}


def test_a_persons_card_shows_the_recording_access_settings_and_a_workspaces_does_not(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    jane = _answer(sender, slack, "jane.doe@example.com", "Person: Jane Doe")
    assert "What this person may do with their recordings" in jane
    assert "Download" in jane and "Not allowed" in jane
    assert f"Person ID `{JANE}`" in jane
    trading = _answer(sender, slack, "5003", "Workspace: Trading room 3")
    assert "may do with their recordings" not in trading
    assert "pause/resume is *not available*" in trading


def test_a_name_of_lines_of_two_kinds_lists_both_labelled_and_a_click_shows_the_one_picked(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, bot: RecordingBot
) -> None:
    sender.command("settings Front Desk", user=AGENT)
    answer = slack.wait_for_call("response_url", containing="lines match")[-1]
    assert answer.payload["response_type"] == "ephemeral"
    assert "Workspace: Front Desk" in answer.rendered and "Virtual line: Front Desk" in answer.rendered
    shows = [b["accessory"]["value"] for b in answer.blocks if b.get("accessory", {}).get("action_id")]
    assert shows == [FRONT_DESK_WS, FRONT_DESK_VL]

    slack.clear()
    sender.click("recording_settings_pick", FRONT_DESK_WS, user=AGENT)
    shown = slack.wait_for_call("response_url", containing="Workspace: Front Desk")[-1]
    assert shown.payload.get("replace_original") is True
    assert "Austin Branch" in shown.rendered and "Virtual line" not in shown.rendered
    assert webex.api_requests(f"/workspaces/{FRONT_DESK_WS}/features/callRecordings")
    wait_until(lambda: audit_rows(bot, "click.settings_pick"), what="the audit row of the pick")


def test_a_token_without_people_read_is_told_naming_the_scope(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex
) -> None:
    webex.remove_scope("spark-admin:people_read")
    text = _answer(sender, slack, "jane.doe@example.com", "people_read")
    assert "the token lacks the spark-admin:people_read scope" in text
    assert webex.last_tracking_id and webex.last_tracking_id in text


@pytest.mark.parametrize(("target", "warning"), [("4002", "recording mode is Always"), ("5003", "mode is Always")])
def test_a_pause_on_a_persons_or_workspaces_line_that_cannot_pause_warns_on_the_card(
    sender: SlackSender, slack: SimulatedSlack, target: str, warning: str
) -> None:
    # 4002 is Raj Patel's extension, 5003 the Trading room 3 workspace's: both record Always.
    _ask(sender, slack, f"pause {target} 5m card number")
    assert warning in card_text(wait_for_card(slack, ":warning:"))


def test_pause_me_finds_the_persons_line_and_warns_when_it_cannot_pause(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex
) -> None:
    slack.emails[AGENT] = "raj.patel@example.com"
    _ask(sender, slack, "pause me 5m card number")
    card = card_text(wait_for_card(slack, ":warning:"))
    assert "`4002`" in card and "recording mode is Always" in card
    assert webex.api_requests(f"/people/{person_id('raj-patel')}/features/callRecording")
