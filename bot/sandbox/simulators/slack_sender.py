"""Sends requests into the bot's /slack/events exactly as Slack does: form bodies, v0 HMAC-SHA256 signatures.

Used by the tests, the console and the benchmark, so all three drive the bot the way Slack does. Each
caller names its own workspace and channel.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.serving.edge import slack_signature


def signed_headers(secret: str, body: bytes, *, timestamp: str | None = None) -> dict[str, str]:
    """The headers Slack sends with `body`: content type, timestamp and v0 signature."""
    ts = timestamp if timestamp is not None else str(int(time.time()))
    is_json = body.startswith(b"{")
    return {
        "Content-Type": "application/json" if is_json else "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
    }


def trigger_id() -> str:
    """A fresh trigger ID in Slack's shape (Slack issues one per interaction, usable once)."""
    return f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def command_body(text: str, *, user: str, response_url: str, team: str, channel: str) -> bytes:
    """A `/recording` slash command exactly as Slack posts it (form-encoded)."""
    return urlencode(
        {
            "token": "deprecated",
            "team_id": team,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": "someone",
            "command": "/recording",
            "text": text,
            "api_app_id": "A0TEST",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id(),
        }
    ).encode()


def click_body(
    action_id: str,
    value: str,
    *,
    user: str,
    response_url: str,
    team: str,
    channel: str,
    message_ts: str = "1732440000.000200",
) -> bytes:
    """A block_actions payload for a button on a message, as Slack posts it."""
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0TEST",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "ops"},
        "message": {"type": "message", "ts": message_ts, "text": "card"},
        "response_url": response_url,
        "trigger_id": trigger_id(),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "decision",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def home_click_body(action_id: str, value: str, *, user: str, team: str, view_id: str = "VHOME") -> bytes:
    """A block_actions payload for a button on a Home view: no channel, message or response_url."""
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0TEST",
        "container": {"type": "view", "view_id": view_id},
        "view": {"id": view_id, "type": "home", "team_id": team, "callback_id": "", "private_metadata": ""},
        "trigger_id": trigger_id(),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "home",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def shortcut_body(callback_id: str, *, user: str, team: str) -> bytes:
    """A global shortcut as Slack posts it: no channel."""
    payload = {
        "type": "shortcut",
        "token": "deprecated",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "callback_id": callback_id,
        "trigger_id": trigger_id(),
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def view_state(view: dict[str, Any], answers: dict[str, str]) -> dict[str, Any]:
    """`view.state.values` for a modal's input blocks, as Slack sends them, from plain answers by block ID:
    text for text inputs, an option value for selects and radio buttons, a channel ID for a conversations
    select. Unanswered selects keep their initial option, as in Slack."""
    values: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        kind = str(element.get("type", ""))
        action_id = str(element.get("action_id", ""))
        answer = answers.get(str(block.get("block_id", "")))
        state: dict[str, Any] = {"type": kind}
        if kind in ("static_select", "radio_buttons"):
            options = element.get("options") or []
            chosen = next((o for o in options if o.get("value") == answer), None)
            state["selected_option"] = chosen if answer is not None else element.get("initial_option")
        elif kind == "conversations_select":
            state["selected_conversation"] = answer or None
        else:
            state["value"] = answer if answer else None
        values[str(block.get("block_id", ""))] = {action_id: state}
    return values


def view_submission_body(view: dict[str, Any], answers: dict[str, str], *, user: str, team: str) -> bytes:
    """A view_submission payload for `view` (as opened) with `answers` filled in."""
    submitted = {
        "id": view.get("id", "V0FORM"),
        "team_id": team,
        "type": "modal",
        "callback_id": view.get("callback_id", ""),
        "private_metadata": view.get("private_metadata", ""),
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "blocks": view.get("blocks", []),
        "state": {"values": view_state(view, answers)},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0TEST",
        "trigger_id": trigger_id(),
        "view": submitted,
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: dict[str, Any], *, team: str, event_id: str | None = None) -> bytes:
    """An Events API callback (JSON), as Slack posts it."""
    envelope = {
        "token": "deprecated",
        "team_id": team,
        "api_app_id": "A0TEST",
        "event": {**event, "event_ts": f"{time.time():.6f}"},
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
    }
    return json.dumps(envelope).encode()


def url_verification_body(challenge: str) -> bytes:
    return json.dumps({"token": "deprecated", "challenge": challenge, "type": "url_verification"}).encode()


class SlackSender:
    """Builds the raw body first, signs exactly those bytes, and posts them unchanged."""

    def __init__(
        self,
        *,
        base_url: str,
        signing_secret: str,
        response_url_factory: Callable[[], str],
        team: str,
        channel: str,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signing_secret = signing_secret
        self._response_url = response_url_factory
        self.team = team
        self.channel = channel
        # Loopback HTTP only: no CA bundle to load.
        self.http = httpx.Client(timeout=10, verify=False)  # noqa: S501

    def close(self) -> None:
        self.http.close()

    def post(
        self,
        body: bytes,
        *,
        timestamp: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/slack/events",
    ) -> httpx.Response:
        sent_headers = signed_headers(self.signing_secret, body, timestamp=timestamp)
        if signature is not None:
            sent_headers["X-Slack-Signature"] = signature
        sent_headers.update(headers or {})
        return self.http.post(self.base_url + path, content=body, headers=sent_headers)

    def command_body(self, text: str, *, user: str, team: str | None = None, channel: str | None = None) -> bytes:
        return command_body(
            text, user=user, response_url=self._response_url(), team=team or self.team, channel=channel or self.channel
        )

    def command(
        self, text: str, *, user: str, team: str | None = None, channel: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        return self.post(self.command_body(text, user=user, team=team, channel=channel), **kwargs)

    def click_body(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        team: str | None = None,
        channel: str | None = None,
        message_ts: str = "1732440000.000200",
    ) -> bytes:
        return click_body(
            action_id, value, user=user, response_url=self._response_url(), team=team or self.team,
            channel=channel or self.channel, message_ts=message_ts,
        )  # fmt: skip

    def click(self, action_id: str, value: str, *, user: str, **kwargs: Any) -> httpx.Response:
        post_kwargs = {k: kwargs.pop(k) for k in ("timestamp", "signature", "headers") if k in kwargs}
        return self.post(self.click_body(action_id, value, user=user, **kwargs), **post_kwargs)

    def home_click(self, action_id: str, value: str, *, user: str, team: str | None = None) -> httpx.Response:
        return self.post(home_click_body(action_id, value, user=user, team=team or self.team))

    def shortcut(self, callback_id: str, *, user: str, team: str | None = None) -> httpx.Response:
        return self.post(shortcut_body(callback_id, user=user, team=team or self.team))

    def submit_view(
        self, view: dict[str, Any], answers: dict[str, str], *, user: str, team: str | None = None
    ) -> httpx.Response:
        return self.post(view_submission_body(view, answers, user=user, team=team or self.team))

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, team: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        return self.post(event_body(event, team=team or self.team, event_id=event_id), **kwargs)

    def home_opened(self, *, user: str, team: str | None = None, **kwargs: Any) -> httpx.Response:
        """The app_home_opened event Slack sends when `user` opens the Home tab."""
        event = {"type": "app_home_opened", "user": user, "channel": "D" + user.lstrip("UW"), "tab": "home"}
        return self.event(event, team=team, **kwargs)

    def url_verification(self, challenge: str) -> httpx.Response:
        return self.post(url_verification_body(challenge))
