"""One call, several names: with Webex configured, an extension and the numbers of its line are one pause
target, and approvers are told of every other open request on the same call ID or line (also another
workspace's). Without Webex, targets are compared as typed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import RecordingBot
from bot.config import Config
from bot.models import Channels, RecordingTarget, RequestState, Role, TargetKind
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import SimulatedWebex
from bot.store.pauses import PauseRequestStore
from tests.conftest import AGENT, LEAD, LEAD2, ServedBot
from tests.support.pauses import audit_rows, buttons, card_text, cards, wait_for_state, wait_until
from tests.support.slack_requests import SlackSender

pytestmark = pytest.mark.usefixtures("roles")

# The simulated Webex's "Sales Queue": extension 1002, +14085550102, Always with Pause/Resume.
SALES_CALL = "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
OTHER_TEAM = "T0OTHER"
OTHER_AGENT = "U0OTHERAGENT"


@pytest.fixture(autouse=True)
def _sales_call(recording_system: SimulatedRecordingSystem) -> None:
    recording_system.add_call(SALES_CALL, {"1002", "+14085550102"})


def _reply(slack: SimulatedSlack, containing: str) -> str:
    return slack.wait_for_call("response_url", containing=containing)[-1].rendered


def _ask(sender: SlackSender, slack: SimulatedSlack, text: str, *, user: str = AGENT, team: str | None = None) -> int:
    before = len(cards(slack))
    sender.command(text, user=user, team=team)
    card = wait_until(lambda: len(cards(slack)) > before and cards(slack)[-1], what="a new approval card")
    return int(buttons(card)[0]["value"])


def _card_of(slack: SimulatedSlack, request_id: int) -> str:
    """The card of one request as it stands now (after any chat.update)."""
    for card in cards(slack):
        if f"#{request_id}*" in card["text"] or (buttons(card) and buttons(card)[0]["value"] == str(request_id)):
            current = slack.message(card["channel"], card["ts"])
            assert current is not None
            return card_text(current)
    raise AssertionError(f"no card for request #{request_id}")


def _open_requests(bot: RecordingBot, team: str) -> list[Any]:
    return bot.services.pauses.open_requests(team)


# -- the clash rule across names -------------------------------------------------------------------


def test_a_number_of_a_line_with_a_pending_request_on_its_extension_is_refused(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    first = _ask(sender, slack, "pause 1002 5m customer reads a card")
    for alias in ("+14085550102", "14085550102"):
        slack.clear()
        sender.command(f"pause {alias} 5m customer reads a card", user=LEAD2)
        refusal = _reply(slack, "waiting for approval")
        assert f"#{first}" in refusal and "same Webex line as 1002" in refusal
    assert [r.id for r in _open_requests(bot, "T0TEST")] == [first]
    assert len(audit_rows(bot, "request.created")) == 1


def test_an_active_pause_is_one_target_for_pause_breakglass_extend_and_resume_by_any_name(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, recording_system: SimulatedRecordingSystem
) -> None:
    pause = _ask(sender, slack, "pause +14085550102 5m customer reads a card")
    sender.click("recording_approve", str(pause), user=LEAD)
    wait_for_state(bot, pause, RequestState.ACTIVE)
    assert recording_system.mute_state(SALES_CALL) == 3

    sender.command("pause 1002 5m again", user=AGENT)
    assert f"is already paused (request #{pause})" in _reply(slack, "already paused")
    sender.command("breakglass 1002 5m emergency", user=LEAD2)
    assert f"request #{pause}" in _reply(slack, "nothing to break glass for")

    sender.command("extend 1002 5m still reading", user=AGENT)
    extension = wait_until(
        lambda: [m for m in slack.messages() if m["text"].startswith("More-time request #")], what="the extension card"
    )[-1]
    assert f"on pause #{pause}" in card_text(extension)

    sender.command("resume 1002", user=AGENT)
    resumed = wait_for_state(bot, pause, RequestState.RESUMED)
    assert resumed.resumed_by == AGENT
    assert recording_system.mute_state(SALES_CALL) == 0
    # The resume went to the recording system by the name the pause was made with.
    assert recording_system.mute_calls()[-1]["extension"] == "+14085550102"


def test_two_names_of_one_line_asked_at_once_make_one_request(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    barrier = threading.Barrier(2)

    def ask(target: str, user: str) -> None:
        barrier.wait()
        sender.command(f"pause {target} 5m customer reads a card", user=user)

    threads = [threading.Thread(target=ask, args=a) for a in (("1002", AGENT), ("+14085550102", LEAD2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    wait_until(lambda: len(slack.calls("response_url")) >= 2, what="both answers")
    assert len(_open_requests(bot, "T0TEST")) == 1


def test_the_database_refuses_a_second_open_pause_on_one_line_whatever_its_name(engine: str, bot: RecordingBot) -> None:
    store = PauseRequestStore(database=bot.database)
    now = datetime.now(UTC)

    def create(target: str, team: str = "T0TEST") -> object:
        return store.create(
            team_id=team, channel_id="C0OPS", requester_id=AGENT, target=RecordingTarget(TargetKind.EXTENSION, target),
            channels=Channels.BOTH, duration_seconds=60, reason="r", created_at=now,
            expires_at=now + timedelta(minutes=5), line_id="LINE-SALES",
        )  # fmt: skip

    assert create("1002") is not None
    assert create("+14085550102") is None
    assert create("1002", team=OTHER_TEAM) is not None  # another workspace's request is its own


def test_a_request_stored_while_webex_was_down_still_clashes_once_webex_answers(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot, webex: SimulatedWebex
) -> None:
    webex.fail_with_status(503, times=None)
    first = _ask(sender, slack, "pause 1002 5m customer reads a card")
    assert bot.services.pauses.get(first).line_id is None  # type: ignore[union-attr]
    webex.clear_faults()
    sender.command("pause +14085550102 5m customer reads a card", user=LEAD2)
    assert f"#{first}" in _reply(slack, "waiting for approval")


def test_without_webex_targets_are_compared_as_typed(
    make_config: Callable[..., Config], slack: SimulatedSlack, engine: str
) -> None:
    served = ServedBot(make_config(webex_access_token=None)).start()
    try:
        assert served.bot is not None
        for user, role in ((AGENT, Role.REQUESTER), (LEAD2, Role.APPROVER)):
            served.bot.services.authorizer.set_role("T0TEST", user, role, source="test")
        sender = SlackSender(base_url=served.url, signing_secret=served.config.slack_signing_secret.get_secret_value(),  # type: ignore[union-attr]
                             response_url_factory=slack.response_url)  # fmt: skip
        _ask(sender, slack, "pause 1002 5m customer reads a card")
        _ask(sender, slack, "pause +14085550102 5m customer reads a card", user=LEAD2)
        assert len(served.bot.services.pauses.open_requests("T0TEST")) == 2
        sender.close()
    finally:
        served.stop()


# -- telling the approver ----------------------------------------------------------------------------


def test_a_name_that_fits_several_lines_is_asked_with_a_warning_on_both_cards_and_in_the_dm(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    # Extension 1001 is San Jose's Front Desk (+14085550101) and London's Lobby Phone: maybe the same line.
    first = _ask(sender, slack, "pause +14085550101 5m customer reads a card")
    second = _ask(sender, slack, "pause 1001 5m customer reads a card", user=LEAD2)
    warning = "may be on the same Webex line"
    assert f"Open request #{first} (`+14085550101`) {warning}" in _card_of(slack, second)
    wait_until(lambda: f"Open request #{second} (`1001`) {warning}" in _card_of(slack, first), what="the first card")
    notices = [m for m in slack.messages() if f"#{second}" in m["text"] and "waits for your decision" in m["text"]]
    assert notices and all(f"Open request #{first}" in card_text(m) for m in notices)
    created = [r for r in audit_rows(bot, "request.created") if f'"request": {second}' in r.details]
    assert '"same_call"' in created[0].details


def test_another_workspace_on_the_same_line_or_call_is_told_without_its_request_number(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    bot.services.authorizer.set_role(OTHER_TEAM, OTHER_AGENT, Role.REQUESTER, source="test")
    ours = _ask(sender, slack, "pause 1002 5m customer reads a card")
    theirs = _ask(sender, slack, "pause +14085550102 5m their customer", user=OTHER_AGENT, team=OTHER_TEAM)
    told = "An open request in another workspace"
    assert f"{told} (`1002`) is on the same call or Webex line" in _card_of(slack, theirs)
    wait_until(lambda: f"{told} (`+14085550102`)" in _card_of(slack, ours), what="our card to be told")
    assert f"#{theirs}" not in _card_of(slack, ours) and f"#{ours}" not in _card_of(slack, theirs)

    ours_by_call = _ask(sender, slack, f"pause {SALES_CALL} 5m by call ID", user=LEAD2)
    theirs_by_call = _ask(sender, slack, f"pause {SALES_CALL} 5m theirs by call ID", user=OTHER_AGENT, team=OTHER_TEAM)
    assert f"{told} (`{SALES_CALL}`)" in _card_of(slack, theirs_by_call)
    wait_until(lambda: f"{told} (`{SALES_CALL}`)" in _card_of(slack, ours_by_call), what="the call-ID card")
