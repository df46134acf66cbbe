"""Changing a line's call-recording settings in Webex: an uncached read, and one PUT with only the fields
that change, for people, workspaces and virtual lines (webex-people-workspaces.md in the reference).

The settings arrive in `/recording set`'s words (bot/models/changes.py); this module alone knows Webex's
JSON for them. Every answer is kept as a `WebexAnswer` for the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from bot.clients.errors import AuthenticationFailed, NotFound, UpstreamError, UpstreamRejected
from bot.clients.webex.client import WebexClient
from bot.clients.webex.transport import SYSTEM_NAME, tracking_id
from bot.metrics.registry import upstream_call
from bot.models import CallRecordingSettings
from bot.models.changes import KIND_LABELS, MODE_WORDS, NOTIFICATION_WORDS
from bot.models.lines import LineKind

_PATHS: dict[LineKind, tuple[str, str]] = {
    LineKind.PERSON: ("/people/", "/features/callRecording"),
    LineKind.WORKSPACE: ("/telephony/config/workspaces/", "/features/callRecordings"),
    LineKind.VIRTUAL_LINE: ("/telephony/config/virtualLines/", "/callRecording"),
}
WRITE_SCOPES: dict[LineKind, str] = {
    LineKind.PERSON: "spark-admin:people_write",
    LineKind.WORKSPACE: "spark-admin:telephony_config_write",
    LineKind.VIRTUAL_LINE: "spark-admin:telephony_config_write",
}
READ_SCOPES: dict[LineKind, str] = {
    LineKind.PERSON: "spark-admin:people_read",
    LineKind.WORKSPACE: "spark-admin:telephony_config_read",
    LineKind.VIRTUAL_LINE: "spark-admin:telephony_config_read",
}
_ON = {"on": True, "off": False}


@dataclass(frozen=True)
class WebexAnswer:
    """One call and what Webex answered to it, for the audit log."""

    call: str
    status: int
    tracking_id: str | None

    def as_details(self) -> dict[str, object]:
        return {"call": self.call, "status": self.status, "trackingid": self.tracking_id}


class WriteRefused(UpstreamRejected):
    """Webex refused the PUT; the message says why in plain words."""


def put_body(settings: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Webex's `CallRecordingPut` for these settings (command words), with nothing else in it."""
    body: dict[str, Any] = {}
    for name, value in settings:
        if name == "record":
            body["enabled"] = _ON[value]
        elif name == "mode":
            body["record"] = MODE_WORDS[value]
        elif name == "notification":
            kind = NOTIFICATION_WORDS[value]
            # The PUT takes no `None` type: a notification is turned off by `enabled: false`.
            body["notification"] = {"enabled": False} if kind is None else {"type": kind, "enabled": True}
        elif name == "notification-to":
            body.setdefault("notification", {})["enabled"] = _ON[value]
        elif name == "repeat-beep":
            body["repeat"] = {"enabled": False} if value == "off" else {"enabled": True, "interval": int(value[:-1])}
        elif name == "announce-internal":
            body.setdefault("startStopAnnouncement", {})["internalCallsEnabled"] = _ON[value]
        elif name == "announce-pstn":
            body.setdefault("startStopAnnouncement", {})["pstnCallsEnabled"] = _ON[value]
        else:
            raise KeyError(name)
    return body


class CallRecordingWriter:
    """Reads (never from the cache) and changes one line's call-recording settings through the client."""

    def __init__(self, *, client: WebexClient) -> None:
        self._client = client

    def read(self, kind: LineKind, line_id: str) -> tuple[CallRecordingSettings, WebexAnswer]:
        """The line's settings as Webex holds them now; UpstreamError when Webex cannot say."""
        with upstream_call("webex", "read_call_recording"):
            return self._read(kind, line_id)

    def _read(self, kind: LineKind, line_id: str) -> tuple[CallRecordingSettings, WebexAnswer]:
        response = self._client.authorized("GET", self._url(kind, line_id))
        answer = WebexAnswer("GET", response.status_code, tracking_id(response))
        transport = self._client.transport
        if not response.is_success:
            if response.status_code == 403:
                raise transport.error(
                    AuthenticationFailed, f"the token lacks the {READ_SCOPES[kind]} scope or an admin role", response,
                    transport.upstream_said(response),
                )  # fmt: skip
            transport.raise_for_status(response, not_found=_no_such(kind), renewed=False)
        try:
            settings = CallRecordingSettings.model_validate(transport.json_object(response))
        except ValidationError as exc:
            raise transport.bad_response(
                "Webex sent call-recording settings in a shape the bot cannot read", response, exc
            ) from None
        return settings, answer

    def put(self, kind: LineKind, line_id: str, settings: Iterable[tuple[str, str]]) -> WebexAnswer:
        """One PUT with only these settings; raises UpstreamError (WriteRefused for 403 and 409)."""
        with upstream_call("webex", "change_call_recording"):
            return self._put(kind, line_id, settings)

    def _put(self, kind: LineKind, line_id: str, settings: Iterable[tuple[str, str]]) -> WebexAnswer:
        response = self._client.authorized("PUT", self._url(kind, line_id), json_body=put_body(settings))
        self._client.forget_settings(line_id)
        if response.is_success:
            return WebexAnswer("PUT", response.status_code, tracking_id(response))
        transport = self._client.transport
        said = transport.upstream_said(response)
        if response.status_code == 403:
            raise transport.error(
                WriteRefused, f"Webex refused the change: the token lacks the {WRITE_SCOPES[kind]} scope "
                "(or an admin role) — an admin must add it to the integration", response, said,
            )  # fmt: skip
        if response.status_code == 409 and kind is LineKind.WORKSPACE:
            vendor = _vendor(response)
            raise transport.error(
                WriteRefused, f"Webex refused the change: the recording vendor's ({vendor}) terms of service are "
                "not accepted yet in this organisation — an admin must accept them in Control Hub", response, None,
            )  # fmt: skip
        transport.raise_for_status(response, not_found=_no_such(kind), renewed=False)

    def _url(self, kind: LineKind, line_id: str) -> str:
        if not line_id.strip():
            raise NotFound(f"no such {KIND_LABELS[kind].lower()}", system=SYSTEM_NAME)
        before, after = _PATHS[kind]
        # Quoted as one path segment: the ID may come from a Slack user and must not add path parts.
        return self._client.url(f"{before}{quote(line_id.strip(), safe='')}{after}")


def _no_such(kind: LineKind) -> str:
    return f"Webex has no such {KIND_LABELS[kind].lower()}"


def _vendor(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return "unnamed vendor"
    answer = payload.get("callRecordingResponse") if isinstance(payload, dict) else None
    name = answer.get("vendorName") if isinstance(answer, dict) else None
    return name.strip()[:80] if isinstance(name, str) and name.strip() else "unnamed vendor"


def upstream_details(error: UpstreamError) -> dict[str, object]:
    """What the audit keeps of a failed call."""
    return {"status": error.status_code, "trackingid": error.tracking_id, "error": error.message}
