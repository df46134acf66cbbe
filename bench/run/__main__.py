"""The recording-bot benchmark: acks under load vs a bare Bolt app, approve → MuteRecording, settings, memory.

    python -m bench.run                 # from the repository root, in the venv; about 2 minutes
    python -m bench.run --quick         # smaller counts, for trying changes (about 40 s)
    python -m bench.run --profile       # also samples the bot's process with py-spy during the 50-client run

Everything runs on 127.0.0.1: the simulated upstreams in one subprocess (bench/upstreams.py), the bot as
`python -m bot serve` (the Procfile's server) in another, the bare Bolt app (bench/bare_bolt.py) in a
third, and the load generator (bench/loadgen.py) in its own process(es). Prints a table with pass/fail
per target and writes bench/results/latest.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bench.run.load import run_load
from bench.run.machine import machine_info
from bench.run.processes import (
    AGENT,
    HOST,
    LEAD,
    ROOT,
    Control,
    Server,
    deadline,
    start_bare,
    start_ours,
    start_postgres,
    start_upstreams,
)
from bench.run.profiling import summarize_profile
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

RESULTS = ROOT / "bench" / "results"


# Targets (see the brief in bench/README.md).
ACK_P99_RATIO_MAX = 1.3
# Extra approvals made while the simulated Slack answers the card update with 429 (see approve_benchmark).
RATE_LIMITED_APPROVALS = 3
THROUGHPUT_MIN = 300.0
APPROVE_BEYOND_SIM_MS_MAX = 10.0
CACHED_SETTINGS_MS_MAX = 5.0
RSS_MB_MAX = 120.0

# Above this, something besides the bench was busy on the machine during a run: flagged in the report.
OTHER_CPU_WARNING_PERCENT = 15.0


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
                _print_ack_progress(pair[server.name])
            control.get("/clear")
            rows.append({"command": f"/recording {text}", "clients": clients, "ours": pair[ours.name],
                         "bare": pair[bare.name]})  # fmt: skip
    return rows


def _print_ack_progress(run: dict[str, Any]) -> None:
    extra = ""
    if "reply_ms" in run:
        extra = f", answers {run['answers_per_second']:.0f}/s, reply p99 {run['reply_ms']['p99']:.1f} ms"
        if run["refused_busy"]:
            extra += f", {run['refused_busy']} refused as busy"
    by_process = run["server_cpu_ms_per_command_by_process"]
    extra += ", CPU ms/cmd " + " + ".join(f"{role} {ms:.2f}" for role, ms in by_process.items())
    print(
        f"  {run['server']:<14} {run['command']:<20} {run['clients']:>3} clients: ack p50 {run['ack_ms']['p50']:.2f} "
        f"p99 {run['ack_ms']['p99']:.2f} ms, {run['acks_per_second']:.0f} acks/s{extra} "
        f"(errors {run['errors']}, loadgen CPU {run['loadgen_cpu_percent']:.0f}%)",
        flush=True,
    )
    if run["other_cpu_percent"] > OTHER_CPU_WARNING_PERCENT:
        print(f"  WARNING: other processes used {run['other_cpu_percent']:.0f}% CPU during this run", flush=True)


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
    secret = info["signing_secret"]
    slack_url = info["slack_url"]
    extensions = [str(MUTE_EXTENSION_BASE + i) for i in range(total + RATE_LIMITED_APPROVALS)]
    # Cards posted before (by an earlier run against the same simulators) are not ours to click.
    earlier = {c["ts"] for c in control.get("/cards")["cards"]}
    # Pending requests, one per extension (a target may have only one open request).
    creation_started = time.monotonic()
    for i, extension in enumerate(extensions):
        body = command_body(f"pause {extension} 10m bench: approve latency", user=AGENT,
                            response_url=f"{slack_url}/response/pause-{i}")  # fmt: skip
        status, _ = conn.request(post_bytes(HOST, ours.port, EVENTS_PATH, body, signed_headers(secret, body)))
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
    # Sent back to back: the bot's post-ack work (SQLite writes, card posts) runs on several threads at once.
    creation_seconds = time.monotonic() - creation_started

    def approve(i: int, extension: str, timeout: float) -> tuple[float, float, float | None]:
        """Click Approve on this extension's card: (sent at, ack ms, MuteRecording arrival or None)."""
        card = cards[extension]
        body = click_body(ACTION_APPROVE, card["request_id"], user=LEAD, message_ts=card["ts"],
                          response_url=f"{slack_url}/response/approve-{i}")  # fmt: skip
        raw = post_bytes(HOST, ours.port, EVENTS_PATH, body, signed_headers(secret, body))
        sent_at = time.time()
        started = time.perf_counter()
        status, _ = conn.request(raw)
        acked = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"approve click answered HTTP {status}")
        arrived = control.get("/mute", extension=extension, timeout=timeout)["at"]
        if arrived is not None:
            # Pace: the next click goes once this approval's last Slack call (the requester's note) is out.
            control.get("/settled", request_id=card["request_id"], timeout=timeout)
        return sent_at, acked, arrived

    total_ms, before_update_ms, update_to_mute_ms, ack_ms = [], [], [], []
    missing = 0
    phase_deadline = time.monotonic() + 90
    for i, extension in enumerate(extensions[:total]):
        if missing >= 5 or time.monotonic() > phase_deadline:
            raise RuntimeError(f"approve benchmark stopped after {i} clicks: {missing} MuteRecording(s) never arrived")
        sent_at, acked, arrived = approve(i, extension, timeout=5)
        if arrived is None:
            missing += 1
            continue
        if i < warmup:  # the first approval also fetches the Media Repository session token
            continue
        updates = [at for at in control.get("/updates", ts=cards[extension]["ts"])["at"] if at >= sent_at]
        total_ms.append((arrived - sent_at) * 1000)
        ack_ms.append(acked)
        if updates and updates[0] <= arrived:
            before_update_ms.append((updates[0] - sent_at) * 1000)
            update_to_mute_ms.append((arrived - updates[0]) * 1000)
    # The same click while Slack rate-limits chat.update once (HTTP 429, Retry-After: 1 s): the card
    # update that precedes the MuteRecording waits out the Retry-After inside slack_sdk's retry handler.
    limited_ms = []
    for i, extension in enumerate(extensions[total:], start=total):
        control.get("/ratelimit", method="chat.update", times=1, retry_after=1)
        sent_at, _, arrived = approve(i, extension, timeout=10)
        if arrived is not None:
            limited_ms.append((arrived - sent_at) * 1000)
    conn.close()
    return {
        "pause_requests_created": len(extensions),
        "pause_requests_per_second": len(extensions) / creation_seconds,
        "approvals": count,
        "warmup": warmup,
        "missing": missing,
        "click_to_mute_ms": summary(total_ms),
        "click_ack_ms": summary(ack_ms),
        "click_to_card_update_ms": summary(before_update_ms),
        "card_update_to_mute_ms": summary(update_to_mute_ms),
        "click_to_mute_with_one_429_on_chat_update_ms": summary(limited_ms),
        "counts": control.get("/counts"),
        "simulators": simulator_round_trips(info, 200),
    }


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


