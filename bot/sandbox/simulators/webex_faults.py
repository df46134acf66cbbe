"""The simulated Webex's faults and error answers: what a test switches on, and the bodies Webex sends with
its errors (a message, its errors list and the trackingId) and its OAuth refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from bot.sandbox.simulators.base import Reply

RENEWAL_PATH = "/access_token"

FaultKind = Literal["status", "slow", "malformed_json", "html", "empty"]


@dataclass
class Fault:
    """A switched-on failure: applies to the next `remaining` matching requests (None = until cleared)."""

    kind: FaultKind
    remaining: int | None
    status: int = 200
    retry_after: str | None = None
    delay_seconds: float = 0.0
    # "api" = every endpoint except the token endpoint; anything else = a substring of the path.
    target: str = "api"
    message: str | None = None

    def applies_to(self, path: str) -> bool:
        if self.target == "api":
            return not path.endswith(RENEWAL_PATH)
        return self.target in path


DEFAULT_MESSAGES = {
    400: "Bad request.",
    401: "The request requires a valid access token set in the Authorization request header.",
    403: "Unauthorized: the token does not have the required scopes or admin role.",
    404: "Virtual line not found.",
    423: "Resource is locked; retry later.",
    429: "Too many requests; retry after the time in the Retry-After header.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}


def fault_reply(fault: Fault, tracking_id: str) -> Reply:
    """What a switched-on fault answers in place of the endpoint."""
    if fault.kind == "malformed_json":
        return Reply(status=200, body='{"virtualLines": [{"id": "Y2lzY29', content_type="application/json")
    if fault.kind == "html":
        page = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Proxy sign-in</body></html>"
        return Reply(status=200, body=page, content_type="text/html; charset=utf-8")
    if fault.kind == "empty":
        return Reply(status=200, body=b"", content_type="application/json")
    reply = error_reply(fault.status, tracking_id, fault.message)
    if fault.retry_after is not None:
        reply.headers["Retry-After"] = fault.retry_after
    return reply


def retry_after_text(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def error_reply(status: int, tracking_id: str, message: str | None = None) -> Reply:
    text = message or DEFAULT_MESSAGES.get(status, "Error.")
    body = {"message": text, "errors": [{"description": text}], "trackingId": tracking_id}
    return Reply(status=status, body=json.dumps(body))


def oauth_error(status: int, error: str, description: str, tracking_id: str) -> Reply:
    body = {"error": error, "error_description": description, "trackingId": tracking_id}
    return Reply(status=status, body=json.dumps(body))
