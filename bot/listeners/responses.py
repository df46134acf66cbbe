"""Replies through Slack's `response_url`s, over kept-alive connections.

Bolt's own `respond()` opens a new connection (and, against Slack, a new TLS session) for every reply.
Every command and click is answered this way, so the bot keeps one small connection pool instead and
hands each request a `respond()` that uses it: the same call, the same message, less work per reply
on the process that also owes Slack its next acknowledgement.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from slack_bolt import App, BoltContext, BoltResponse, Respond
from slack_sdk.errors import SlackRequestError
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookResponse

logger = logging.getLogger(__name__)

# Slack answers a response_url post in well under a second; a stuck one must not hold a worker.
TIMEOUT_SECONDS = 10.0


class ResponseUrlClient:
    """Posts messages to response_urls. Safe to share between threads."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, timeout: float = TIMEOUT_SECONDS) -> None:
        self._http = httpx.Client(
            timeout=timeout,
            verify=verify,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )

    def post(self, url: str, message: dict[str, Any]) -> WebhookResponse:
        try:
            response = self._http.post(url, json=message)
        except httpx.HTTPError as error:
            # SlackClientError, as Bolt's respond() raises: the reply helpers log it and carry on.
            raise SlackRequestError(f"could not reach Slack's response_url ({type(error).__name__})") from None
        if response.status_code >= 400:
            logger.warning("Slack refused a reply: HTTP %s %s", response.status_code, response.text[:100])
        return WebhookResponse(
            url=url, status_code=response.status_code, body=response.text, headers=dict(response.headers)
        )

    def close(self) -> None:
        self._http.close()


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
