"""What the simulated Slack records of each call the bot makes, and how a call's payload is read (a form or
JSON body; blocks and views sent as JSON strings or values)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.sandbox.simulators.base import RecordedRequest


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded the way `files_upload_v2` does it (URL, bytes, completion), and where it was shared."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str
    thread_ts: str
    initial_comment: str


@dataclass(frozen=True)
class SlackCall:
    """One call the bot made: a Web API method (`chat.update`) or `response_url` for a response URL post."""

    method: str
    payload: dict[str, Any]
    at: float
    # The token it was sent with (the Authorization header's), "" without one.
    token: str = ""

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """A message's blocks, or a view's (views.open, views.publish)."""
        view = self.payload.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        blocks = self.payload.get("blocks") or (view.get("blocks") if isinstance(view, dict) else None) or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return list(blocks)

    @property
    def rendered(self) -> str:
        """Text and every string inside the blocks, for 'does the message say X' assertions."""
        return self.text + "\n" + "\n".join(_strings(self.blocks))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() if key not in ("type", "block_id") for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def call_of(request: RecordedRequest) -> SlackCall | None:
    if request.path.startswith("/response/"):
        method = "response_url"
    elif request.path.startswith("/api/"):
        method = request.path.removeprefix("/api/")
    else:
        return None
    content_type = request.headers.get("content-type", "")
    payload: dict[str, Any]
    if "json" in content_type:
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            payload = {}
    else:
        payload = dict(request.params)
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    return SlackCall(method=method, payload=payload, at=request.at, token=token)


def blocks_of(payload: dict[str, Any]) -> list[Any]:
    blocks = payload.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def json_field(value: Any) -> Any:
    """A field sent either as JSON inside a form field or as a JSON value."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
