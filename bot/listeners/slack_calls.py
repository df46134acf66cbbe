"""Every Slack Web API call the bot makes, counted and timed for the metrics (bot/metrics/registry.py).

The bot's own client (cards, DMs, the Home tab) is a MeasuredWebClient; so is the client Bolt gives each
listener, which Bolt builds anew for every request as a plain WebClient: a middleware swaps it for a
measured one with the same settings before any listener runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.metrics.registry import record_upstream_call, status_outcome


class MeasuredWebClient(WebClient):
    """A WebClient whose every API call is counted by method and outcome, and timed (retries included)."""

    def api_call(self, api_method: str, **arguments: Any) -> SlackResponse:
        started = time.perf_counter()
        outcome = "unreachable"
        try:
            response = super().api_call(api_method, **arguments)
            outcome = status_outcome(response.status_code)
            return response
        except SlackApiError as error:
            # Slack answered, and refused (`ok: false`, or an HTTP error such as a 429 once retries ran out).
            status = getattr(error.response, "status_code", 200)
            outcome = "rejected" if status < 400 else status_outcome(status)
            raise
        finally:
            record_upstream_call("slack", api_method, outcome, time.perf_counter() - started)


def measured_copy(client: WebClient) -> MeasuredWebClient:
    """The same client (token, URL, timeout, TLS, proxy, headers, team, logger, retries), measured."""
    return MeasuredWebClient(
        token=client.token, base_url=client.base_url, timeout=client.timeout, ssl=client.ssl, proxy=client.proxy,
        headers=client.headers, team_id=client.default_params.get("team_id"), logger=client.logger,
        retry_handlers=list(client.retry_handlers) if client.retry_handlers is not None else None,
    )  # fmt: skip


def measure_listener_clients(app: App) -> None:
    """Give every listener a measured copy of the client Bolt made for its request."""

    @app.middleware
    def measured_client(context: BoltContext, next: Callable[[], BoltResponse], req: BoltRequest) -> BoltResponse:
        client = context.client
        if client is not None and not isinstance(client, MeasuredWebClient):
            context["client"] = measured_copy(client)
        return next()
