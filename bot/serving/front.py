"""The HTTP front: `python -m bot.serving.front`, started by `recording-bot serve` (bot/serving/process.py).

It serves /slack/events and /healthz with gunicorn, verifies Slack's signature, acks, and hands every
request to the bot's process over the link. It reads its settings from one environment variable that
the bot's process sets, and stops when that process does.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
from typing import TYPE_CHECKING

from bot.logs import configure_logging
from bot.redaction import redactor
from bot.serving import lazy_imports  # before gunicorn: see the module
from bot.serving.arenas import limit_malloc_arenas
from bot.serving.settings import METRICS_TOKEN_VARIABLE, SECRET_VARIABLE, SETTINGS_VARIABLE, FrontSettings
from bot.serving.worker import run_gunicorn

if TYPE_CHECKING:
    from bot.serving.web import WsgiApp

_PR_SET_PDEATHSIG = 1


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
    # The front's threads only parse a request and pass it on: one arena is enough, and keeps the worker near
    # the master's size. Set before the fork, so the worker has it too.
    limit_malloc_arenas(1)
    if settings.cpus:
        os.sched_setaffinity(0, settings.cpus)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    secret = os.environ.get(SECRET_VARIABLE, "")
    metrics_token = os.environ.get(METRICS_TOKEN_VARIABLE, "")
    redactor.add(secret, metrics_token)
    # Everything loaded so far lives as long as the process: the collector need not walk it again on every
    # full collection, and the worker forked next shares it.
    gc.freeze()
    run_gunicorn(lambda: _worker_app(settings, secret, metrics_token), bind=f"0.0.0.0:{settings.port}",
                 threads=settings.threads)  # fmt: skip
    return 0


def _worker_app(settings: FrontSettings, secret: str, metrics_token: str) -> WsgiApp:
    """The app, built in the worker once it is forked: the master (gunicorn's arbiter, which only watches the
    worker) then holds neither the edge nor the link (about 1.5 MB less of the 120 MB that all three count)."""
    from bot.serving.front_app import front_app

    # Every response's Date header needs it: loaded here, before the threads serve, not by the first of them.
    lazy_imports.load("email.utils")
    app = front_app(settings, secret, metrics_token)
    # As above, for what the worker loaded: a full collection (a pause an acknowledgement would wait out)
    # need not walk the app's modules again.
    gc.freeze()
    return app


if __name__ == "__main__":
    sys.exit(main())
