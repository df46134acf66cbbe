"""The HTTP front: `python -m bot.serving.front`, started by `recording-bot serve` (bot/serving/process.py).

It serves /slack/events and /healthz with gunicorn, verifies Slack's signature, acks, and hands every
request to the bot's process over the link. It reads its settings from one environment variable that
the bot's process sets, and stops when that process does.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from bot.logs import configure_logging
from bot.metrics.tally import EDGE
from bot.redaction import redactor
from bot.serving.edge import BotSlow, BotUnavailable, SlackEdge
from bot.serving.link import LinkClient
from bot.serving.metrics_page import MetricsPage
from bot.serving.settings import METRICS_TOKEN_VARIABLE, SECRET_VARIABLE, SETTINGS_VARIABLE, FrontSettings
from bot.serving.web import WsgiApp, build_wsgi_app
from bot.serving.worker import run_gunicorn

# Slack reads a form's errors from the answer, and gives up on it after 3 seconds.
ANSWER_SECONDS = 2.5
# Platforms' health checks wait a few seconds; a database lock is waited on for at most 2.
HEALTH_SECONDS = 5.0
# How long an ack waits for the bot's process to say it has stored the request (in its inbox, where a kill of
# that process cannot lose it); then it goes anyway, well within Slack's 3 seconds.
STORED_SECONDS = 1.0
# A scrape waits this long for the bot's process to make the page (Prometheus's own timeout is 10 s).
METRICS_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1

logger = logging.getLogger(__name__)


class RemoteDispatcher:
    """The SlackDispatcher of the front: every request goes to the bot's process."""

    def __init__(self, link: LinkClient) -> None:
        self._link = link

    def queue(self, text: str, headers: Mapping[str, str], *, event_id: str | None) -> bool:
        # Acked once the bot's process has it stored: a kill of that process after the ack then loses nothing.
        # The bot's process answers a request it has no room for through its response_url.
        message = {"op": "queue", "body": text, "headers": dict(headers), "event_id": event_id}
        try:
            self._link.ask(message, timeout=STORED_SECONDS)
        except BotSlow:
            logger.warning("the bot's process did not confirm a request within %g s; acknowledged anyway",
                           STORED_SECONDS)  # fmt: skip
        return True

    def answer_now(self, text: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
        answer = self._link.ask({"op": "answer_now", "body": text, "headers": dict(headers)}, timeout=ANSWER_SECONDS)
        return int(answer["status"]), str(answer["body"]).encode()

    def metrics(self) -> tuple[str, bytes]:
        """/metrics, made by the bot's process with this process's counts (raises BotUnavailable)."""
        answer = self._link.ask({"op": "metrics", "edge": EDGE.snapshot()}, timeout=METRICS_SECONDS)
        return str(answer["content_type"]), str(answer["page"]).encode()

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            answer = self._link.ask({"op": "health"}, timeout=HEALTH_SECONDS)
        except BotUnavailable as error:
            return 503, {"status": "unavailable", "bot": str(error)}
        return int(answer["status"]), dict(answer["body"])


    def page(self, path: str, query: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Installable mode's install pages, answered by the bot's process (it holds the OAuth flow)."""
        try:
            answer = self._link.ask({"op": "page", "path": path, "query": query, "headers": headers},
                                    timeout=ANSWER_SECONDS * 4)  # fmt: skip
        except (BotUnavailable, BotSlow):
            return 503, [("Content-Type", "text/plain")], b"recording-bot is not available right now; try again"
        listed = [(str(name), str(value)) for name, value in answer.get("headers") or []]
        return int(answer["status"]), listed, str(answer["body"]).encode()


def front_app(settings: FrontSettings, signing_secret: str, metrics_token: str = "") -> WsgiApp:
    dispatcher = RemoteDispatcher(LinkClient(settings.link_address, settings.link_key))
    edge = SlackEdge(signing_secret=signing_secret, dispatcher=dispatcher)
    metrics = MetricsPage(render=dispatcher.metrics, token=metrics_token)
    return build_wsgi_app(edge.handle, dispatcher.health, dispatcher.page, metrics=metrics)


def _stop_with(parent_pid: int) -> None:
    """Have the kernel send SIGTERM when the bot's process ends, however it ends (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: until it is stopped, the front answers 503 once the bot has gone
    if os.getppid() != parent_pid:
        sys.exit(0)  # the bot's process ended before the request above was made


def main() -> int:
    settings = FrontSettings.from_environment(os.environ[SETTINGS_VARIABLE])
    _stop_with(settings.parent_pid)
    if settings.cpus:
        os.sched_setaffinity(0, settings.cpus)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    secret = os.environ.get(SECRET_VARIABLE, "")
    metrics_token = os.environ.get(METRICS_TOKEN_VARIABLE, "")
    redactor.add(secret, metrics_token)
    app = front_app(settings, secret, metrics_token)
    # Everything loaded so far lives as long as the process: the collector need not walk it again on every
    # full collection (a pause an acknowledgement would wait out), and the worker forked next shares it.
    gc.freeze()
    run_gunicorn(lambda: app, bind=f"0.0.0.0:{settings.port}", threads=settings.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
