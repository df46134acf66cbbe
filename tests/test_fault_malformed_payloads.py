"""Signed payloads of shapes Slack never sends, on every surface: a 4xx or an empty 200, one log line, and
no 500, traceback or call to Slack's Web API.

The signature proves only that the sender knows the signing secret: a leaked secret, a proxy that rewrites
bodies or a Slack change must not make the bot answer 500 or act on a value it misread (a user ID
`"{'id': 'U0X'}"`, a channel `"None"`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.config import Config
from bot.models import Role
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.slack_sender import view_state
from tests.conftest import ADMIN, AGENT, BOT_TOKEN, LEAD, RECORDER_API_KEY, SIGNING_SECRET, ServedBot
from tests.support.pauses import posted_card, wait_until
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

Mutation = Callable[[dict[str, Any]], None]
GOOD_ANSWERS = {"target": "8856", "duration": "5m", "channels": "caller", "reason": "customer reads a card number"}


def _set(path: str, value: Any) -> Mutation:
    """Replace the value at a dotted path (`view.state.values`); `...` deletes it."""

    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = payload
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is ...:
            node.pop(last, None)
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _each_input(key: str, value: Any) -> Mutation:
    """Set `key` of every input's state (`selected_option`, `value` …) to `value`."""

    def mutate(payload: dict[str, Any]) -> None:
        for block in payload["view"]["state"]["values"].values():
            for state in block.values():
                state[key] = value

    return mutate


COMMANDS: dict[str, Mutation] = {
    "user_id missing": _set("user_id", ...),
    "user_id empty": _set("user_id", ""),
    "user_id not a user ID": _set("user_id", "{'id': 'U0X'}"),
    "team_id missing": _set("team_id", ...),
    "channel_id missing": _set("channel_id", ...),
    "command missing": _set("command", ...),
}
CLICKS: dict[str, Mutation] = {
    "user a list": _set("user", ["U0AGENT"]),
    "user a string": _set("user", "U0AGENT"),
    "user a number": _set("user", 7),
    "user a list holding id": _set("user", ["id"]),
    "user null": _set("user", None),
    "user id a dict": _set("user.id", {"id": "U0X"}),
    "actions a dict": _set("actions", {"action_id": "recording_approve", "value": "1"}),
    "actions a list of strings": _set("actions", ["recording_approve"]),
    "actions empty": _set("actions", []),
    "value a dict": _set("actions.0.value", {"id": 1}),
    "channel a string": _set("channel", "C0OPS"),
    "channel a list": _set("channel", ["C0OPS"]),
    "channel a number": _set("channel", 7),
    "container a list": _set("container", ["message"]),
    "team a list": _set("team", ["T0TEST"]),
    "team a number": _set("team", 7),
    "enterprise a number": _set("enterprise", 7),
    "response_url a dict": _set("response_url", {"url": "https://hooks.slack.com/x"}),
    "message a string": _set("message", "card"),
}
SUBMISSIONS: dict[str, Mutation] = {
    "selected_option a string": _each_input("selected_option", "300"),
    "selected_option a list": _each_input("selected_option", [{"value": "300"}]),
    "selected_option value a dict": _each_input("selected_option", {"value": {"x": 1}}),
    "value a dict": _each_input("value", {"x": 1}),
    "values a list": _set("view.state.values", [1, 2]),
    "values a string": _set("view.state.values", "target=8856"),
    "state a list": _set("view.state", []),
    "an input a list": lambda payload: payload["view"]["state"]["values"].update(target=["8856"]),
    "user a list": _set("user", ["U0AGENT"]),
    "user a string": _set("user", "U0AGENT"),
    "user missing": _set("user", ...),
    "view a list": _set("view", [1]),
    "view a string": _set("view", "V0FORM"),
    "private_metadata a dict": _set("view.private_metadata", {"channel": "C0OPS"}),
    "team a list": _set("team", ["T0TEST"]),
}
SHORTCUTS: dict[str, Mutation] = {
    "user a list": _set("user", ["U0AGENT"]),
    "user a string": _set("user", "U0AGENT"),
    "user missing": _set("user", ...),
    "user id a dict": _set("user.id", {"id": "U0X"}),
    "team a list": _set("team", ["T0TEST"]),
    "trigger_id a dict": _set("trigger_id", {"id": "1"}),
}
EVENTS: dict[str, Mutation] = {
    "event a list": _set("event", [{"type": "app_home_opened"}]),
    "event a string": _set("event", "app_home_opened"),
    "event type a dict": _set("event.type", {"type": "app_home_opened"}),
    "user a dict": _set("event.user", {"id": "U0X"}),
    "user null": _set("event.user", None),
    "user missing": _set("event.user", ...),
    "user not a user ID": _set("event.user", "not a user"),
    "tab a dict": _set("event.tab", {"tab": "home"}),
    "team_id a list": _set("team_id", ["T0TEST"]),
}


