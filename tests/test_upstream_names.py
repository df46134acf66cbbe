"""Each upstream failure names its system once, in Slack replies as in `check`: never "Webex: Webex: …"."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bot.config import Config
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, SIGNING_SECRET, ServedBot
from tests.support.slack_requests import SlackSender

NOTHING_LISTENS = "http://127.0.0.1:9"  # the discard port: the connection is refused at once


@pytest.fixture
def unreachable_upstreams(make_config: Callable[..., Config], slack: SimulatedSlack) -> Iterator[SlackSender]:
    config = make_config(media_repository_url=NOTHING_LISTENS, webex_api_url=f"{NOTHING_LISTENS}/v1")
    served = ServedBot(config).start()
    sender = SlackSender(base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    try:
        yield sender
    finally:
        sender.close()
        served.stop()


def _reply(slack: SimulatedSlack, containing: str) -> str:
    """The reply's text (its blocks say the same once more)."""
    return str(slack.wait_for_call("response_url", containing=containing)[-1].payload["text"])


def test_a_failing_webex_is_named_once_in_the_slack_reply(
    unreachable_upstreams: SlackSender, slack: SimulatedSlack
) -> None:
    unreachable_upstreams.command("settings 1002", user=ADMIN)
    reply = _reply(slack, "did not answer")
    assert "Webex did not answer (ConnectError)" in reply
    assert "Webex: Webex" not in reply and reply.count("Webex") == 1, reply


def test_a_failing_recording_system_is_named_once_in_the_slack_reply(
    unreachable_upstreams: SlackSender, slack: SimulatedSlack
) -> None:
    unreachable_upstreams.command("resume 8856", user=ADMIN)
    reply = _reply(slack, "refused the connection")
    assert "Recording system: refused the connection" in reply
    assert reply.lower().count("recording system") == 1, reply
