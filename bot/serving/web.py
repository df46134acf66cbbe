"""The WSGI application: Slack requests at /slack/events, a health check at /healthz, metrics at /metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from bot.serving.edge import BotUnavailable
from bot.serving.metrics_page import METRICS_PATH, MetricsPage
from bot.serving.settings import MAX_BODY_BYTES
from bot.words import size_text

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# (raw body, lower-cased headers) → (HTTP status, response body): see listeners/edge.py.
SlackEvents = Callable[[bytes, dict[str, str]], tuple[int, bytes]]
# () → (HTTP status, JSON body) of the health check: see listeners/dispatch.py.
HealthCheck = Callable[[], tuple[int, dict[str, Any]]]
# (path, query string, lower-cased headers) → (HTTP status, headers, body): installable mode's OAuth pages
# (serving/oauth_pages.py), or None in single-workspace mode (404, as any unknown path).
InstallPages = Callable[[str, str, dict[str, str]], tuple[int, list[tuple[str, str]], bytes]]
INSTALL_PAGE_PATHS = ("/slack/install", "/slack/oauth_redirect")

# What the bot side answers, as it is: the edge's own refusals and 503, and Bolt's 4xx. Any other status
# (a 5xx from Bolt, a number that is no HTTP status) is a failure: Slack gets a clean JSON answer instead.
_BOT_FAILED = b'{"error": "recording-bot could not handle this request"}'


class _Refused(Exception):
    """A request malformed at the HTTP level: refused with `status` before anything reads its content."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


def build_wsgi_app(
    slack_events: SlackEvents,
    health: HealthCheck,
    pages: InstallPages | None = None,
    *,
    metrics: MetricsPage | None = None,
) -> WsgiApp:
    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_EVENTS_PATH:
            if method != "POST":
                return _json(start_response, 405, {"error": "POST only"}, [("Allow", "POST")])
            try:
                body = _read_body(environ)
            except _Refused as refused:
                logger.info("refused a request to %s: %s", SLACK_EVENTS_PATH, refused.why)
                return _json(start_response, refused.status, {"error": f"request refused: {refused.why}"})
            status, payload = _expected(*slack_events(body, _headers(environ)), what="a Slack request")
            return _raw(start_response, status, payload)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            health_status, health_body = health()
            if _known(health_status) is None:
                logger.warning("the bot answered the health check with HTTP %s; sent 500", health_status)
                health_status = HTTPStatus.INTERNAL_SERVER_ERROR
            return _json(start_response, health_status, health_body)
        if path in INSTALL_PAGE_PATHS and method in ("GET", "HEAD") and pages is not None:
            status, headers, page = pages(path, str(environ.get("QUERY_STRING") or ""), _headers(environ))
            if _known(status) is None:
                status = HTTPStatus.INTERNAL_SERVER_ERROR
            start_response(f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(page)))])
            return [page]
        if path == METRICS_PATH and method in ("GET", "HEAD") and metrics is not None:
            return _metrics(metrics, environ, start_response)
        return _json(start_response, 404, {"error": "not found"})

    return application


def _metrics(page: MetricsPage, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    refusal = page.refusal(_headers(environ), str(environ.get("REMOTE_ADDR") or ""))
    if refusal is not None:
        return _json(start_response, refusal.status, {"error": refusal.error}, list(refusal.headers))
    try:
        content_type, body = page.render()
    except BotUnavailable as error:
        logger.warning("could not read the bot's metrics: %s", error)
        return _json(start_response, 503, {"error": "the bot's process did not give its metrics; try again"})
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _known(status: int) -> HTTPStatus | None:
    try:
        return HTTPStatus(status)
    except ValueError:
        return None


def _expected(status: int, payload: bytes, *, what: str) -> tuple[int, bytes]:
    """The bot side's answer if it meant it; else one log line, and the status Slack gets with a JSON body."""
    known = _known(status)
    if known is not None and (known < HTTPStatus.INTERNAL_SERVER_ERROR or known == HTTPStatus.SERVICE_UNAVAILABLE):
        return status, payload
    sent = known or HTTPStatus.INTERNAL_SERVER_ERROR
    # Its body (Bolt's error page, say) is not for Slack; the bot's process has logged the failure itself.
    logger.warning("the bot answered %s with HTTP %s; sent Slack HTTP %d and a JSON error", what, status, sent)
    return sent, _BOT_FAILED


def _read_body(environ: dict[str, Any]) -> bytes:
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not declared:
        if environ.get("HTTP_TRANSFER_ENCODING"):
            raise _Refused(411, "its body is sent in chunks; send it with a Content-Length")
        return b""
    # Plain ASCII digits only: int() would also take "+5", " 5", "٥" and 4,000-digit numbers.
    if not (declared.isascii() and declared.isdigit() and len(declared) <= 12):
        raise _Refused(400, "its Content-Length is not a number of bytes")
    length = int(declared)
    # Slack's payloads are small; a cap keeps a forged huge body from tying up a thread or the memory.
    if length > MAX_BODY_BYTES:
        raise _Refused(413, f"its body is larger than {size_text(MAX_BODY_BYTES)}")
    try:
        body = environ["wsgi.input"].read(length) if length else b""
    except Exception as error:
        # Whatever the server raises while reading (the client went away, a broken body): the client's fault.
        raise _Refused(400, f"its body could not be read ({type(error).__name__})") from None
    if len(body) != length:
        raise _Refused(400, f"its body ended after {len(body)} of the {length} bytes its Content-Length announced")
    return bytes(body)


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
        f"{status} {HTTPStatus(status).phrase}", [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
    )
    return [payload]


def _json(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    extra_headers: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    reason = HTTPStatus(status).phrase
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    start_response(f"{status} {reason}", headers + (extra_headers or []))
    return [payload]
