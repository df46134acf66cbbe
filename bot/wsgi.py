"""The object the production server serves in HTTP mode (see bot/server.py and the Procfile)."""

from __future__ import annotations

from bot.app import RecordingBot, create_app
from bot.config import load_config
from bot.logs import configure_logging
from bot.web import WsgiApp, build_wsgi_app


def wsgi_app_for(bot: RecordingBot) -> WsgiApp:
    return build_wsgi_app(bot.edge.handle, bot.database)


def create() -> WsgiApp:
    """Build the bot inside the server's worker process, so background threads start after the fork."""
    config = load_config()
    configure_logging(level=config.log_level, fmt=config.log_format)
    return wsgi_app_for(create_app(config).start())
