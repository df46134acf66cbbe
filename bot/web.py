"""The WSGI application: Slack requests at /slack/events, a health check at /healthz."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import __version__
from bot.store.database import Database, DatabaseUnavailable

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def build_wsgi_app(slack_handler: SlackRequestHandler, database: Database) -> WsgiApp:
    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_EVENTS_PATH:
            if method != "POST":
                return _json(start_response, 405, {"error": "POST only"}, [("Allow", "POST")])
            timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
            if timestamp is not None and not (timestamp.isascii() and timestamp.isdigit()):
                # slack_sdk's verifier calls int() on it unguarded: a forged value would be a 500 and a traceback.
                return _json(start_response, 401, {"error": "invalid request"})
            return slack_handler(environ, start_response)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _health(start_response, database)
        return _json(start_response, 404, {"error": "not found"})

    return application


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
    reason = {
        200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable",
    }[status]  # fmt: skip
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    start_response(f"{status} {reason}", headers + (extra_headers or []))
    return [payload]
