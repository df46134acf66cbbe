"""The WSGI app that serves a bot in its own process: the tests and the console (see bot/serving/ for `serve`)."""

from __future__ import annotations

from typing import Protocol

from bot.serving.dispatch import BoltDispatcher
from bot.serving.edge import SlackEdge
from bot.serving.metrics_page import MetricsPage
from bot.serving.web import WsgiApp, build_wsgi_app


class Servable(Protocol):
    """What serving needs of a built bot (bot/app.py's RecordingBot): its edge, its dispatcher, its metrics."""

    @property
    def edge(self) -> SlackEdge: ...

    @property
    def dispatcher(self) -> BoltDispatcher: ...

    @property
    def metrics_token(self) -> str: ...

    def render_metrics(self, edge_snapshot: object = None) -> tuple[str, bytes]: ...


def wsgi_app_for(bot: Servable) -> WsgiApp:
    dispatcher = bot.dispatcher
    metrics = MetricsPage(render=bot.render_metrics, token=bot.metrics_token)
    return build_wsgi_app(
        bot.edge.handle, dispatcher.health, dispatcher.page if dispatcher.installable else None, metrics=metrics
    )
