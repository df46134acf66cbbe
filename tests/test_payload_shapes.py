"""The Slack payloads the tests send (tests/payloads/): each parses, has the fields Slack documents for
its type, fills in completely, and, signed as Slack signs, is taken by the bot end to end. The package's
copy (what the console and the benchmark send) is the same files, byte for byte."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.app import RecordingBot
from bot.models import RequestState
from bot.sandbox.simulators import slack_sender
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.slack_sender import PACKAGE_PAYLOADS
from tests.conftest import AGENT, LEAD
from tests.support.pauses import buttons, card_text, posted_card, wait_for_state, wait_until
from tests.support.slack_requests import CHANNEL, PAYLOADS, TEAM, SlackPayloads, SlackSender

RESPONSE_URL = "https://hooks.slack.com/actions/T0TEST/1234/abcd"
GOOD_ANSWERS = {"target": "8856", "duration": "5m", "channels": "caller", "reason": "customer reads a card number"}


def _fields(text: str) -> list[str]:
    """Dotted paths (`actions.0.value`), written as Slack's docs list them: separated by spaces."""
    return text.split()


# Every view Slack sends back (in view_submission, and block_actions from a modal or the Home tab).
VIEW = [
    f"view.{field}"
    for field in _fields(
        "id team_id type blocks private_metadata callback_id state.values hash title clear_on_close notify_on_close"
        " close submit previous_view_id root_view_id app_id external_id app_installed_team_id bot_id"
    )
]
INTERACTIVE = _fields(
    "type token team.id team.domain user.id user.username user.team_id trigger_id enterprise is_enterprise_install"
)
BLOCK_ACTIONS = [
    *INTERACTIVE,
    *_fields("api_app_id container.type actions.0.type actions.0.action_id actions.0.block_id actions.0.value"),
    "actions.0.action_ts",
]
EVENT_CALLBACK = _fields(
    "token team_id api_app_id type event.type event_id event_time authorizations event_context is_ext_shared_channel"
)
SLASH_COMMAND = _fields(
    "token team_id team_domain channel_id channel_name user_id user_name command text api_app_id"
    " is_enterprise_install response_url trigger_id"
)
ON_A_MESSAGE = _fields(
    "container.message_ts container.channel_id container.is_ephemeral channel.id channel.name message.type"
    " message.ts message.text state.values response_url"
)
MESSAGE_ACTION = _fields(
    "action_ts callback_id channel.id channel.name message_ts message.type message.ts message.text message.user"
    " response_url"
)
NO_REPLY_PATH = ["channel", "message", "response_url"]

# Per file: its `type` (the `command` for a slash command), the fields Slack's docs give it, and the
# fields Slack leaves out of it (a reply path the bot must not expect there).
SHAPES: dict[str, tuple[str, list[str], list[str]]] = {
    "slash_command": ("/recording", SLASH_COMMAND, ["payload"]),
    "block_actions_message": ("block_actions", [*BLOCK_ACTIONS, *ON_A_MESSAGE], ["view"]),
    "block_actions_modal": ("block_actions", [*BLOCK_ACTIONS, "container.view_id", *VIEW], NO_REPLY_PATH),
    "block_actions_home": ("block_actions", [*BLOCK_ACTIONS, "container.view_id", *VIEW], NO_REPLY_PATH),
    "view_submission": ("view_submission", [*INTERACTIVE, "api_app_id", *VIEW, "response_urls"], ["channel"]),
    "shortcut_global": ("shortcut", [*INTERACTIVE, "action_ts", "callback_id"], ["channel", "message"]),
    "shortcut_message": ("message_action", [*INTERACTIVE, *MESSAGE_ACTION], []),
    "event_app_home_opened": (
        "event_callback",
        [*EVENT_CALLBACK, "event.user", "event.channel", "event.tab", "event.event_ts", "event.view.id"],
        [],
    ),
    "event_app_uninstalled": ("event_callback", EVENT_CALLBACK, []),
    "event_tokens_revoked": ("event_callback", [*EVENT_CALLBACK, "event.tokens.oauth", "event.tokens.bot"], []),
    "url_verification": ("url_verification", ["token", "challenge", "type"], []),
}
EVENT_TYPES = {
    "event_app_home_opened": "app_home_opened",
    "event_app_uninstalled": "app_uninstalled",
    "event_tokens_revoked": "tokens_revoked",
}

MODAL: dict[str, Any] = {
    "id": "V0FORM",
    "type": "modal",
    "callback_id": "recording_pause",
    "private_metadata": json.dumps({"channel": CHANNEL}),
    "title": {"type": "plain_text", "text": "Pause a recording"},
    "submit": {"type": "plain_text", "text": "Ask for approval"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Reason"},
         "element": {"type": "plain_text_input", "action_id": "reason"}},
    ],
}  # fmt: skip


def _at(payload: Any, path: str) -> Any:
    """The value at a dotted path (`actions.0.value`); KeyError naming the path when it is not there."""
    node = payload
    for part in path.split("."):
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, TypeError):
            raise KeyError(path) from None
    return node