# -- report ------------------------------------------------------------------------------------------


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    for row in results["ack"]:
        ours, bare = row["ours"], row["bare"]
        ratio = ours["ack_ms"]["p99"] / bare["ack_ms"]["p99"]
        targets.append({
            "target": f"(added) every command answered, none refused as busy: {row['command']}, "
            f"{row['clients']} clients",
            "value": f"{ours['refused_busy']} refused", "pass": ours["refused_busy"] == 0,
        })  # fmt: skip
        targets.append({
            "target": f"ack p99 ≤ {ACK_P99_RATIO_MAX}× bare: {row['command']}, {row['clients']} clients",
            "value": f"{ratio:.2f}×", "pass": ratio <= ACK_P99_RATIO_MAX,
        })  # fmt: skip
        if row["clients"] >= 10:
            targets.append({
                "target": f"≥ {THROUGHPUT_MIN:.0f} commands/s acked: {row['command']}, {row['clients']} clients",
                "value": f"{ours['acks_per_second']:.0f}/s", "pass": ours["acks_per_second"] >= THROUGHPUT_MIN,
            })  # fmt: skip
            targets.append({
                "target": f"(added) ≥ {THROUGHPUT_MIN:.0f} commands/s answered: {row['command']}, "
                f"{row['clients']} clients",
                "value": f"{ours['answers_per_second']:.0f}/s", "pass": ours["answers_per_second"] >= THROUGHPUT_MIN,
            })  # fmt: skip
    approve = results["approve"]
    # The bot calls MuteRecording before it touches the card, so the only simulator exchange on the
    # measured path is the MuteRecording round trip itself.
    sim = approve["simulators"]["media_repository_keepalive_rtt_ms"]["p99"]
    beyond = approve["click_to_mute_ms"]["p99"] - sim
    targets.append({
        "target": f"approve → MuteRecording p99 ≤ {APPROVE_BEYOND_SIM_MS_MAX:.0f} ms beyond the simulators",
        "value": f"{approve['click_to_mute_ms']['p99']:.1f} − {sim:.1f} = {beyond:.1f} ms",
        "pass": beyond <= APPROVE_BEYOND_SIM_MS_MAX,
    })  # fmt: skip
    cached = results["settings"]["cached_ms"]["p99"]
    targets.append({
        "target": f"cached /recording settings p99 ≤ {CACHED_SETTINGS_MS_MAX:.0f} ms",
        "value": f"{cached:.1f} ms", "pass": cached <= CACHED_SETTINGS_MS_MAX,
    })  # fmt: skip
    memory = results["memory"]["recording-bot"]
    peak = sum(role.get("VmHWM", 0) for role in memory.values()) / 1024
    targets.append({
        "target": f"peak RSS ≤ {RSS_MB_MAX:.0f} MB (VmHWM of all its processes: {' + '.join(memory)})",
        "value": f"{peak:.1f} MB", "pass": peak <= RSS_MB_MAX,
    })  # fmt: skip
    return targets


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(f"\nrecording-bot benchmark — {m['date']} — {m['cpu_model']}, {m['cores']} cores, Python {m['python']}, "
          f"commit {m['commit']}, {results['config']['threads']} gunicorn threads")  # fmt: skip
    print("\n1. Acknowledgement of signed slash commands (closed loop, keep-alive; ms; ratio = ours/bare)")
    header = (f"{'command':<19} {'cli':>3} | {'ours p50':>8} {'p99':>7} {'acks/s':>7} | {'bare p50':>8} {'p99':>7} "
              f"{'acks/s':>7} | {'p99 ×':>6} | {'answers/s':>9} {'reply p50':>9} {'p99':>7} | "
              f"{'CPU ms/cmd':>10} {'bare':>5} | {'loadgen':>7} {'other':>5}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for row in results["ack"]:
        o, b = row["ours"], row["bare"]
        print(
            f"{row['command']:<19} {row['clients']:>3} | {o['ack_ms']['p50']:>8.2f} {o['ack_ms']['p99']:>7.2f} "
            f"{o['acks_per_second']:>7.0f} | {b['ack_ms']['p50']:>8.2f} {b['ack_ms']['p99']:>7.2f} "
            f"{b['acks_per_second']:>7.0f} | {o['ack_ms']['p99'] / b['ack_ms']['p99']:>6.2f} | "
            f"{o['answers_per_second']:>9.0f} {o['reply_ms']['p50']:>9.1f} {o['reply_ms']['p99']:>7.1f} | "
            f"{o['server_cpu_ms_per_command']:>10.2f} {b['server_cpu_ms_per_command']:>5.2f} | "
            f"{o['loadgen_cpu_percent']:>6.0f}% {max(o['other_cpu_percent'], b['other_cpu_percent']):>4.0f}%"
        )
    print("  answers/s, reply: the response_url post of each command arriving at the simulated Slack (ours only)")
    print("  CPU ms/cmd: server process CPU per command; loadgen: its CPU % of one core; other: CPU % used by")
    print(f"  anything else on the machine meanwhile (above {OTHER_CPU_WARNING_PERCENT:.0f}% the numbers are suspect)")
    a = results["approve"]
    s = a["simulators"]
    print(f"\n2. Approve click → MuteRecording arrival ({a['approvals']} approvals, sequential; ms)")
    print(f"  (before: {a['pause_requests_created']} signed `/recording pause` sent back to back, all cards and "
          f"replies out at {a['pause_requests_per_second']:.0f} requests/s)")
    rows = (
        ("click → MuteRecording arrives", a, "click_to_mute_ms"),
        ("click ack", a, "click_ack_ms"),
        ("click → chat.update arrives (if before the mute)", a, "click_to_card_update_ms"),
        ("chat.update arrives → MuteRecording arrives", a, "card_update_to_mute_ms"),
        ("simulator: Media Repository RTT (keep-alive)", s, "media_repository_keepalive_rtt_ms"),
        ("simulator: Slack chat.update RTT (new connection)", s, "slack_chat_update_new_connection_rtt_ms"),
        ("click → MuteRecording, one 429 on chat.update (n=3)", a, "click_to_mute_with_one_429_on_chat_update_ms"),
    )
    for label, source, key in rows:
        v = source[key]
        if not v.get("n"):
            print(f"  {label:<52} none (the card is updated after the MuteRecording)")
            continue
        print(f"  {label:<52} p50 {v['p50']:>7.2f}  p99 {v['p99']:>7.2f}  max {v['max']:>7.2f}")
    st = results["settings"]
    print(f"\n3. /recording settings <ext>: command sent → response_url post arrives ({st['lines']} lines; ms)")
    for label, key in (
        ("uncached (settings GET from Webex)", "uncached_ms"),
        ("cached (same line again)", "cached_ms"),
    ):
        print(f"  {label:<52} p50 {st[key]['p50']:>7.2f}  p99 {st[key]['p99']:>7.2f}  max {st[key]['max']:>7.2f}")
    print(f"  Webex callRecording GETs during the run: {st['webex_call_recording_gets']} (= uncached asks)")
    print("\n4. Memory (MB): VmHWM = peak RSS over the whole run, Pss at the end")
    for name, memory in results["memory"].items():
        parts = ", ".join(
            f"{role} VmHWM {v.get('VmHWM', 0) / 1024:.1f} (Pss {v.get('Pss', 0) / 1024:.1f})"
            for role, v in memory.items()
        )
        print(f"  {name:<14} {parts}")
    for profile in results.get("profiles", []):
        print(f"\nProfile ({profile['file']}, {profile['samples']} GIL samples): share of the profiled process's time")
        print("  " + ", ".join(f"{owner} {pct}%" for owner, pct in profile["percent_by_owner"].items()))
        for frame, pct in profile["top_innermost_frames_percent"].items():
            print(f"  {pct:>5.1f}%  {frame}")
    if "postgresql" in results:
        print_engines(results)
    print("\nTargets")
    for target in results["targets"]:
        print(f"  [{'PASS' if target['pass'] else 'FAIL'}] {target['target']}: {target['value']}")


def print_engines(results: dict[str, Any]) -> None:
    pg = results["postgresql"]
    print("\n5. SQLite and PostgreSQL side by side (the bot's ack p99 and its ratio to the bare app; acks/s)")
    header = (f"{'command':<19} {'cli':>3} | {'SQLite p99':>10} {'×':>5} {'acks/s':>7} | "
              f"{'PostgreSQL p99':>14} {'×':>5} {'acks/s':>7}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for lite, post in zip(results["ack"], pg["ack"], strict=True):
        cells = []
        for row in (lite, post):
            ours, bare = row["ours"], row["bare"]
            p99 = ours["ack_ms"]["p99"]
            cells.append((p99, p99 / bare["ack_ms"]["p99"], ours["acks_per_second"]))
        (a, ar, at), (b, br, bt) = cells
        print(f"{lite['command']:<19} {lite['clients']:>3} | {a:>10.2f} {ar:>5.2f} {at:>7.0f} | "
              f"{b:>14.2f} {br:>5.2f} {bt:>7.0f}")  # fmt: skip
    for label, key in (("approve click → MuteRecording", "click_to_mute_ms"), ("approve click ack", "click_ack_ms")):
        lite, post = results["approve"][key], pg["approve"][key]
        print(f"  {label:<32} SQLite p50 {lite['p50']:>6.2f} p99 {lite['p99']:>6.2f} | "
              f"PostgreSQL p50 {post['p50']:>6.2f} p99 {post['p99']:>6.2f} ms")  # fmt: skip
    print(f"  pause requests created back to back: SQLite {results['approve']['pause_requests_per_second']:.0f}/s, "
          f"PostgreSQL {pg['approve']['pause_requests_per_second']:.0f}/s")  # fmt: skip


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# -- main --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads for both apps (default 8, as serve)")
    parser.add_argument("--quick", action="store_true", help="smaller counts (for trying changes)")
    parser.add_argument("--profile", action="store_true", help="py-spy the bot's process during the 50-client run")
    parser.add_argument("--clients-per-process", type=int, default=50, help="load generator clients per process")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--engine", choices=("sqlite", "postgresql", "both"), default="both",
        help="database engine(s) for the bot (default both: every measure on SQLite, then acks and approvals "
        "on a throw-away PostgreSQL server)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    if args.quick:
        plan = AckPlan(
            levels=((1, 200), (10, 500), (50, 1000)), warmup=30, clients_per_process=args.clients_per_process
        )
        approvals, settings_lines = 50, 30
    else:
        plan = AckPlan(levels=((1, 1000), (10, 2000), (50, 2000)), warmup=50,
                       clients_per_process=args.clients_per_process)  # fmt: skip
        approvals, settings_lines = 200, 100

    results: dict[str, Any] = {
        "machine": machine_info(ROOT),
        "config": {
            "threads": args.threads,
            "quick": args.quick,
            "ack_levels": plan.levels,
            "warmup": plan.warmup,
            "clients_per_process": plan.clients_per_process,
        },
    }
    started = time.monotonic()
    # SIGTERM unwinds like Ctrl-C, so the ExitStack stops every process this run started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with deadline(600), contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recording-bot-bench-")))
        upstreams, info = start_upstreams(stack)
        control = Control(info["control_url"])
        postgres_url = None
        if args.engine != "sqlite":
            postgres_url = start_postgres(stack, workdir)
        first_url = postgres_url if args.engine == "postgresql" else None
        ours = start_ours(stack, info, workdir, args.threads, first_url)
        bare = start_bare(stack, info, workdir, args.threads)
        results["config"]["engine"] = "postgresql" if first_url else "sqlite"
        print(f"servers up: recording-bot :{ours.port} (pids {'/'.join(map(str, ours.pids))}), "
              f"bare Bolt :{bare.port}, upstreams pid {upstreams.pid}", flush=True)  # fmt: skip

        print("1. acks under load", flush=True)
        results["ack"] = ack_benchmark(ours, bare, info=info, control=control, upstreams_pid=upstreams.pid,
                                       plan=plan, profile=args.profile)  # fmt: skip
        print("2. approve → MuteRecording", flush=True)
        results["approve"] = approve_benchmark(ours, info=info, control=control, count=approvals, warmup=3)
        print("3. settings cached / uncached", flush=True)
        results["settings"] = settings_benchmark(ours, info=info, control=control, count=settings_lines)
        results["memory"] = {ours.name: ours.memory(), bare.name: bare.memory()}
        if args.engine == "both" and postgres_url is not None:
            ours.stop()
            print("4. the same acks and approvals with the bot on PostgreSQL", flush=True)
            on_postgres = start_ours(stack, info, workdir, args.threads, postgres_url)
            results["postgresql"] = {
                "ack": ack_benchmark(on_postgres, bare, info=info, control=control, upstreams_pid=upstreams.pid,
                                     plan=plan, profile=False),
                "approve": approve_benchmark(on_postgres, info=info, control=control, count=approvals, warmup=3),
                "memory": {on_postgres.name: on_postgres.memory()},
            }  # fmt: skip
        log_tail = ours.log_path.read_text(errors="replace").splitlines()
        results["server_log"] = {
            "lines": len(log_tail),
            "warnings_or_errors": [x for x in log_tail if " WARNING " in x or " ERROR " in x][:10],
        }
    profiles = sorted(RESULTS.glob("profile-*.txt")) if args.profile else []
    results["profiles"] = [summarize_profile(path) for path in profiles]
    results["elapsed_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = evaluate(results)
    print_report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_json_safe(results), indent=2) + "\n")
    print(f"\nwrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output} "
          f"in {results['elapsed_seconds']} s")  # fmt: skip
    return 0 if all(t["pass"] for t in results["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
