"""The simulated upstreams in their own process: Slack Web API, Media Repository and Webex on loopback.

    python -m bench.upstreams          # prints one JSON line with the URLs, serves until stdin closes

The bench driver starts this as a subprocess so the simulators' CPU is not charged to the load generator
or the driver. Besides the simulators it serves a small control API (also loopback) that the driver asks
for arrival times: each simulator stamps `time.time()` when a request's body has been read.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bench.slack_http import TEAM
from bot.sandbox.simulators.base import RecordedRequest, Reply
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import DEFAULT_ACCESS_TOKEN, SimulatedLine, SimulatedWebex, virtual_line_id
from bot.serving.background import BUSY_TEXT

BOT_TOKEN = "xoxb-bench-bot-token-0001"
SIGNING_SECRET = "bench-signing-secret-8c2d41a9b7e3f6a0"
RECORDER_API_KEY = "bench-apikey-0b7e4c1d-9f2a"
RECORDER_USER = "recording-bot-api"
RECORDER_PASSWORD = "bench-password-7d3e9a"

# Ongoing calls for the approve benchmark: one extension each, so every request has its own target.
MUTE_EXTENSION_BASE = 7000
MUTE_EXTENSION_COUNT = 400
# Webex virtual lines for the settings benchmark: each is asked once uncached, then again cached.
LINE_EXTENSION_BASE = 5000
LINE_COUNT = 300

# "Pause request #12 for extension `7001`: …": the target is the first code span.
_CARD = re.compile(r"^Pause request #(\d+) for [^`]*`([^`]+)`")


def bench_lines() -> list[SimulatedLine]:
    recording = {
        "enabled": True,
        "record": "Always with Pause/Resume",
        "recordVoicemailEnabled": False,
        "notification": {"type": "Beep", "enabled": True},
        "repeat": {"interval": 15, "enabled": False},
        "serviceProvider": "WSWYZ25455",
        "externalGroup": "WSWYZ25455L31161",
        "externalIdentifier": "bench@example.int10.bcld.webex.com",
        "startStopAnnouncement": {"internalCallsEnabled": False, "pstnCallsEnabled": True},
    }
    return [
        SimulatedLine(
            id=virtual_line_id(f"bench-line-{i}"),
            first_name="Bench",
            last_name=f"Line {i}",
            extension=str(LINE_EXTENSION_BASE + i),
            external=f"+1408555{LINE_EXTENSION_BASE + i:04d}",
            location_name="Bench Site",
            call_recording=dict(recording),
        )
        for i in range(LINE_COUNT)
    ]


class Upstreams:
    """The three simulators, seeded for the benchmark, plus the queries the control API answers."""

    def __init__(self) -> None:
        calls = [*DEMO_CALLS]
        calls += [(str(uuid.uuid4()), frozenset({str(MUTE_EXTENSION_BASE + i)})) for i in range(MUTE_EXTENSION_COUNT)]
        # No Block Kit check here (the tests make it on every message): its CPU, on the bench's own 2 cores,
        # would stand in the way of the server being measured, and Slack's runs on Slack's machines.
        self.slack = SimulatedSlack(bot_token=BOT_TOKEN, team_id=TEAM, validate_block_kit=False)
        self.recording_system = SimulatedRecordingSystem(
            api_key=RECORDER_API_KEY, username=RECORDER_USER, password=RECORDER_PASSWORD, calls=calls
        )
        self.webex = SimulatedWebex()
        for line in bench_lines():
            self.webex.add_line(line)

    def start(self) -> Upstreams:
        for server in (self.slack, self.recording_system, self.webex):
            server.start()
        return self

    def stop(self) -> None:
        for server in (self.slack, self.recording_system, self.webex):
            server.stop()

    def urls(self) -> dict[str, str]:
        return {
            "slack_url": self.slack.url,
            "slack_api_url": self.slack.api_url,
            "media_repository_url": self.recording_system.url,
            "webex_api_url": self.webex.base_url,
        }

    # -- control queries -------------------------------------------------------------------------

    def clear(self) -> dict[str, Any]:
        for server in (self.slack, self.recording_system, self.webex):
            server.clear()
        return {"ok": True}

    def responses(self, prefix: str, count: int, timeout: float) -> dict[str, Any]:
        """response_url posts whose path starts with `prefix`, once `count` have arrived (or at the timeout).

        Polls every 50 ms instead of `wait_for`, which would rescan every recorded request on each arrival
        while the load is running.
        """
        deadline = time.monotonic() + timeout
        while True:
            posts = [r for r in self.slack.requests if r.path.startswith(prefix)]
            if len(posts) >= count or time.monotonic() >= deadline:
                # A command the bot had no room for is answered too, with its busy text: not an answer.
                busy = [r.path for r in posts if BUSY_TEXT.encode() in r.body]
                return {"arrivals": {r.path: r.at for r in posts if r.path not in busy}, "busy": busy}
            time.sleep(0.05)

    def response(self, path: str, timeout: float) -> dict[str, Any]:
        return {"at": _first_at(self.slack, lambda r: r.path == path, timeout)}

    def mute(self, extension: str, timeout: float) -> dict[str, Any]:
        def matches(r: RecordedRequest) -> bool:
            params = r.params
            return params.get("action") == "MuteRecording" and params.get("extension") == extension

        return {"at": _first_at(self.recording_system, matches, timeout)}

    def settled(self, request_id: str, timeout: float) -> dict[str, Any]:
        """When the requester's private note (the last Slack call of an approval) arrived."""
        prefix = f"Pause request #{request_id} "

        def matches(r: RecordedRequest) -> bool:
            if r.path != "/api/chat.postMessage":
                return False
            payload = _payload(r)
            return str(payload.get("channel", "")).startswith("D") and str(payload.get("text", "")).startswith(prefix)

        return {"at": _first_at(self.slack, matches, timeout)}

    def updates(self, ts: str) -> dict[str, Any]:
        """Arrival times of chat.update calls for the card with this ts, oldest first."""
        return {
            "at": [r.at for r in self.slack.requests if r.path == "/api/chat.update" and _payload(r).get("ts") == ts]
        }

    def cards(self) -> dict[str, Any]:
        cards = []
        for message in self.slack.messages():
            found = _CARD.match(str(message.get("text", "")))
            if found and not str(message["channel"]).startswith("D"):
                cards.append(
                    {"request_id": found.group(1), "target": found.group(2), "channel": message["channel"],
                     "ts": message["ts"]}
                )  # fmt: skip
        return {"cards": cards}

    def rate_limit(self, method: str, times: int, retry_after: int) -> dict[str, Any]:
        """Answer the next `times` calls of a Web API method with HTTP 429, as Slack does under its rate limits."""
        body = json.dumps({"ok": False, "error": "ratelimited"})
        reply = Reply(status=429, body=body, headers={"Retry-After": str(retry_after)})
        self.slack.fail_next(method, reply, times=times)
        return {"ok": True}

    def counts(self) -> dict[str, Any]:
        recording_system_actions = [r.params.get("action", "") for r in self.recording_system.requests]
        return {
            "webex_call_recording": len(self.webex.api_requests("/callRecording")),
            # Lists and lookups: the virtual-line list and the numbers API (which extension is whose).
            "webex_list": len(self.webex.list_requests()) + len(self.webex.api_requests("/telephony/config/numbers")),
            "media_repository_token": recording_system_actions.count("RequestToken"),
            "media_repository_mute": recording_system_actions.count("MuteRecording"),
            "slack": len(self.slack.requests),
        }


