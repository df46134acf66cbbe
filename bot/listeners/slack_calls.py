"""Every Slack Web API call the bot makes, counted and timed for the metrics (bot/metrics/registry.py).

The bot's own client (cards, DMs, the Home tab) is a MeasuredWebClient; so is the client Bolt gives each
listener, which Bolt builds anew for every request as a plain WebClient: a middleware makes it a measured
one before any listener runs. It changes the object's class rather than copying it: MeasuredWebClient
adds behaviour and no state, and a copy (about 20 µs) would be made for every request, most of which
(a command answered through its response_url) never call the Web API at all.
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


def measure_listener_clients(app: App) -> None:
    """Give every listener a measured copy of the client Bolt made for its request."""

    @app.middleware
    def measured_client(context: BoltContext, next: Callable[[], BoltResponse], req: BoltRequest) -> BoltResponse:
        client = context.get("client")
        if type(client) is WebClient:
            client.__class__ = MeasuredWebClient
        return next()
