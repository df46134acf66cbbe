"""Small polling helpers for the pause tests: find the card, wait for its state, read the audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.app import RecordingBot
from bot.models import AuditEntry, PauseRequest, RequestState
from bot.sandbox.simulators.slack import SimulatedSlack, SlackCall
from bot.sandbox.simulators.slack_sender import SlackSender
from tests.support.slack_requests import TEAM


def wait_until(condition: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    # Soon at first, then less often: each look may query the database, and on a busy machine a wait of
    # seconds at a hundred looks a second takes CPU from the bot being waited for.
    interval = 0.002
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
        interval = min(interval * 1.5, 0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cards(slack: SimulatedSlack) -> list[dict[str, Any]]:
    """Every approval card posted so far, oldest first. Private notes to requesters go to DMs ("D…")."""
    return [m for m in slack.messages() if not m["channel"].startswith("D") and "Pause request #" in m["text"]]


def posted_card(slack: SimulatedSlack) -> dict[str, Any]:
    """The latest approval card the bot posted, as it stands now (after any chat.update)."""
    # The simulator records a call as it arrives and stores the message a moment later: wait for the message.
    # Cards go to the channel; the requester's private notes go to a DM ("D…"), which is not a card.
    cards = wait_until(
        lambda: [m for m in slack.messages() if not m["channel"].startswith("D") and "Pause request #" in m["text"]],
        what="an approval card to be posted",
    )
    current = slack.message(cards[-1]["channel"], cards[-1]["ts"])
    assert current is not None
    return current


def card_text(message: dict[str, Any]) -> str:
    from bot.sandbox.simulators.slack import SlackCall

    return SlackCall(method="card", payload=message, at=0).rendered


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def wait_for_state(bot: RecordingBot, request_id: int, state: RequestState, timeout: float = 5.0) -> PauseRequest:
    def reached() -> PauseRequest | None:
        request = bot.services.pauses.get(request_id)
        return request if request is not None and request.state is state else None

    found: PauseRequest = wait_until(reached, timeout=timeout, what=f"request #{request_id} to be {state.value}")
    return found


def wait_for_card(slack: SimulatedSlack, containing: str, timeout: float = 5.0) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        card = posted_card(slack)
        return card if containing in card_text(card) else None

    found: dict[str, Any] = wait_until(current, timeout=timeout, what=f"the card to say {containing!r}")
    return found


def audit_rows(bot: RecordingBot, action: str) -> list[AuditEntry]:
    return [r for r in bot.services.audit.recent(500) if r.action == action]


# -- one request's card, asked for and clicked as a person would ------------------------------------


def request_card(slack: SimulatedSlack, request_id: int) -> dict[str, Any]:
    found = [
        m
        for m in slack.messages()
        if not m["channel"].startswith("D") and f" #{request_id} for " in m["text"].split(":", 1)[0]
    ]
    assert len(found) == 1, f"expected one card for #{request_id}, found {len(found)}"
    return found[0]


def wait_request_card(slack: SimulatedSlack, request_id: int, containing: str = "") -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        try:
            card = request_card(slack, request_id)
        except AssertionError:
            return None
        return card if containing in card_text(card) else None

    found: dict[str, Any] = wait_until(current, what=f"card #{request_id} saying {containing!r}")
    return found


def ask_pause(sender: SlackSender, bot: RecordingBot, text: str, user: str) -> int:
    before = {r.id for r in bot.services.pauses.open_requests(TEAM)}
    assert sender.command(text, user=user).status_code == 200
    new = wait_until(
        lambda: [r for r in bot.services.pauses.open_requests(TEAM) if r.id not in before and r.message_ts],
        what=f"the request made by {text!r}",
    )
    return int(new[0].id)


def click_card(sender: SlackSender, slack: SimulatedSlack, action: str, request_id: int, user: str) -> None:
    card = request_card(slack, request_id)
    response = sender.click(action, str(request_id), user=user, message_ts=card["ts"], channel=card["channel"])
    assert response.status_code == 200


def latest_reply(slack: SimulatedSlack, containing: str) -> SlackCall:
    return slack.wait_for_call("response_url", containing=containing)[-1]
