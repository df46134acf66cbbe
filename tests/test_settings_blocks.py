"""Line-settings messages and LineSettingsService, fed by the real client against the simulated Webex API."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.blocks.line_settings import (
    MAX_LISTED_LINES,
    ambiguous_lines_message,
    no_line_message,
    pause_warning_text,
    settings_message,
    stored_warning_text,
)
from bot.blocks.text import escape
from bot.clients.errors import UpstreamError
from bot.clients.webex import WebexClient
from bot.models import CallRecordingSettings, Invocation, Line, PauseBlocker, Role, SlackUser, VirtualLine
from bot.redaction import SecretRedactor
from bot.sandbox.simulators.webex import SimulatedWebex, virtual_line_id
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.services.line_settings import LineAmbiguous, LineFound, LineNotFound, LineSettingsService
from bot.store.allow_list import AllowListStore
from bot.store.audit import AuditStore
from bot.store.sqlite import SqliteDatabase
from tests.support import web

ACCESS_TOKEN = "WXACCESS-LEAKCHECK-blocks-5a7c9e1f"

MAIN_RECEPTION = virtual_line_id("main-reception")
SALES_QUEUE = virtual_line_id("sales-queue")
SUPPORT_LINE = virtual_line_id("support-line")
BILLING_DESK = virtual_line_id("billing-desk")
HELP_DESK_AUSTIN = virtual_line_id("help-desk-austin")
LOBBY_LONDON = virtual_line_id("lobby-london")
RND_LAB = virtual_line_id("rnd-lab")


@pytest.fixture(scope="module")
def _server() -> Iterator[SimulatedWebex]:
    server = SimulatedWebex(access_token=ACCESS_TOKEN)
    with server:
        yield server


@pytest.fixture
def sim(_server: SimulatedWebex) -> SimulatedWebex:
    _server.reset()
    return _server


@pytest.fixture
def client(sim: SimulatedWebex) -> Iterator[WebexClient]:
    with web.client(timeout=2.0) as http:
        yield WebexClient(
            http=http,
            base_url=sim.base_url,
            access_token=ACCESS_TOKEN,
            redactor=SecretRedactor(),
            sleep=lambda seconds: None,
            page_size=5,
        )


ASKER = Invocation(user=SlackUser(team_id="T0TEST", user_id="U0AGENT"), channel_id="C0OPS", request_id="r1")


@pytest.fixture
def service(client: WebexClient, tmp_path: Path) -> Iterator[LineSettingsService]:
    database = SqliteDatabase(tmp_path / "recording-bot.db")
    database.migrate()
    audit = AuditTrail(store=AuditStore(database=database))
    authorizer = Authorizer(allow_list=AllowListStore(database=database), audit=audit)
    authorizer.set_role(ASKER.team_id, ASKER.user_id, Role.REQUESTER, source="test")
    yield LineSettingsService(webex=client, authorizer=authorizer)
    database.close()


def _warning(blocker: PauseBlocker | None) -> str | None:
    return stored_warning_text(blocker.value) if blocker else None


@pytest.fixture
def render(client: WebexClient) -> Callable[[str], tuple[str, list[dict[str, Any]]]]:
    def build(line_id: str) -> tuple[str, list[dict[str, Any]]]:
        [line] = client.find_lines(line_id)
        return settings_message(line, client.get_line_recording(line))

    return build


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn/plain text string in the blocks."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return found


def assert_within_slack_limits(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            for field in block.get("fields", []):
                assert len(field["text"]) <= 2000


def line(**fields: Any) -> Line:
    return Line.of_virtual_line(VirtualLine.model_validate({"id": virtual_line_id(str(fields)), **fields}))


# -- the settings message -------------------------------------------------------------------------


def test_pause_resume_line_shows_mode_meaning_and_every_setting(
    render: Callable[[str], tuple[str, list[dict[str, Any]]]],
) -> None:
    fallback, blocks = render(SALES_QUEUE)
    shown = all_text(blocks)

    assert "Sales Queue" in shown and "ext. 1002" in shown and "+14085550102" in shown
    assert "Always with Pause/Resume" in shown
    assert "can pause and resume" in shown
    assert "*Recording*\\nOn — calls on this line are recorded" in shown
    assert "*Mode*\\nAlways, with pause and resume" in shown
    assert "*Pause and resume*\\nAvailable" in shown
    assert "*Voicemail*\\nRecorded" in shown
    assert "*When paused or resumed*\\nThe people on the call hear a beep" in shown
    assert "*Reminder tone*\\nOn — a tone every 15 seconds reminds everyone the call is recorded" in shown
    assert "Calls inside the company: not announced" in shown
    assert "Calls from or to outside numbers: announced" in shown
    assert "WSWYZ25455" in shown and "a34iidrh5o@64941297.int10.bcld.webex.com" in shown
    assert SALES_QUEUE in shown
    assert "Selective recording" not in shown
    assert "not set" not in shown
    assert fallback == (
        "Call recording for Virtual line: Sales Queue (ext. 1002): recording on; mode Always with Pause/Resume; "
        "pause and resume allowed."
    )
    assert_within_slack_limits(blocks)


def test_settings_fields_are_words_a_team_lead_reads_not_switch_values(
    render: Callable[[str], tuple[str, list[dict[str, Any]]]],
) -> None:
    for line_id in (SALES_QUEUE, MAIN_RECEPTION, SUPPORT_LINE, BILLING_DESK, HELP_DESK_AUSTIN):
        _, blocks = render(line_id)
        values = [field["text"].split("\n", 1)[1] for block in blocks for field in block.get("fields", [])]
        for value in values:
            # No bare "none, off" / "on" / "every 15 s": each value is a sentence or a name.
            assert value not in ("on", "off", "none", "recorded", "not recorded"), value
            assert ", off" not in value and ", on" not in value and " s," not in value, value

    _, never = render(BILLING_DESK)
    assert "*Mode*\\nNever — calls are not recorded" in all_text(never)
    assert "*When paused or resumed*\\nNothing — the people on the call are not told" in all_text(never)
    assert "*Reminder tone*\\nOff — no reminder tone during the call" in all_text(never)


def test_always_line_says_pause_is_not_available(
    render: Callable[[str], tuple[str, list[dict[str, Any]]]],
) -> None:
    fallback, blocks = render(MAIN_RECEPTION)
    shown = all_text(blocks)

    assert "*Mode*\\nAlways — every call, no controls" in shown
    assert "pause/resume is *not available*" in shown
    assert "*Pause and resume*\\n*Not available* on this line" in shown
    assert "pause and resume not available" in fallback


def test_on_demand_line_shows_selective_recording_and_star_44(
    render: Callable[[str], tuple[str, list[dict[str, Any]]]],
) -> None:
    _, blocks = render(SUPPORT_LINE)
    shown = all_text(blocks)

    assert "On Demand with User Initiated Start" in shown
    assert "*Mode*\\nOn demand — the user starts it with `*44`" in shown
    assert "The people on the call hear an announcement" in shown
    assert "Selective recording" in shown
    assert "*Inbound external calls*\\nRecorded" in shown
    assert "*Inbound internal calls*\\nNot recorded" in shown
    assert_within_slack_limits(blocks)


def test_never_and_disabled_lines_say_so(render: Callable[[str], tuple[str, list[dict[str, Any]]]]) -> None:
    _, never = render(BILLING_DESK)
    _, disabled = render(HELP_DESK_AUSTIN)

    assert "calls are not recorded" in all_text(never)
    assert "*Recording*\\nOff — calls on this line are not recorded" in all_text(disabled)
    assert "turned off" in all_text(disabled)


def test_omitted_fields_are_shown_as_not_set(render: Callable[[str], tuple[str, list[dict[str, Any]]]]) -> None:
    _, blocks = render(LOBBY_LONDON)
    shown = all_text(blocks)

    for label in (
        "Voicemail",
        "When paused or resumed",
        "Reminder tone",
        "Recording starts or stops",
        "Recording provider",
        "Provider's group",
        "Provider's ID for this line",
    ):
        assert f"*{label}*\\nnot set in Webex" in shown
    assert "London Office" in shown
    assert_within_slack_limits(blocks)


def test_upstream_text_is_escaped_so_it_cannot_ping_or_link(
    render: Callable[[str], tuple[str, list[dict[str, Any]]]],
) -> None:
    fallback, blocks = render(RND_LAB)

    for text in [*texts(blocks), fallback]:
        assert "<!channel>" not in text
        assert "<!here>" not in text
        assert "<Lab>" not in text
    shown = all_text(blocks)
    assert "R&amp;D &lt;Lab&gt; &lt;!channel&gt;" in shown
    assert "&lt;!here&gt; &amp; co" in shown
    # Escaped once: Slack shows "R&D <Lab>", never "R&amp;D".
    assert "R&amp;D &lt;Lab&gt; &lt;!channel&gt;" in fallback
    assert "&amp;amp;" not in shown + fallback and "&amp;lt;" not in shown + fallback


def test_an_unknown_mode_and_an_empty_answer_render_safely() -> None:
    lobby = line(firstName="Lobby", number={"extension": "1001"})
    _, blocks = settings_message(lobby, CallRecordingSettings.model_validate({"record": "Smart <b>"}))
    shown = all_text(blocks)
    assert "Smart &lt;b&gt;" in shown and "does not know" in shown

    _, blocks = settings_message(lobby, CallRecordingSettings())
    shown = all_text(blocks)
    assert "*Recording*\\nnot set in Webex" in shown and "*Mode*\\nnot set in Webex" in shown
    assert_within_slack_limits(blocks)


def test_huge_upstream_values_stay_within_slack_limits() -> None:
    huge = "x" * 10_000 + "<&>"
    lobby = line(firstName=huge, lastName=huge, number={"extension": huge, "external": huge})
    settings = CallRecordingSettings.model_validate(
        {"record": huge, "serviceProvider": huge, "externalGroup": huge, "externalIdentifier": huge}
    )

    fallback, blocks = settings_message(lobby, settings)

    assert_within_slack_limits(blocks)
    assert len(fallback) < 4000


# -- lookup outcomes ------------------------------------------------------------------------------


def test_ambiguous_message_lists_every_match_with_its_id(client: WebexClient) -> None:
    lines = client.find_lines("1001")

    fallback, blocks = ambiguous_lines_message("1001", lines)
    shown = all_text(blocks)

    assert "2 virtual lines match" in shown
    for match in lines:
        assert match.id in shown
        assert match.id in fallback
    assert "San Jose HQ" in shown and "London Office" in shown
    assert "no number" in shown  # the London lobby has only an extension
    assert "/recording settings &lt;ID&gt;" in shown


def test_ambiguous_message_is_capped_and_says_how_many_more() -> None:
    lines = [line(firstName="Agent", lastName=str(n), number={"extension": "5000"}) for n in range(70)]

    fallback, blocks = ambiguous_lines_message("Agent <!channel>", lines)
    shown = all_text(blocks)

    assert_within_slack_limits(blocks)
    assert f"and {70 - MAX_LISTED_LINES} more" in shown
    assert f"and {70 - MAX_LISTED_LINES} more" in fallback
    assert "<!channel>" not in shown and "<!channel>" not in fallback


def test_no_line_message_suggests_how_to_search_and_escapes_the_query() -> None:
    fallback, blocks = no_line_message("<!here> nobody")
    shown = all_text(blocks)

    assert "No person, workspace or virtual line matches" in shown
    assert "&lt;!here&gt; nobody" in shown
    assert "<!here>" not in shown and "<!here>" not in fallback
    for hint in ("Webex ID", "extension", "+14155550100", "e-mail", "Jane Doe"):
        assert hint in shown


def test_escape_handles_the_three_special_characters() -> None:
    assert escape("a & b <!channel> <http://x|y>") == "a &amp; b &lt;!channel&gt; &lt;http://x|y&gt;"


# -- pause warnings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"enabled": True, "record": "Always"}, "recording mode is Always — pause/resume is not available"),
        ({"enabled": True, "record": "Never"}, "recording mode is Never"),
        ({"enabled": False, "record": "Always with Pause/Resume"}, "call recording is disabled"),
        ({"enabled": True, "record": "Always with Pause/Resume"}, None),
        ({"enabled": True, "record": "On Demand with User Initiated Start"}, None),
        ({}, None),
    ],
)
def test_pause_warning_text(settings: dict[str, Any], expected: str | None) -> None:
    warning = pause_warning_text(CallRecordingSettings.model_validate(settings))
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and warning.startswith(expected)


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        ("1000", "recording mode is Always"),
        ("1004", "recording mode is Never"),
        ("3001", "call recording is disabled"),
        ("1002", None),  # Always with Pause/Resume
        ("1003", None),  # On Demand
        ("1001", None),  # two lines share it: no guess
        ("4242", None),  # no such line
    ],
)
def test_service_pause_warning_per_line(service: LineSettingsService, extension: str, expected: str | None) -> None:
    warning = _warning(service.pause_blocker(extension))
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and warning.startswith(expected)


@pytest.mark.parametrize("fault", ["503", "html", "401"])
def test_service_pause_warning_is_none_when_webex_fails(
    sim: SimulatedWebex, service: LineSettingsService, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    if fault == "503":
        sim.fail_with_status(503, times=None)
    elif fault == "html":
        sim.answer_html(times=None)
    else:
        sim.expire_access_token()

    assert service.pause_blocker("1000") is None
    assert "no pause warning for '1000'" in caplog.text
    assert ACCESS_TOKEN not in caplog.text


# -- lookups --------------------------------------------------------------------------------------


def test_lookup_found_reads_the_settings(service: LineSettingsService) -> None:
    result = service.lookup(ASKER, "+14085550103")

    assert isinstance(result, LineFound)
    assert result.line.id == SUPPORT_LINE
    assert result.settings.record == "On Demand with User Initiated Start"


def test_lookup_ambiguous_reads_no_settings(sim: SimulatedWebex, service: LineSettingsService) -> None:
    result = service.lookup(ASKER, "Help Desk")

    assert isinstance(result, LineAmbiguous)
    assert len(result.lines) == 2
    assert sim.api_requests("/callRecording") == []


def test_lookup_none(service: LineSettingsService) -> None:
    assert service.lookup(ASKER, "Nobody Here") == LineNotFound(query="Nobody Here")


def test_lookup_lets_upstream_errors_reach_the_listener(sim: SimulatedWebex, service: LineSettingsService) -> None:
    sim.fail_with_status(403)

    with pytest.raises(UpstreamError):
        service.lookup(ASKER, "1002")


def test_logs_of_a_lookup_carry_no_token(service: LineSettingsService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service.lookup(ASKER, "1002")
    assert ACCESS_TOKEN not in caplog.text
