"""A threaded WSGI server on 127.0.0.1 for the console and the tests (production uses gunicorn)."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.serving.web import WsgiApp


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class LocalServer:
    def __init__(self, app: WsgiApp, *, port: int = 0) -> None:
        self._server = make_server(
            "127.0.0.1", port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.port = int(self._server.server_port)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        # A short poll interval makes stop() prompt (the default waits up to half a second).
        threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.02), name="local-wsgi", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
