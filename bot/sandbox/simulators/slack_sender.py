"""Sends requests into the bot's /slack/events exactly as Slack does: form bodies, v0 HMAC-SHA256 signatures.

Used by the tests, the console and the benchmark, so all three drive the bot the way Slack does. Each
caller names its own workspace and channel.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: str | None = None) -> dict[str, str]:
    """The headers Slack sends with `body`: content type, timestamp and v0 signature."""
    ts = timestamp if timestamp is not None else str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
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
        self.http = httpx.Client(timeout=10)

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