class World:
    """One bot for the whole module, and the pause form it opened (every case submits a garbled copy)."""

    def __init__(self, served: ServedBot, sender: SlackSender, slack: SimulatedSlack) -> None:
        self.served = served
        self.sender = sender
        self.slack = slack
        sender.command("pause", user=AGENT)
        self.form: dict[str, Any] = wait_until(slack.modals, what="the pause form")[-1]


def _command(world: World, mutate: Mutation) -> bytes:
    values = {
        "text": "help", "user": AGENT, "response_url": world.slack.response_url(), "team": TEAM, "channel": CHANNEL,
    }  # fmt: skip
    fields = world.sender.payloads.fill("slash_command", values)
    mutate(fields)
    return urlencode(fields).encode()


def _interactive(payload: dict[str, Any], mutate: Mutation) -> bytes:
    mutate(payload)
    return urlencode({"payload": json.dumps(payload)}).encode()


def _click(world: World, mutate: Mutation) -> bytes:
    values = {
        "action_id": "recording_approve", "value": "1", "user": AGENT, "response_url": world.slack.response_url(),
        "team": TEAM, "channel": CHANNEL, "message_ts": "1732440000.000200",
    }  # fmt: skip
    return _interactive(world.sender.payloads.fill("block_actions_message", values), mutate)


def _submission(world: World, mutate: Mutation) -> bytes:
    # The form as the bot opened it (its metadata as the bot wrote it), answered well, then garbled.
    view = world.form
    values = {
        "view_id": view.get("id", "V0FORM"), "blocks": view["blocks"], "private_metadata": view["private_metadata"],
        "callback_id": view["callback_id"], "state_values": view_state(view, GOOD_ANSWERS), "title": view["title"],
        "close": view["close"], "submit": view["submit"], "clear_on_close": False, "notify_on_close": False,
        "user": AGENT, "team": TEAM,
    }  # fmt: skip
    return _interactive(world.sender.payloads.fill("view_submission", values), mutate)


def _shortcut(world: World, mutate: Mutation) -> bytes:
    values = {"callback_id": "recording_pause_shortcut", "user": AGENT, "team": TEAM}
    return _interactive(world.sender.payloads.fill("shortcut_global", values), mutate)


def _event(world: World, mutate: Mutation) -> bytes:
    values = {"user": AGENT, "channel": "D0AGENT", "tab": "home", "team": TEAM}
    payload = world.sender.payloads.fill("event_app_home_opened", values)
    mutate(payload)
    return json.dumps(payload).encode()


SURFACES: dict[str, tuple[Callable[[World, Mutation], bytes], dict[str, Mutation]]] = {
    "command": (_command, COMMANDS),
    "click": (_click, CLICKS),
    "submission": (_submission, SUBMISSIONS),
    "shortcut": (_shortcut, SHORTCUTS),
    "event": (_event, EVENTS),
}
CASES = [
    pytest.param(surface, name, id=f"{surface}: {name}") for surface, (_, cases) in SURFACES.items() for name in cases
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Started once: a bot per case would cost seconds each, and each case leaves nothing behind.
    with (
        SimulatedSlack(bot_token=BOT_TOKEN, team_id=TEAM) as slack,
        SimulatedRecordingSystem(api_key=RECORDER_API_KEY, calls=DEMO_CALLS) as recording_system,
    ):
        config = Config(
            _env_file=None,
            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack.api_url,
            database_path=tmp_path_factory.mktemp("malformed") / "recording-bot.db", bot_admins=ADMIN,
            media_repository_url=recording_system.url, media_repository_api_key=RECORDER_API_KEY,
        )  # fmt: skip
        served = ServedBot(config).start()
        sender = SlackSender(
            base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url
        )
        assert served.bot is not None
        try:
            served.bot.services.authorizer.set_role(TEAM, AGENT, Role.REQUESTER, source="test")
            yield World(served, sender, slack)
        finally:
            sender.close()
            served.stop()


def _malformed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and "malformed" in r.getMessage()]


