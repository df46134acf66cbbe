"""The parts of gunicorn's threaded worker that bot/serving/worker.py builds on are still there, with the same shape.

The worker's guarantee (a slow or silent client never takes a thread) is tested through the real process in
test_fault_serving.py; this file names, one by one, the gunicorn internals that guarantee rests on, so that an
upgrade that moves one of them fails here with its name rather than in production with a hung thread.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
from gunicorn.http.unreader import Unreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from bot.serving.worker import WholeRequestWorker


def _parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize(
    ("method", "parameters"),
    [("accept", ["self", "listener"]), ("enqueue_req", ["self", "conn"]), ("murder_keepalived", ["self", "force"])],
)
def test_the_overridden_methods_keep_their_signatures(method: str, parameters: list[str]) -> None:
    assert _parameters(getattr(ThreadWorker, method)) == parameters
    assert getattr(WholeRequestWorker, method) is not getattr(ThreadWorker, method), f"{method} is overridden"


def test_every_way_to_a_thread_still_passes_through_enqueue_req() -> None:
    # New connections (accept), kept-alive ones becoming readable, pipelined ones after an answer: if one of
    # them stopped calling enqueue_req, its requests would reach a thread unread, and a slow client could hold it.
    source = inspect.getsource(ThreadWorker)
    for caller in ("accept", "on_client_socket_readable", "finish_request"):
        body = inspect.getsource(getattr(ThreadWorker, caller))
        assert "self.enqueue_req(conn)" in body, f"ThreadWorker.{caller} no longer hands its connection to enqueue_req"
    assert "self.enqueue_req(" in source


def test_the_event_loop_still_ticks_murder_keepalived_and_forces_it_on_stop() -> None:
    run = inspect.getsource(ThreadWorker.run)
    assert re.search(r"self\.murder_keepalived\(\)", run), "the deadlines of requests being read need this tick"
    assert "self.murder_keepalived(force=True)" in run, "a stop must close the connections still being read"


def test_the_worker_state_it_shares_with_gunicorn_is_still_named_the_same() -> None:
    init = inspect.getsource(ThreadWorker.__init__)
    assert "self.nr_conns = 0" in init
    assert "self.poller = selectors.DefaultSelector()" in inspect.getsource(ThreadWorker.init_process)
    assert "self.alive" in inspect.getsource(ThreadWorker.run)


def test_a_connection_still_parses_bytes_given_back_to_its_unreader() -> None:
    assert _parameters(TConn.__init__) == ["self", "cfg", "sock", "client", "server"]
    assert _parameters(TConn.close) == ["self", "graceful"]
    assert "self.parser = http.get_parser(self.cfg, self.sock, self.client)" in inspect.getsource(TConn.init)
    assert _parameters(Unreader.unread) == ["self", "data"]
    assert _parameters(Unreader.take_buffered) == ["self"]
