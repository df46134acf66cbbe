"""Bolt middleware: give every incoming Slack request an ID before any listener runs."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App, BoltContext, BoltResponse

from bot.logs import new_request_id


def register(app: App) -> None:
    @app.middleware
    def assign_request_id(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        # Listeners read it from the context and carry it onto the background pool with their work.
        context["request_id"] = new_request_id()
        return next()