def _missing(payload: dict[str, Any], paths: list[str]) -> list[str]:
    missing = []
    for path in paths:
        try:
            _at(payload, path)
        except KeyError:
            missing.append(path)
    return missing


def _filled(name: str) -> dict[str, Any]:
    """Template `name` filled in as the sender fills it, read back from the body it would post."""
    payloads = SlackPayloads(PAYLOADS)
    common = {"user": AGENT, "team": TEAM}
    message_ts = "1732440000.000200"
    bodies: dict[str, Callable[[], bytes]] = {
        "slash_command": lambda: slack_sender.command_body(
            "help", response_url=RESPONSE_URL, channel=CHANNEL, payloads=payloads, **common
        ),
        "block_actions_message": lambda: slack_sender.click_body(
            "recording_approve", "7", response_url=RESPONSE_URL, channel=CHANNEL, payloads=payloads, **common
        ),
        "block_actions_modal": lambda: slack_sender.modal_click_body(
            MODAL, "recording_approve", "7", answers={"reason": "card"}, payloads=payloads, **common
        ),
        "block_actions_home": lambda: slack_sender.home_click_body(
            "recording_approve", "7", payloads=payloads, **common
        ),
        "view_submission": lambda: slack_sender.view_submission_body(
            MODAL, {"reason": "card"}, payloads=payloads, **common
        ),
        "shortcut_global": lambda: slack_sender.shortcut_body("recording_pause_shortcut", payloads=payloads, **common),
        "shortcut_message": lambda: slack_sender.message_shortcut_body(
            "recording_pause_message",
            channel=CHANNEL,
            response_url=RESPONSE_URL,
            message_ts=message_ts,
            message_user=LEAD,
            message_text="a message",
            payloads=payloads,
            **common,
        ),
        "event_app_home_opened": lambda: slack_sender.event_body(
            {"type": "app_home_opened", "user": AGENT, "channel": "D0AGENT", "tab": "home"},
            team=TEAM,
            payloads=payloads,
        ),
        "event_app_uninstalled": lambda: slack_sender.event_body(
            {"type": "app_uninstalled"}, team=TEAM, payloads=payloads
        ),
        "event_tokens_revoked": lambda: slack_sender.tokens_revoked_body(
            oauth=[AGENT], bot=["U0BOT"], team=TEAM, payloads=payloads
        ),
        "url_verification": lambda: slack_sender.url_verification_body("3eZbrw1aBm2r", payloads=payloads),
    }
    body = bodies[name]().decode()
    if body.startswith("{"):
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    form = {key: values[0] for key, values in parse_qs(body).items()}
    return json.loads(form["payload"]) if "payload" in form else form


# -- the files ---------------------------------------------------------------------------------------


def test_there_is_one_file_per_shape_and_each_parses_to_an_object() -> None:
    files = sorted(PAYLOADS.glob("*.json"))
    assert sorted(p.stem for p in files) == sorted(SHAPES)
    for path in files:
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path.name


def test_the_packages_copy_is_the_same_files_byte_for_byte() -> None:
    """The console and the benchmark send the package's copy; tests/payloads/ is the one that is edited."""

    def contents(directory: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(directory.glob("*.json"))}

    ours, packaged = contents(PAYLOADS), contents(PACKAGE_PAYLOADS)
    differing = sorted(name for name in ours.keys() | packaged.keys() if ours.get(name) != packaged.get(name))
    assert not differing, f"copy tests/payloads/*.json to bot/sandbox/simulators/payloads/ ({differing} differ)"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_file_has_the_fields_slack_documents_for_its_type(name: str) -> None:
    kind, required, absent = SHAPES[name]
    template = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    assert template.get("command" if name == "slash_command" else "type") == kind
    assert _missing(template, required) == []
    assert [field for field in absent if field in template] == []
    if name in EVENT_TYPES:
        assert template["event"]["type"] == EVENT_TYPES[name]
    if "view.type" in required:
        assert template["view"]["type"] == ("home" if name == "block_actions_home" else "modal")


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_file_fills_in_completely_with_the_requests_own_values(name: str) -> None:
    payload = _filled(name)
    assert "{{" not in json.dumps(payload)
    assert _missing(payload, SHAPES[name][1]) == []
    team = payload.get("team_id") or (payload.get("team") or {}).get("id")
    if name != "url_verification":
        assert team == TEAM
    if name in EVENT_TYPES:
        assert isinstance(payload["event_time"], int) and re.fullmatch(r"Ev[0-9A-Z]+", payload["event_id"])


def test_a_request_value_is_put_in_whole_so_slack_types_are_kept() -> None:
    payload = _filled("view_submission")
    assert payload["view"]["state"]["values"] == {"reason": {"reason": {"type": "plain_text_input", "value": "card"}}}
    assert payload["view"]["title"] == MODAL["title"] and payload["view"]["notify_on_close"] is False
    assert payload["view"]["id"] == payload["view"]["root_view_id"] == "V0FORM"
    # One fresh value per request, the same wherever the template names it.
    home = _filled("block_actions_home")
    assert home["container"]["view_id"] == home["view"]["id"] == home["view"]["root_view_id"]


