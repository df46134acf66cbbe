"""The WSGI app that serves a bot in its own process: the tests and the console (see bot/serving/ for `serve`)."""

from __future__ import annotations

from typing import Protocol

from bot.serving.dispatch import BoltDispatcher
from bot.serving.edge import SlackEdge
from bot.serving.web import WsgiApp, build_wsgi_app


class Servable(Protocol):
    """What serving needs of a built bot (bot/app.py's RecordingBot): its edge and its dispatcher."""

    @property
    def edge(self) -> SlackEdge: ...

    @property
    def dispatcher(self) -> BoltDispatcher: ...


def wsgi_app_for(bot: Servable) -> WsgiApp:
    dispatcher = bot.dispatcher
    return build_wsgi_app(bot.edge.handle, dispatcher.health, dispatcher.page if dispatcher.installable else None)
