"""The HTTP front's WSGI app: the edge (signature, ack) and the dispatcher that hands each request to the bot's
process over the link. Loaded by the front's gunicorn worker only, after it is forked (bot/serving/front.py):
its gunicorn master, which only watches the worker, does not carry it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.metrics.tally import EDGE
from bot.serving.edge import BotSlow, BotUnavailable, SlackEdge
from bot.serving.link import LinkClient
from bot.serving.metrics_page import MetricsPage
from bot.serving.settings import FrontSettings
from bot.serving.web import WsgiApp, build_wsgi_app
from bot.store.database import DatabaseUnavailable
from bot.store.inbox import InboxFile

# Slack reads a form's errors from the answer, and gives up on it after 3 seconds.
ANSWER_SECONDS = 2.5
# Platforms' health checks wait a few seconds; a database lock is waited on for at most 2.
HEALTH_SECONDS = 5.0
# How long an ack waits for the bot's process to say it has stored the request (in its inbox, where a kill of
# that process cannot lose it); then it goes anyway, well within Slack's 3 seconds.
STORED_SECONDS = 1.0
# A scrape waits this long for the bot's process to make the page (Prometheus's own timeout is 10 s).
METRICS_SECONDS = 5.0

# The headers a queued request needs in the bot's process: Bolt parses the body by its content type, the inbox
# keeps it, and an event's retry is logged by number. The signature was checked here, and the rest (the
# platform's router, the client) is read by nobody: not sent, it is neither encoded, parsed, nor held while
# the request waits in the bot's queue.
_FORWARDED_HEADERS = ("content-type", "x-slack-retry-num", "x-slack-retry-reason")

logger = logging.getLogger(__name__)


class RemoteDispatcher:
    """The SlackDispatcher of the front: every request goes to the bot's process.

    A request is acked once it is stored, so that a kill of the bot's process after the ack loses nothing.
    With an inbox file (SQLite) the front stores it there itself and only sends it on: the ack waits neither
    for the bot's process, busy with earlier requests' work, nor for its database. Without one (PostgreSQL),
    or while the file cannot be written, the bot's process stores it and says so."""

    def __init__(self, link: LinkClient, inbox: InboxFile | None = None) -> None:
        self._link = link
        self._inbox = inbox
        # The inbox file's problem now, logged when it starts and when it ends rather than for every request.
        self._problem: str | None = None
        self._problem_lock = threading.Lock()

    def queue(self, text: str, headers: Mapping[str, str], *, event_id: str | None, urgent: bool = False) -> bool:
        # The bot's process answers a request it has no room for through its response_url.
        forwarded = {name: headers[name] for name in _FORWARDED_HEADERS if name in headers}
        message = {"op": "queue", "body": text, "headers": forwarded, "event_id": event_id, "urgent": urgent}
        # Events are not stored (serving/dispatch.py says why).
        entry = self._store(text, forwarded.get("content-type", "")) if event_id is None else None
        if entry is not None:
            try:
                self._link.send({**message, "entry": entry})
            except BotUnavailable:
                self._unstore(entry)  # Slack is told 503: nothing is left behind to be told about again
                raise
            return True
        try:
            self._link.ask(message, timeout=STORED_SECONDS)
        except BotSlow:
            logger.warning("the bot's process did not confirm a request within %g s; acknowledged anyway",
                           STORED_SECONDS)  # fmt: skip
        return True

    def _store(self, text: str, content_type: str) -> int | None:
        """The request's row in the inbox file; None when there is no file or it cannot be written now."""
        if self._inbox is None:
            return None
        try:
            entry = self._inbox.add(body=text, content_type=content_type)
        except DatabaseUnavailable as error:
            with self._problem_lock:
                known, self._problem = self._problem, str(error)
            if known != str(error):
                logger.warning("%s; the bot's process stores each request instead until it can be written", error)
            return None
        if self._problem is not None:
            with self._problem_lock:
                known, self._problem = self._problem, None
            if known is not None:
                logger.info("the inbox file %s can be written again", self._inbox.path)
        return entry

    def _unstore(self, entry: int) -> None:
        assert self._inbox is not None
        try:
            self._inbox.remove(entry)
        except DatabaseUnavailable as error:
            # Left there: at the bot's next start its person is told it was not done, besides Slack's error.
            logger.warning("a request the bot's process never got stays in the inbox file: %s", error)

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
    link = LinkClient(settings.link_address, settings.link_key)
    link.warm(settings.threads)
    inbox = InboxFile(Path(settings.inbox_path), settings.instance_id) if settings.inbox_path else None
    dispatcher = RemoteDispatcher(link, inbox)
    edge = SlackEdge(signing_secret=signing_secret, dispatcher=dispatcher)
    metrics = MetricsPage(render=dispatcher.metrics, token=metrics_token)
    return build_wsgi_app(edge.handle, dispatcher.health, dispatcher.page, metrics=metrics)