def test_a_template_value_nobody_gave_is_an_error_not_a_placeholder_sent_to_the_bot() -> None:
    with pytest.raises(KeyError, match="user"):
        no_user = {"team": TEAM, "channel": CHANNEL, "text": "", "response_url": ""}
        SlackPayloads(PAYLOADS).fill("slash_command", no_user)
    with pytest.raises(ValueError, match="member_joined_channel"):
        slack_sender.event_body({"type": "member_joined_channel"}, team=TEAM, payloads=SlackPayloads(PAYLOADS))


# -- taken by the bot, signed as Slack signs -------------------------------------------------------------


def _pending_request(sender: SlackSender, slack: SimulatedSlack) -> tuple[int, dict[str, Any]]:
    assert sender.command("pause 8856 5m customer reads a card number", user=AGENT).status_code == 200
    card = posted_card(slack)
    return int(buttons(card)[0]["value"]), card


@pytest.mark.usefixtures("roles")
def test_a_slash_command_is_answered_on_its_response_url(sender: SlackSender, slack: SimulatedSlack) -> None:
    assert sender.command("help", user=AGENT).status_code == 200
    assert slack.wait_for_call("response_url", containing="/recording")


@pytest.mark.usefixtures("roles")
def test_a_click_on_a_message_decides_the_request(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    request_id, card = _pending_request(sender, slack)
    response = sender.click("recording_approve", str(request_id), user=LEAD, message_ts=card["ts"])
    assert response.status_code == 200
    wait_for_state(bot, request_id, RequestState.ACTIVE)


@pytest.mark.usefixtures("roles")
def test_a_click_on_the_home_tab_decides_the_request(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    request_id, _ = _pending_request(sender, slack)
    assert sender.home_click("recording_approve", str(request_id), user=LEAD).status_code == 200
    wait_for_state(bot, request_id, RequestState.ACTIVE)


@pytest.mark.usefixtures("roles")
def test_a_click_in_a_modal_is_read_without_a_channel_and_answered_by_dm(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    request_id, _ = _pending_request(sender, slack)
    sender.command("pause", user=LEAD)
    view = wait_until(lambda: (slack.modals() or [None])[-1], what="the pause form to open")
    response = sender.modal_click(view, "recording_approve", str(request_id), user=LEAD, answers={"target": "8856"})
    assert response.status_code == 200
    wait_for_state(bot, request_id, RequestState.ACTIVE)
    # Twice: the second is refused, and with no response_url the refusal goes by DM.
    sender.modal_click(view, "recording_approve", str(request_id), user=LEAD)
    assert slack.wait_for_call("chat.postMessage", containing="already")


@pytest.mark.usefixtures("roles")
def test_a_view_submission_is_answered_in_its_response_and_asks_for_approval(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    assert sender.shortcut("recording_pause_shortcut", user=AGENT).status_code == 200
    view = wait_until(lambda: (slack.modals() or [None])[-1], what="the pause form to open")
    response = sender.submit_view(view, {**GOOD_ANSWERS, "channel": CHANNEL}, user=AGENT)
    assert response.status_code == 200 and response.content == b""
    assert "8856" in card_text(posted_card(slack))


@pytest.mark.usefixtures("roles")
def test_app_home_opened_publishes_that_persons_home(sender: SlackSender, slack: SimulatedSlack) -> None:
    assert sender.home_opened(user=LEAD).status_code == 200
    assert wait_until(lambda: slack.home(LEAD), what="the Home to be published")


def test_url_verification_is_answered_with_its_challenge(sender: SlackSender) -> None:
    response = sender.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize("send", ["app_uninstalled", "tokens_revoked", "message_shortcut"])
def test_what_the_bot_does_not_handle_is_acknowledged_and_breaks_nothing(
    send: str, sender: SlackSender, slack: SimulatedSlack, caplog: pytest.LogCaptureFixture
) -> None:
    requests = {
        "app_uninstalled": lambda: sender.app_uninstalled(),
        "tokens_revoked": lambda: sender.tokens_revoked(oauth=[AGENT], bot=["U0BOT"]),
        "message_shortcut": lambda: sender.message_shortcut(
            "recording_pause_message", user=AGENT, message_ts="1732440000.000200", message_user=LEAD, message_text="hi"
        ),
    }
    with caplog.at_level(logging.INFO):
        assert requests[send]().status_code == 200
        wait_until(
            lambda: any("not handled" in r.getMessage() for r in caplog.records), what="the bot to have handled it"
        )
        # The bot still serves the workspace afterwards.
        assert sender.command("help", user=AGENT).status_code == 200
        assert slack.wait_for_call("response_url", containing="/recording")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
