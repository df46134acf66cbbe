"""The WSGI app that serves a bot in its own process: the tests and the console (see bot/serving/ for `serve`)."""

from __future__ import annotations

from bot.app import RecordingBot
from bot.serving.web import WsgiApp, build_wsgi_app


def wsgi_app_for(bot: RecordingBot) -> WsgiApp:
    return build_wsgi_app(bot.edge.handle, bot.dispatcher.health)
