"""The WSGI application: Slack requests at /slack/events, a health check at /healthz."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from bot import __version__
from bot.store.database import Database, DatabaseUnavailable

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

MAX_BODY_BYTES = 1 << 20

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# (raw body, lower-cased headers) → (HTTP status, response body): see listeners/edge.py.
SlackEvents = Callable[[bytes, dict[str, str]], tuple[int, bytes]]

_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def build_wsgi_app(slack_events: SlackEvents, database: Database) -> WsgiApp:
    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_EVENTS_PATH:
            if method != "POST":
                return _json(start_response, 405, {"error": "POST only"}, [("Allow", "POST")])
            status, payload = slack_events(_read_body(environ), _headers(environ))
            return _raw(start_response, status, payload)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _health(start_response, database)
        return _json(start_response, 404, {"error": "not found"})

    return application


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # Slack's payloads are small; a cap keeps a forged huge body from tying up a thread.
    return environ["wsgi.input"].read(min(max(length, 0), MAX_BODY_BYTES)) if length > 0 else b""


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return headers


def _raw(start_response: StartResponse, status: int, payload: bytes) -> Iterable[bytes]:
    content_type = "application/json" if payload else "text/plain"
    start_response(
        f"{status} {_REASONS[status]}", [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
    )
    return [payload]


def _health(start_response: StartResponse, database: Database) -> Iterable[bytes]:
    try:
        database.check_writable()
    except DatabaseUnavailable as error:
        logger.warning("health check failed: %s", error)
        return _json(start_response, 503, {"status": "unavailable", "database": str(error), "version": __version__})
    return _json(start_response, 200, {"status": "ok", "database": "ok", "version": __version__})


def _json(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    extra_headers: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    reason = _REASONS[status]
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    start_response(f"{status} {reason}", headers + (extra_headers or []))
    return [payload]
