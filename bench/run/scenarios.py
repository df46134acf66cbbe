"""The measured scenarios, each against servers already started: acks under load (the bot beside the bare
Bolt app), approve → MuteRecording, /recording settings cached and uncached, and memory.

Each returns the figures of its section of bench/results/latest.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from bench.run.load import run_load
from bench.run.processes import AGENT, HOST, LEAD, Control, Server
from bench.run.report import RESULTS, print_ack_progress
from bench.run.statistics import summary
from bench.slack_http import (
    ACTION_APPROVE,
    EVENTS_PATH,
    Connection,
    click_body,
    command_body,
    post_bytes,
    signed_headers,
)

# Extra approvals made while the simulated Slack answers the card update with 429 (see approve_benchmark).
RATE_LIMITED_APPROVALS = 3


# -- 1. acknowledgement latency and throughput -------------------------------------------------------


@dataclass
class AckPlan:
    levels: tuple[tuple[int, int], ...]  # (clients, measured requests)
    warmup: int
    clients_per_process: int


def ack_benchmark(
    ours: Server, bare: Server, *, info: dict[str, str], control: Control, upstreams_pid: int, plan: AckPlan,
    profile: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for text in ("help", "requests"):
        for clients, requests in plan.levels:
            pair = {}
            # Bare first, then ours, level by level: both see the same machine state and drift.
            for server in (bare, ours):
                tag = f"ack-{'ours' if server is ours else 'bare'}-{text}-{clients}"
                profile_to = None
                if profile and server is ours and text == "help" and clients == plan.levels[-1][0]:
                    profile_to = RESULTS / f"profile-ack-{text}-{clients}.txt"
                pair[server.name] = run_load(
                    server, info=info, control=control, upstreams_pid=upstreams_pid, text=text, clients=clients,
                    requests=requests, warmup=plan.warmup, tag=tag, clients_per_process=plan.clients_per_process,
                    profile_to=profile_to,
                )  # fmt: skip
                print_ack_progress(pair[server.name])
            control.get("/clear")
            rows.append({"command": f"/recording {text}", "clients": clients, "ours": pair[ours.name],
                         "bare": pair[bare.name]})  # fmt: skip
    return rows


# -- 2. approve click → MuteRecording at the Media Repository -----------------------------------------


def simulator_round_trips(info: dict[str, str], count: int) -> dict[str, Any]:
    """The simulators' own latency, measured the way the bot talks to each of them."""
    recording_system = urlsplit(info["media_repository_url"])
    conn = Connection(recording_system.hostname or HOST, recording_system.port or 80)
    form = (
        f"action=MuteRecording&apiKey={quote(info['media_repository_api_key'])}&extension=9999&status=ongoing&mute=0"
    ).encode()
    raw = post_bytes(HOST, recording_system.port or 80, "/verba/api", form,
                     {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    media = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request(raw)
        media.append((time.perf_counter() - started) * 1000)
    conn.close()
    # slack_sdk's WebClient (urllib) opens a new connection for every call; so does this probe.
    slack = urlsplit(info["slack_api_url"])
    body = json.dumps({"channel": "C0NONE", "ts": "0.000000", "text": "probe"}).encode()
    raw = post_bytes(HOST, slack.port or 80, "/api/chat.update", body,
                     {"Content-Type": "application/json; charset=utf-8",
                      "Authorization": f"Bearer {info['bot_token']}", "Connection": "close"})  # fmt: skip
    slack_ms = []
    for _ in range(count):
        started = time.perf_counter()
        conn = Connection(HOST, slack.port or 80)
        conn.request(raw)
        conn.close()
        slack_ms.append((time.perf_counter() - started) * 1000)
    return {
        "media_repository_keepalive_rtt_ms": summary(media),
        "slack_chat_update_new_connection_rtt_ms": summary(slack_ms),
    }


def approve_benchmark(
    ours: Server, *, info: dict[str, str], control: Control, count: int, warmup: int
) -> dict[str, Any]:
    from bench.upstreams import MUTE_EXTENSION_BASE, MUTE_EXTENSION_COUNT

    total = count + warmup
    if total + RATE_LIMITED_APPROVALS > MUTE_EXTENSION_COUNT:
        raise ValueError(f"at most {MUTE_EXTENSION_COUNT} approvals (one simulated call each)")
    control.get("/clear")
    conn = Connection(HOST, ours.port)
    extensions = [str(MUTE_EXTENSION_BASE + i) for i in range(total + RATE_LIMITED_APPROVALS)]
    # Cards posted before (by an earlier run against the same simulators) are not ours to click.
    earlier = {c["ts"] for c in control.get("/cards")["cards"]}
    creation_started = time.monotonic()
    cards = _create_pending_requests(ours, info=info, control=control, conn=conn, extensions=extensions,
                                     earlier=earlier)  # fmt: skip
    # Sent back to back: the bot's post-ack work (SQLite writes, card posts) runs on several threads at once.
    creation_seconds = time.monotonic() - creation_started
    approver = _Approver(ours, info, control, conn, cards)
    measured = _measured_approvals(approver, extensions[:total], warmup=warmup)
    limited_ms = _rate_limited_approvals(approver, extensions, first=total)
    conn.close()
    return {
        "pause_requests_created": len(extensions),
        "pause_requests_per_second": len(extensions) / creation_seconds,
        "approvals": count,
        "warmup": warmup,
        "missing": measured.missing,
        "click_to_mute_ms": summary(measured.click_to_mute_ms),
        "click_ack_ms": summary(measured.click_ack_ms),
        "click_to_card_update_ms": summary(measured.click_to_card_update_ms),
        "card_update_to_mute_ms": summary(measured.card_update_to_mute_ms),
        "click_to_mute_with_one_429_on_chat_update_ms": summary(limited_ms),
        "counts": control.get("/counts"),
        "simulators": simulator_round_trips(info, 200),
    }


def _create_pending_requests(
    ours: Server, *, info: dict[str, str], control: Control, conn: Connection, extensions: list[str],
    earlier: set[str],
) -> dict[str, dict[str, str]]:  # fmt: skip
    """Pending requests, one per extension (a target may have only one open request): each one's card by extension.

    Returns once every card is posted and every requester's reply is out."""
    for i, extension in enumerate(extensions):
        body = command_body(f"pause {extension} 10m bench: approve latency", user=AGENT,
                            response_url=f"{info['slack_url']}/response/pause-{i}")  # fmt: skip
        raw = post_bytes(HOST, ours.port, EVENTS_PATH, body, signed_headers(info["signing_secret"], body))
        status, _ = conn.request(raw)
        if status != 200:
            raise RuntimeError(f"pause command answered HTTP {status}")
    deadline = time.monotonic() + 60
    cards: dict[str, dict[str, str]] = {}
    wanted = set(extensions)
    while time.monotonic() < deadline:
        posted = control.get("/cards")["cards"]
        cards = {c["target"]: c for c in posted if c["target"] in wanted and c["ts"] not in earlier}
        if len(cards) >= len(extensions):
            break
        time.sleep(0.1)
    if len(cards) < len(extensions):
        raise RuntimeError(f"only {len(cards)} of {len(extensions)} approval cards were posted")
    control.get("/responses", prefix="/response/pause-", count=len(extensions), timeout=30)
    return cards


@dataclass
class _Approver:
    """The approver, clicking Approve on the bot's cards one at a time over one keep-alive connection."""

    server: Server
    info: dict[str, str]
    control: Control
    conn: Connection
    cards: dict[str, dict[str, str]]

    def approve(self, i: int, extension: str, timeout: float) -> tuple[float, float, float | None]:
        """Click Approve on this extension's card: (sent at, ack ms, MuteRecording arrival or None)."""
        card = self.cards[extension]
        body = click_body(ACTION_APPROVE, card["request_id"], user=LEAD, message_ts=card["ts"],
                          response_url=f"{self.info['slack_url']}/response/approve-{i}")  # fmt: skip
        raw = post_bytes(HOST, self.server.port, EVENTS_PATH, body, signed_headers(self.info["signing_secret"], body))
        sent_at = time.time()
        started = time.perf_counter()
        status, _ = self.conn.request(raw)
        acked = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"approve click answered HTTP {status}")
        arrived = self.control.get("/mute", extension=extension, timeout=timeout)["at"]
        if arrived is not None:
            # Pace: the next click goes once this approval's last Slack call (the requester's note) is out.
            self.control.get("/settled", request_id=card["request_id"], timeout=timeout)
        return sent_at, acked, arrived


@dataclass
class _Approvals:
    """The measured approvals' latencies (ms), and how many MuteRecordings never arrived."""

    click_to_mute_ms: list[float] = field(default_factory=list)
    click_ack_ms: list[float] = field(default_factory=list)
    click_to_card_update_ms: list[float] = field(default_factory=list)
    card_update_to_mute_ms: list[float] = field(default_factory=list)
    missing: int = 0


def _measured_approvals(approver: _Approver, extensions: list[str], *, warmup: int) -> _Approvals:
    measured = _Approvals()
    phase_deadline = time.monotonic() + 90
    for i, extension in enumerate(extensions):
        if measured.missing >= 5 or time.monotonic() > phase_deadline:
            raise RuntimeError(
                f"approve benchmark stopped after {i} clicks: {measured.missing} MuteRecording(s) never arrived"
            )
        sent_at, acked, arrived = approver.approve(i, extension, timeout=5)
        if arrived is None:
            measured.missing += 1
            continue
        if i < warmup:  # the first approval also fetches the Media Repository session token
            continue
        card_ts = approver.cards[extension]["ts"]
        updates = [at for at in approver.control.get("/updates", ts=card_ts)["at"] if at >= sent_at]
        measured.click_to_mute_ms.append((arrived - sent_at) * 1000)
        measured.click_ack_ms.append(acked)
        if updates and updates[0] <= arrived:
            measured.click_to_card_update_ms.append((updates[0] - sent_at) * 1000)
            measured.card_update_to_mute_ms.append((arrived - updates[0]) * 1000)
    return measured


def _rate_limited_approvals(approver: _Approver, extensions: list[str], *, first: int) -> list[float]:
    """Click → MuteRecording (ms) for the extensions from `first` on, each while Slack rate-limits chat.update once.

    With HTTP 429 and Retry-After: 1 s, the card update that precedes the MuteRecording waits out the
    Retry-After inside slack_sdk's retry handler."""
    limited_ms = []
    for i, extension in enumerate(extensions[first:], start=first):
        approver.control.get("/ratelimit", method="chat.update", times=1, retry_after=1)
        sent_at, _, arrived = approver.approve(i, extension, timeout=10)
        if arrived is not None:
            limited_ms.append((arrived - sent_at) * 1000)
    return limited_ms

# -- 3. /recording settings: cached vs uncached --------------------------------------------------------


def settings_benchmark(ours: Server, *, info: dict[str, str], control: Control, count: int) -> dict[str, Any]:
    from bench.upstreams import LINE_COUNT, LINE_EXTENSION_BASE

    if count > LINE_COUNT:
        raise ValueError(f"at most {LINE_COUNT} lines")
    control.get("/clear")
    conn = Connection(HOST, ours.port)
    secret = info["signing_secret"]

    def ask(extension: str, name: str) -> float | None:
        path = f"/response/settings-{name}"
        body = command_body(f"settings {extension}", user=AGENT, response_url=info["slack_url"] + path)
        raw = post_bytes(HOST, ours.port, EVENTS_PATH, body, signed_headers(secret, body))
        sent_at = time.time()
        status, _ = conn.request(raw)
        if status != 200:
            raise RuntimeError(f"settings command answered HTTP {status}")
        at = control.get("/response", path=path, timeout=5)["at"]
        # Let the audit write that follows the reply finish before the next command.
        time.sleep(0.005)
        return None if at is None else (at - sent_at) * 1000

    # Warm-up: loads the virtual-line list into its 5-minute cache, so "uncached" below means the
    # line's call-recording settings are fetched from Webex (one GET), the list is not.
    ask("1000", "warmup")
    before = control.get("/counts")
    uncached: list[float] = []
    cached: list[float] = []
    phase_deadline = time.monotonic() + 60
    for i in range(count):
        missing = 2 * i - len(uncached) - len(cached)
        if missing >= 5 or time.monotonic() > phase_deadline:
            raise RuntimeError(f"settings benchmark stopped after {2 * i} commands: {missing} answer(s) never arrived")
        extension = str(LINE_EXTENSION_BASE + i)
        first = ask(extension, f"u{i}")
        # The same line again within 30 s: served from the settings cache.
        again = ask(extension, f"c{i}")
        if first is not None:
            uncached.append(first)
        if again is not None:
            cached.append(again)
    after = control.get("/counts")
    conn.close()
    return {
        "lines": count,
        "uncached_ms": summary(uncached),
        "cached_ms": summary(cached),
        "webex_call_recording_gets": after["webex_call_recording"] - before["webex_call_recording"],
        "webex_list_gets": after["webex_list"] - before["webex_list"],
    }


# -- 4. memory -----------------------------------------------------------------------------------------


def memory_benchmark(servers: Sequence[Server]) -> dict[str, dict[str, dict[str, int]]]:
    """Peak and current memory of each server's processes, read once the other scenarios have run."""
    return {server.name: server.memory() for server in servers}
