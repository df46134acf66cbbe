"""The production HTTP server: gunicorn, one worker process with threads, as the Procfile runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError
from gunicorn.glogging import Logger as GunicornLogger

DEFAULT_THREADS = 8


class AppLoadFailed(Exception):
    """The app cannot start (bad configuration, database unavailable, another instance): one line, no traceback."""


class _ServerLogs(GunicornLogger):  # type: ignore[misc]
    # The server's own lines go through the bot's logging too: one format (text or JSON), redacted.
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, load: Callable[[], Any], *, bind: str, threads: int) -> None:
        self._load = load
        self._bind = bind
        self._threads = threads
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("logger_class", _ServerLogs)
        self.cfg.set("bind", self._bind)
        # One process: the schedule and the SQLite file belong to one owner. Threads serve Slack's
        # concurrent requests; the slow work after each ack runs on the bot's own pool.
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", max(1, self._threads))
        self.cfg.set("timeout", 30)
        self.cfg.set("graceful_timeout", 20)
        self.cfg.set("keepalive", 5)

    def load(self) -> Any:
        # Called in the worker after the fork, so background threads start in the serving process.
        try:
            return self._load()
        except AppLoadFailed as error:
            # gunicorn prints an AppImportError's message alone and stops the server.
            raise AppImportError(str(error)) from None


def run_gunicorn(load: Callable[[], Any], *, bind: str, threads: int = DEFAULT_THREADS) -> None:
    """Serve the WSGI app that `load()` builds until the server is told to stop."""
    _Gunicorn(load, bind=bind, threads=threads).run()