@pytest.mark.parametrize(("surface", "case"), CASES)
def test_a_signed_payload_of_a_shape_slack_never_sends_gets_a_4xx_or_an_empty_200_and_one_log_line(
    surface: str, case: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    build, cases = SURFACES[surface]
    body = build(world, cases[case])
    world.slack.clear()
    caplog.clear()
    response = world.sender.post(body)
    assert 400 <= response.status_code < 500 or (response.status_code == 200 and response.content == b""), (
        response.status_code,
        response.content[:200],
    )
    # The line is the request's last word: once it is there, nothing more is done for it.
    wait_until(lambda: _malformed_lines(caplog), what="the log line about the malformed payload")
    records = [r for r in caplog.records if r.name.startswith(("bot", "slack_bolt", "slack_sdk"))]
    assert not [r for r in records if r.exc_info or r.levelno >= logging.ERROR], [r.getMessage() for r in records]
    assert len(_malformed_lines(caplog)) == 1, [r.getMessage() for r in records]
    assert [r.path for r in world.slack.requests] == [], "nothing is done for a malformed payload"


@pytest.mark.parametrize("user", [{"id": AGENT}, None, ...], ids=["a dict", "null", "missing"])
def test_an_app_home_opened_whose_user_is_no_user_id_publishes_no_home_while_a_good_one_does(
    user: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.slack.clear()
    caplog.clear()
    assert world.sender.post(_event(world, _set("event.user", user))).status_code == 200
    wait_until(lambda: _malformed_lines(caplog), what="the log line about the malformed event")
    assert world.sender.home_opened(user=AGENT).status_code == 200
    published = wait_until(lambda: world.slack.calls("views.publish"), what="the good event's Home")
    assert [call.payload.get("user_id") for call in published] == [AGENT]
    assert len(_malformed_lines(caplog)) == 1


# -- what a form carries back ----------------------------------------------------------------------


def _tampered(world: World, mutate: Mutation, *, view: dict[str, Any] | None = None, user: str = AGENT) -> bytes:
    form = view or world.form
    values = {
        "view_id": form.get("id", "V0FORM"), "blocks": form["blocks"], "private_metadata": form["private_metadata"],
        "callback_id": form["callback_id"], "state_values": view_state(form, GOOD_ANSWERS), "title": form["title"],
        "close": form["close"], "submit": form["submit"], "clear_on_close": False, "notify_on_close": False,
        "user": user, "team": TEAM,
    }  # fmt: skip
    return _interactive(world.sender.payloads.fill("view_submission", values), mutate)


def _resigned_for(channel: str) -> Mutation:
    """The bot's own signature, carried over to metadata naming another channel."""

    def mutate(payload: dict[str, Any]) -> None:
        metadata = json.loads(payload["view"]["private_metadata"])
        payload["view"]["private_metadata"] = json.dumps({**metadata, "channel": channel})

    return mutate


def _hidden_channel(channel: str) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        state = {"type": "conversations_select", "selected_conversation": channel}
        payload["view"]["state"]["values"]["channel"] = {"channel": state}

    return mutate


FORGED: dict[str, Mutation] = {
    "metadata naming an object for a channel": _set("view.private_metadata", json.dumps({"channel": {"x": 1}})),
    "metadata of 300 KB": _set("view.private_metadata", json.dumps({"channel": "C0OPS", "pad": "x" * 300_000})),
    "metadata a string of 300 KB": _set("view.private_metadata", "x" * 300_000),
    "metadata not JSON": _set("view.private_metadata", "C0OPS"),
    "metadata without a signature": _set("view.private_metadata", json.dumps({"channel": CHANNEL})),
    "metadata signed for another channel": _resigned_for("C0ELSEWHERE"),
    "metadata naming a channel of no Slack shape": _resigned_for("None"),
    "a hidden channel input on a form opened for a channel": _hidden_channel("C0HIDDEN"),
}


def _refused_as_stale(world: World, response: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors" and "open the pause form again" in answer["errors"]["target"]
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused a pause form")]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    # Answered in the response itself: nothing was queued that could still post a card.
    assert world.slack.calls("chat.postMessage") == [] and world.slack.calls("chat.postEphemeral") == []


@pytest.mark.parametrize("case", list(FORGED))
def test_a_form_that_carries_back_what_the_bot_did_not_write_is_refused_and_posts_no_card(
    case: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    body = _tampered(world, FORGED[case])
    world.slack.clear()
    caplog.clear()
    _refused_as_stale(world, world.sender.post(body), caplog)


def test_a_form_opened_for_one_user_is_refused_when_another_submits_it(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.served.bot is not None
    world.served.bot.services.authorizer.set_role(TEAM, LEAD, Role.APPROVER, source="test")
    body = _tampered(world, lambda payload: None, user=LEAD)
    world.slack.clear()
    caplog.clear()
    _refused_as_stale(world, world.sender.post(body), caplog)


def test_a_channel_chosen_in_the_form_must_be_a_channel_id(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.sender.shortcut("recording_pause_shortcut", user=AGENT)
    form = wait_until(lambda: [v for v in world.slack.modals() if "channel" in str(v["blocks"])][-1:], what="the form")
    body = _tampered(world, _hidden_channel("{'x': 1}"), view=form[0])
    world.slack.clear()
    caplog.clear()
    _refused_as_stale(world, world.sender.post(body), caplog)


def test_the_form_as_the_bot_opened_it_still_asks_for_approval_in_its_channel(world: World) -> None:
    world.slack.clear()
    response = world.sender.post(_tampered(world, lambda payload: None))
    assert response.status_code == 200 and response.content == b""
    assert posted_card(world.slack)["channel"] == CHANNEL