def _payload(request: RecordedRequest) -> dict[str, Any]:
    if "json" in request.headers.get("content-type", ""):
        try:
            loaded = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return request.params


def _first_at(server: Any, predicate: Callable[[RecordedRequest], bool], timeout: float) -> float | None:
    try:
        matches: list[RecordedRequest] = server.wait_for(predicate, timeout=timeout)
    except AssertionError:
        return None
    return matches[0].at


def control_server(upstreams: Upstreams) -> ThreadingHTTPServer:
    """GET /<query>?args → JSON; the driver's only window into the simulators."""

    routes: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
        "/clear": lambda q: upstreams.clear(),
        "/responses": lambda q: upstreams.responses(q["prefix"], int(q["count"]), float(q["timeout"])),
        "/response": lambda q: upstreams.response(q["path"], float(q["timeout"])),
        "/mute": lambda q: upstreams.mute(q["extension"], float(q["timeout"])),
        "/settled": lambda q: upstreams.settled(q["request_id"], float(q["timeout"])),
        "/updates": lambda q: upstreams.updates(q["ts"]),
        "/cards": lambda q: upstreams.cards(),
        "/counts": lambda q: upstreams.counts(),
        "/ratelimit": lambda q: upstreams.rate_limit(q["method"], int(q["times"]), int(q["retry_after"])),
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            route = routes.get(parts.path)
            if route is None:
                status, answer = 404, {"error": "not found"}
            else:
                try:
                    status, answer = 200, route(dict(parse_qsl(parts.query)))
                except (KeyError, ValueError) as error:
                    status, answer = 400, {"error": repr(error)}
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def main() -> int:
    upstreams = Upstreams().start()
    control = control_server(upstreams)
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    host, port = control.server_address[:2]
    info = {
        **upstreams.urls(),
        "control_url": f"http://{host!s}:{port}",
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "media_repository_api_key": RECORDER_API_KEY,
        "media_repository_username": RECORDER_USER,
        "media_repository_password": RECORDER_PASSWORD,
        "webex_access_token": DEFAULT_ACCESS_TOKEN,
        "team": TEAM,
    }
    print(json.dumps(info), flush=True)
    # Serve until the driver closes our stdin (it exits, or it is done with us).
    sys.stdin.read()
    control.shutdown()
    upstreams.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
