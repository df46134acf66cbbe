"""/recording settings over signed HTTP against the Webex simulator, and the pause card's mode warning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Config
from bot.models import RequestState
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    SimulatedWebex,
)
from bot.store.webex_tokens import DatabaseWebexTokenStore
from tests.conftest import AGENT, LEAD, ServedBot
from tests.support.pauses import card_text, wait_for_card, wait_for_state
from tests.support.slack_requests import CHANNEL, SlackSender
from tests.test_pause_flow import _approve, _ask

pytestmark = pytest.mark.usefixtures("roles")


def _answer(slack: SimulatedSlack, containing: str) -> tuple[str, str]:
    call = slack.wait_for_call("response_url", containing=containing)[-1]
    return call.payload["response_type"], call.rendered


@pytest.mark.parametrize(
    "query",
    ["1002", "+14085550102", "Sales Queue", "sales queue"],
)
def test_settings_found_by_extension_number_or_name_are_posted_in_channel(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, query: str
) -> None:
    sender.command(f"settings {query}", user=AGENT)
    kind, text = _answer(slack, "Sales Queue")
    assert kind == "in_channel"
    assert "Always with Pause/Resume" in text
    assert "1002" in text


def test_settings_found_by_webex_id(sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex) -> None:
    (line_id,) = webex.line_ids(extension="1003")
    sender.command(f"settings {line_id}", user=AGENT)
    _kind, text = _answer(slack, "Support Line")
    assert "On Demand with User Initiated Start" in text


def test_settings_private_answers_only_the_asker(sender: SlackSender, slack: SimulatedSlack) -> None:
    sender.command("settings 1002 private", user=AGENT)
    kind, _text = _answer(slack, "Sales Queue")
    assert kind == "ephemeral"


def test_an_ambiguous_extension_lists_the_lines_and_asks_for_an_id(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex
) -> None:
    sender.command("settings 1001", user=AGENT)
    kind, text = _answer(slack, "Front Desk")
    assert kind == "ephemeral"
    assert "Lobby Phone" in text
    for line_id in webex.line_ids(extension="1001"):
        assert line_id in text


def test_no_match_says_so_and_how_to_search(sender: SlackSender, slack: SimulatedSlack) -> None:
    sender.command("settings Nobody Here", user=AGENT)
    kind, text = _answer(slack, "Nobody Here")
    assert kind == "ephemeral"
    assert "extension" in text.lower()


def test_repeated_question_is_answered_from_the_cache(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex
) -> None:
    sender.command("settings 1002", user=AGENT)
    _answer(slack, "Sales Queue")
    upstream = len(webex.requests)
    slack.clear()
    sender.command("settings 1002", user=AGENT)
    _answer(slack, "Sales Queue")
    assert len(webex.requests) == upstream


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (401, "invalid or expired"),
        (403, "spark-admin:telephony_config_read"),
        (404, "no such virtual line"),
        (503, "Webex"),
    ],
)
def test_webex_errors_are_explained_with_the_tracking_id(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, status: int, says: str
) -> None:
    # A 404 comes from the settings of a line that vanished after the list was read.
    webex.fail_with_status(status, times=None, target="/callRecording" if status == 404 else "api")
    sender.command("settings 1002", user=AGENT)
    kind, text = _answer(slack, says)
    assert kind == "ephemeral"
    assert webex.last_tracking_id and webex.last_tracking_id in text
    assert DEFAULT_ACCESS_TOKEN not in text


def test_webex_slow_answer_is_reported_as_unreachable(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex
) -> None:
    webex.answer_slowly(2.0, times=None)
    sender.command("settings 1002", user=AGENT)
    _kind, text = _answer(slack, "Webex")
    assert "did not answer" in text


def test_settings_without_webex_configured_tells_what_to_set(
    make_config: Callable[..., Config], slack: SimulatedSlack
) -> None:
    served = ServedBot(make_config(webex_access_token=None)).start()
    try:
        sender = SlackSender(base_url=served.url, signing_secret="SECRET-signing-8c2d41a9b7e3f6a0",
                             response_url_factory=slack.response_url)  # fmt: skip
        from tests.conftest import ADMIN

        sender.command("settings 1002", user=ADMIN)
        _kind, text = _answer(slack, "WEBEX_ACCESS_TOKEN")
        assert "Webex is not configured" in text
    finally:
        served.stop()


def test_refreshed_webex_tokens_are_kept_in_sqlite_across_restarts(
    make_config: Callable[..., Config], slack: SimulatedSlack, webex: SimulatedWebex
) -> None:
    from tests.conftest import ADMIN, SIGNING_SECRET

    settings = make_config(
        webex_refresh_token=DEFAULT_REFRESH_TOKEN,
        webex_client_id=DEFAULT_CLIENT_ID,
        webex_client_secret=DEFAULT_CLIENT_SECRET,
    )
    served = ServedBot(settings).start()
    try:
        sender = SlackSender(
            base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url
        )
        webex.expire_access_token()  # the configured token stops working
        sender.command("settings 1002", user=ADMIN)
        _answer(slack, "Sales Queue")
        assert len(webex.token_requests()) == 1
        assert served.bot is not None
        stored = DatabaseWebexTokenStore(database=served.bot.database).load()
        assert stored is not None and stored.access_token != DEFAULT_ACCESS_TOKEN
        assert stored.expires_at > datetime.now(UTC) + timedelta(minutes=5)

        served.restart()  # the new process starts from the stored token, not the dead configured one
        slack.clear()
        sender.command("settings 1003", user=ADMIN)
        _answer(slack, "Support Line")
        assert len(webex.token_requests()) == 1
        last = webex.api_requests("/callRecording")[-1]
        assert last.headers["authorization"] == f"Bearer {stored.access_token}"
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("extension", "warning"),
    [("1000", "Always"), ("1004", "Never"), ("3001", "disabled")],
)
def test_pause_card_warns_when_the_line_cannot_pause(
    sender: SlackSender,
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    extension: str,
    warning: str,
) -> None:
    _ask(sender, slack, f"pause {extension} 5m card number")
    card = wait_for_card(slack, ":warning:")
    assert warning in card_text(card)


def test_the_warning_is_on_the_card_when_it_is_first_posted_and_the_card_is_not_edited_for_it(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    _ask(sender, slack, "pause 1000 5m card number")
    (posted,) = [
        c for c in slack.calls("chat.postMessage") if "Pause request #" in c.text and c.payload["channel"] == CHANNEL
    ]
    assert "recording mode is Always" in posted.rendered
    assert slack.calls("chat.update") == []


def test_pause_card_has_no_warning_when_pause_works(
    sender: SlackSender, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem, served: ServedBot
) -> None:
    recording_system.add_call("0b6f9c2e-4d3a-4e1f-9a8b-7c6d5e4f3a2b", ["1002"])
    request_id = _ask(sender, slack, "pause 1002 5m card number")
    assert served.bot is not None
    _approve(sender, slack, request_id, user=LEAD)
    wait_for_state(served.bot, request_id, RequestState.ACTIVE)
    assert ":warning:" not in card_text(wait_for_card(slack, "Recording paused until"))


def test_webex_failure_never_blocks_a_pause_request(
    sender: SlackSender, slack: SimulatedSlack, webex: SimulatedWebex, served: ServedBot
) -> None:
    webex.fail_with_status(503, times=None)
    request_id = _ask(sender, slack, "pause 1000 5m card number")
    assert served.bot is not None
    _approve(sender, slack, request_id, user=LEAD)
    # 1000 has no ongoing call in the recording_system: the pause fails there, not because of Webex.
    failed = wait_for_state(served.bot, request_id, RequestState.FAILED)
    assert failed.error and "Recording system" in failed.error
