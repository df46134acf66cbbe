"""Sends requests into the bot's /slack/events exactly as Slack does: form bodies, v0 HMAC-SHA256 signatures.

Used by the tests, the console and the benchmark, so all three drive the bot the way Slack does. Each
caller names its own workspace and channel.

What Slack sends is not written here: each request's shape is a JSON file written from Slack's
documented example for it, with `{{name}}` placeholders where a request carries its own values (the
team, the user, the trigger ID …). This module loads those files and fills them in. The tests keep the
files in tests/payloads/; the package carries a copy of them (payloads/ beside this module) for the
console and the benchmark, and a test fails when the two differ.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.serving.edge import slack_signature

# The package's copy of the templates: the console and the benchmark run without the tests.
PACKAGE_PAYLOADS = Path(__file__).with_name("payloads")

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


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


# What Slack makes up afresh for each request, when the caller does not say.
_FRESH: dict[str, Callable[[], Any]] = {
    "trigger_id": trigger_id,
    "action_ts": lambda: f"{time.time():.6f}",
    "event_ts": lambda: f"{time.time():.6f}",
    "event_time": lambda: int(time.time()),
    "event_id": lambda: f"Ev{secrets.token_hex(5).upper()}",
    "hash": lambda: f"{int(time.time())}.{secrets.token_hex(4)}",
    "view_id": lambda: f"V{secrets.token_hex(5).upper()}",
}


def grid(enterprise_id: str | None = None, *, org_wide: bool = False, name: str = "Example Org") -> dict[str, Any]:
    """The values that say which Enterprise Grid organisation a request comes from (none: a workspace of no
    organisation) and whether the app is installed org-wide there: `enterprise_id` (slash commands, events),
    `enterprise` (interactivity payloads), `is_enterprise_install`."""
    return {
        "enterprise_id": enterprise_id,
        "enterprise_name": name if enterprise_id else None,
        "enterprise": {"id": enterprise_id, "name": name} if enterprise_id else None,
        "is_enterprise_install": org_wide,
    }


NOT_GRID = grid()


class SlackPayloads:
    """Slack's request shapes from a directory of JSON templates (`<name>.json`), filled in per request.

    A string that is one whole placeholder (`"{{blocks}}"`) becomes the value itself, of any JSON type;
    a placeholder inside a longer string is replaced by the value's text. A placeholder with no value
    and no fresh default is an error, so a template and its caller cannot drift apart unnoticed."""

    def __init__(self, directory: Path | str = PACKAGE_PAYLOADS, *, defaults: Mapping[str, Any] = NOT_GRID) -> None:
        self.directory = Path(directory)
        # Values every request of this sender carries unless it gives its own (its organisation).
        self.defaults = dict(defaults)
        self._templates: dict[str, Any] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json"))

    def template(self, name: str) -> Any:
        """The parsed template, read once."""
        with self._lock:
            if name not in self._templates:
                self._templates[name] = json.loads((self.directory / f"{name}.json").read_text(encoding="utf-8"))
            return self._templates[name]

    def has(self, name: str) -> bool:
        return (self.directory / f"{name}.json").is_file()

    def fill(self, name: str, values: Mapping[str, Any]) -> Any:
        """A fresh copy of template `name` with every placeholder filled in from `values`."""
        fresh: dict[str, Any] = {}

        def value_of(key: str) -> Any:
            if key in values:
                return values[key]
            if key in self.defaults:
                return self.defaults[key]
            if key not in fresh:
                if key not in _FRESH:
                    raise KeyError(f"payload template {name!r} needs a value for {{{{{key}}}}}")
                # One value per request: a trigger ID or view ID used twice in a payload is the same.
                fresh[key] = _FRESH[key]()
            return fresh[key]

        def fill(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: fill(v) for k, v in node.items()}
            if isinstance(node, list):
                return [fill(v) for v in node]
            if isinstance(node, str):
                whole = _PLACEHOLDER.fullmatch(node)
                if whole is not None:
                    return value_of(whole.group(1))
                return _PLACEHOLDER.sub(lambda m: str(value_of(m.group(1))), node)
            return node

        return fill(self.template(name))

    def form(self, name: str, values: Mapping[str, Any]) -> bytes:
        """A form body: the template's fields themselves (slash commands). A field whose value is None is left
        out (`enterprise_id` off Grid), and booleans are written as Slack writes them in forms."""
        fields = {
            key: ("true" if value else "false") if isinstance(value, bool) else value
            for key, value in self.fill(name, values).items()
            if value is not None
        }
        return urlencode(fields).encode()

    def interactive(self, name: str, values: Mapping[str, Any]) -> bytes:
        """A form body whose `payload` field holds the filled-in template (buttons, shortcuts, forms)."""
        return urlencode({"payload": json.dumps(self.fill(name, values))}).encode()

    def json(self, name: str, values: Mapping[str, Any]) -> bytes:
        """A JSON body (the Events API)."""
        return json.dumps(self.fill(name, values)).encode()


_PACKAGE = SlackPayloads()


def command_body(
    text: str, *, user: str, response_url: str, team: str, channel: str, payloads: SlackPayloads = _PACKAGE
) -> bytes:
    """A `/recording` slash command exactly as Slack posts it (form-encoded)."""
    values = {"text": text, "user": user, "response_url": response_url, "team": team, "channel": channel}
    return payloads.form("slash_command", values)


def click_body(
    action_id: str,
    value: str,
    *,
    user: str,
    response_url: str,
    team: str,
    channel: str,
    message_ts: str = "1732440000.000200",
    payloads: SlackPayloads = _PACKAGE,
) -> bytes:
    """A block_actions payload for a button on a message, as Slack posts it."""
    values = {
        "action_id": action_id, "value": value, "user": user, "response_url": response_url, "team": team,
        "channel": channel, "message_ts": message_ts,
    }  # fmt: skip
    return payloads.interactive("block_actions_message", values)


def home_click_body(
    action_id: str, value: str, *, user: str, team: str, view_id: str = "VHOME", payloads: SlackPayloads = _PACKAGE
) -> bytes:
    """A block_actions payload for a button on a Home view: no channel, message or response_url."""
    values = {"action_id": action_id, "value": value, "user": user, "team": team, "view_id": view_id, "blocks": []}
    return payloads.interactive("block_actions_home", values)


def _opened_view(view: Mapping[str, Any], state_values: dict[str, Any]) -> dict[str, Any]:
    """The values a modal's payloads carry from the view as opened, with its current state."""
    return {
        "view_id": view.get("id", "V0FORM"),
        "blocks": view.get("blocks", []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state_values": state_values,
        "title": view.get("title"),
        "close": view.get("close"),
        "submit": view.get("submit"),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
    }


def modal_click_body(
    view: dict[str, Any],
    action_id: str,
    value: str,
    *,
    user: str,
    team: str,
    block_id: str = "actions",
    answers: dict[str, str] | None = None,
    payloads: SlackPayloads = _PACKAGE,
) -> bytes:
    """A block_actions payload for a button in an open modal: the view and its state, no channel."""
    values = {
        **_opened_view(view, view_state(view, answers or {})),
        "action_id": action_id, "value": value, "block_id": block_id, "user": user, "team": team,
    }  # fmt: skip
    return payloads.interactive("block_actions_modal", values)


def shortcut_body(callback_id: str, *, user: str, team: str, payloads: SlackPayloads = _PACKAGE) -> bytes:
    """A global shortcut as Slack posts it: no channel."""
    return payloads.interactive("shortcut_global", {"callback_id": callback_id, "user": user, "team": team})


def message_shortcut_body(
    callback_id: str,
    *,
    user: str,
    team: str,
    channel: str,
    response_url: str,
    message_ts: str,
    message_user: str,
    message_text: str,
    payloads: SlackPayloads = _PACKAGE,
) -> bytes:
    """A message shortcut (`message_action`) as Slack posts it: with the channel and the message."""
    values = {
        "callback_id": callback_id, "user": user, "team": team, "channel": channel, "response_url": response_url,
        "message_ts": message_ts, "message_user": message_user, "message_text": message_text,
    }  # fmt: skip
    return payloads.interactive("shortcut_message", values)


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


def view_submission_body(
    view: dict[str, Any], answers: dict[str, str], *, user: str, team: str, payloads: SlackPayloads = _PACKAGE
) -> bytes:
    """A view_submission payload for `view` (as opened) with `answers` filled in."""
    values = {**_opened_view(view, view_state(view, answers)), "user": user, "team": team}
    return payloads.interactive("view_submission", values)


def event_body(
    event: dict[str, Any], *, team: str, event_id: str | None = None, payloads: SlackPayloads = _PACKAGE
) -> bytes:
    """An Events API callback (JSON), as Slack posts it: the envelope of the event's type
    (`event_<type>.json`), its placeholders filled from `event`'s own fields, and `event`'s fields over it."""
    kind = str(event.get("type", ""))
    name = f"event_{kind}"
    if not payloads.has(name):
        raise ValueError(f"no payload template for a {kind!r} event")
    values: dict[str, Any] = {**event, "team": team}
    if event_id:
        values["event_id"] = event_id
    envelope = payloads.fill(name, values)
    envelope["event"] = {**envelope["event"], **event}
    return json.dumps(envelope).encode()


def tokens_revoked_body(
    *, oauth: list[str], bot: list[str], team: str, event_id: str | None = None, payloads: SlackPayloads = _PACKAGE
) -> bytes:
    """The tokens_revoked event: the user IDs whose user tokens, and the bot user IDs whose bot tokens, are gone."""
    values: dict[str, Any] = {"oauth_users": oauth, "bot_users": bot, "team": team}
    if event_id:
        values["event_id"] = event_id
    return payloads.json("event_tokens_revoked", values)


def url_verification_body(challenge: str, *, payloads: SlackPayloads = _PACKAGE) -> bytes:
    return payloads.json("url_verification", {"challenge": challenge})


class SlackSender:
    """Builds the raw body first, signs exactly those bytes, and posts them unchanged.

    `payloads` is the directory of request templates (default: the package's copy)."""

    def __init__(
        self,
        *,
        base_url: str,
        signing_secret: str,
        response_url_factory: Callable[[], str],
        team: str,
        channel: str,
        payloads: Path | str = PACKAGE_PAYLOADS,
        organisation: Mapping[str, Any] = NOT_GRID,
    ) -> None:
        """`organisation`: `grid(…)`'s values for every request this sender makes (default: no Grid)."""
        self.base_url = base_url.rstrip("/")
        self.signing_secret = signing_secret
        self._response_url = response_url_factory
        self.team = team
        self.channel = channel
        self.payloads = SlackPayloads(payloads, defaults=organisation)
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
            text, user=user, response_url=self._response_url(), team=team or self.team, channel=channel or self.channel,
            payloads=self.payloads,
        )  # fmt: skip

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
            channel=channel or self.channel, message_ts=message_ts, payloads=self.payloads,
        )  # fmt: skip

    def click(self, action_id: str, value: str, *, user: str, **kwargs: Any) -> httpx.Response:
        post_kwargs = {k: kwargs.pop(k) for k in ("timestamp", "signature", "headers") if k in kwargs}
        return self.post(self.click_body(action_id, value, user=user, **kwargs), **post_kwargs)

    def home_click(self, action_id: str, value: str, *, user: str, team: str | None = None) -> httpx.Response:
        return self.post(home_click_body(action_id, value, user=user, team=team or self.team, payloads=self.payloads))

    def modal_click(
        self,
        view: dict[str, Any],
        action_id: str,
        value: str,
        *,
        user: str,
        team: str | None = None,
        answers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A button clicked in the open modal `view`, with `answers` typed so far."""
        body = modal_click_body(
            view, action_id, value, user=user, team=team or self.team, answers=answers, payloads=self.payloads
        )
        return self.post(body)

    def shortcut(self, callback_id: str, *, user: str, team: str | None = None) -> httpx.Response:
        return self.post(shortcut_body(callback_id, user=user, team=team or self.team, payloads=self.payloads))

    def message_shortcut(
        self,
        callback_id: str,
        *,
        user: str,
        message_ts: str,
        message_user: str,
        message_text: str = "",
        team: str | None = None,
        channel: str | None = None,
    ) -> httpx.Response:
        """A message shortcut chosen on the message at `message_ts` (written by `message_user`)."""
        body = message_shortcut_body(
            callback_id, user=user, team=team or self.team, channel=channel or self.channel,
            response_url=self._response_url(), message_ts=message_ts, message_user=message_user,
            message_text=message_text, payloads=self.payloads,
        )  # fmt: skip
        return self.post(body)

    def submit_view(
        self, view: dict[str, Any], answers: dict[str, str], *, user: str, team: str | None = None
    ) -> httpx.Response:
        return self.post(view_submission_body(view, answers, user=user, team=team or self.team, payloads=self.payloads))

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, team: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        body = event_body(event, team=team or self.team, event_id=event_id, payloads=self.payloads)
        return self.post(body, **kwargs)

    def home_opened(self, *, user: str, team: str | None = None, **kwargs: Any) -> httpx.Response:
        """The app_home_opened event Slack sends when `user` opens the Home tab."""
        event = {"type": "app_home_opened", "user": user, "channel": "D" + user.lstrip("UW"), "tab": "home"}
        return self.event(event, team=team, **kwargs)

    def app_uninstalled(self, *, team: str | None = None, **kwargs: Any) -> httpx.Response:
        """The app_uninstalled event: the app was removed from the workspace (its tokens are already revoked)."""
        return self.event({"type": "app_uninstalled"}, team=team, **kwargs)

    def tokens_revoked(
        self, *, oauth: list[str], bot: list[str], team: str | None = None, event_id: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        body = tokens_revoked_body(
            oauth=oauth, bot=bot, team=team or self.team, event_id=event_id, payloads=self.payloads
        )
        return self.post(body, **kwargs)

    def url_verification(self, challenge: str) -> httpx.Response:
        return self.post(url_verification_body(challenge, payloads=self.payloads))
