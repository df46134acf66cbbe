"""A threaded WSGI server on 127.0.0.1 for the console and the tests (production uses gunicorn)."""

from __future__ import annotations

import contextlib
import socket
import threading
from socketserver import TCPServer, ThreadingMixIn
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
        stop_serving(self._server)


def stop_serving(server: TCPServer) -> None:
    """Stop `server`'s `serve_forever` loop and close it, at once: the loop looks for a stop only between
    waits for a connection, so connections to its own port wake it (a test stops servers a thousand times)."""
    stopping = threading.Thread(target=server.shutdown, name="stop-serving", daemon=True)
    stopping.start()
    host, port = server.socket.getsockname()[:2]
    while stopping.is_alive():
        with contextlib.suppress(OSError):
            socket.create_connection((str(host), int(port)), timeout=0.5).close()
        stopping.join(0.005)
    server.server_close()
