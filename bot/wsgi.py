"""The object the production server serves in HTTP mode (see bot/server.py and the Procfile)."""

from __future__ import annotations

import sys

from bot.app import RecordingBot, create_app
from bot.config import load_config
from bot.logs import configure_logging
from bot.web import WsgiApp, build_wsgi_app


def wsgi_app_for(bot: RecordingBot) -> WsgiApp:
    return build_wsgi_app(bot.edge.handle, bot.database)


# How long a thread may hold the GIL while another waits for it (CPython's default is 5 ms). The work
# after each ack (the reply, the audit row) runs on other threads of this process; a short interval lets
# the thread that owes Slack its next ack in between, instead of queueing it behind that work.
SWITCH_INTERVAL_SECONDS = 0.0002


def create() -> WsgiApp:
    """Build the bot inside the server's worker process, so background threads start after the fork."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    config = load_config()
    configure_logging(level=config.log_level, fmt=config.log_format)
    return wsgi_app_for(create_app(config).start())
