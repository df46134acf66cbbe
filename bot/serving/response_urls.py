"""Replies through Slack's `response_url`s, over kept-alive connections.

Bolt's own `respond()` opens a new connection (and, against Slack, a new TLS session) for every reply.
Every command and click is answered this way, so the bot keeps a few idle connections per host instead
and hands each request a `respond()` that uses them: the same call, the same message, less work per
reply on the process that also owes Slack its next acknowledgement. `http.client` rather than httpx:
on this path httpx's machinery cost more CPU per reply than the connection it saved.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import App, BoltContext, BoltResponse, Respond
from slack_sdk.errors import SlackRequestError
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookResponse

from bot.metrics.registry import record_upstream_call, status_outcome

logger = logging.getLogger(__name__)

# Slack answers a response_url post in well under a second; a stuck one must not hold a worker.
TIMEOUT_SECONDS = 10.0
# Idle connections kept per host (Slack's replies all go to one host).
IDLE_PER_HOST = 8

_Key = tuple[str, str, int]
# A kept-alive connection the server has closed meanwhile fails like this before it sends anything back.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class ResponseUrlClient:
    """Posts messages to response_urls. Safe to share between threads."""

    def __init__(self, *, verify: ssl.SSLContext | None = None, timeout: float = TIMEOUT_SECONDS) -> None:
        self._tls = verify or ssl.create_default_context()
        self._timeout = timeout
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def post(self, url: str, message: dict[str, Any]) -> WebhookResponse:
        """Post `message` to `url`; raises SlackRequestError when Slack cannot be reached. Counted and timed as
        the Slack call `response_url`."""
        started = time.perf_counter()
        outcome = "unreachable"
        try:
            response = self._post(url, message)
            outcome = status_outcome(response.status_code)
            return response
        finally:
            record_upstream_call("slack", "response_url", outcome, time.perf_counter() - started)

    def _post(self, url: str, message: dict[str, Any]) -> WebhookResponse:
        try:
            parts = urlsplit(url)
            port = parts.port  # raises on a port that is not one
        except ValueError:
            raise SlackRequestError("the response_url is not a URL") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SlackRequestError("the response_url is not an http(s) URL")
        key: _Key = (parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = json.dumps(message).encode()
        headers = {"Content-Type": "application/json;charset=utf-8", "Content-Length": str(len(body))}
        for attempt in (1, 2):
            connection, reused = self._take(key)
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except _STALE:
                connection.close()
                if reused and attempt == 1:
                    continue  # once more, on a new connection
                raise SlackRequestError("Slack closed the connection before answering a reply") from None
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                raise SlackRequestError(f"could not reach Slack's response_url ({type(error).__name__})") from None
            if response.will_close:
                connection.close()
            else:
                self._give_back(key, connection)
            text = data.decode("utf-8", "replace")
            if response.status >= 400:
                logger.warning("Slack refused a reply: HTTP %s %s", response.status, text[:100])
            return WebhookResponse(url=url, status_code=response.status, body=text, headers=dict(response.getheaders()))
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            idle = [connection for connections in self._idle.values() for connection in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def _take(self, key: _Key) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls), False
        return http.client.HTTPConnection(host, port, timeout=self._timeout), False

    def _give_back(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_PER_HOST:
                idle.append(connection)
                return
        connection.close()


class PooledRespond(Respond):
    """Bolt's `respond()`, sent through a shared ResponseUrlClient."""

    def __init__(self, *, response_url: str | None, client: ResponseUrlClient) -> None:
        super().__init__(response_url=response_url)
        self._client = client

    def __call__(
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any] | Block] | None = None,
        attachments: Sequence[dict[str, Any] | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        if isinstance(text, dict):
            return self._client.post(self.response_url, _message(**text))
        return self._client.post(
            self.response_url,
            _message(
                text=text,
                blocks=blocks,
                attachments=attachments,
                response_type=response_type,
                replace_original=replace_original,
                delete_original=delete_original,
                unfurl_links=unfurl_links,
                unfurl_media=unfurl_media,
                thread_ts=thread_ts,
                metadata=metadata,
            ),
        )


def register(app: App, client: ResponseUrlClient) -> None:
    @app.middleware
    def pooled_respond(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        if context.response_url:
            context["respond"] = PooledRespond(response_url=context.response_url, client=client)
        return next()


def _message(**fields: Any) -> dict[str, Any]:
    """The JSON body of a response_url post: the fields given, Block Kit objects as dicts."""
    message: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in ("blocks", "attachments"):
            value = [item.to_dict() if hasattr(item, "to_dict") else item for item in value]
        message[name] = value
    return message
