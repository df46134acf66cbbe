"""One closed-loop load run against a server: bench/loadgen.py process(es) send signed slash commands.

The driver starts the load generators, lets them warm up, says "go", and reads back each one's ack
latencies; for the bot it also waits for every command's answer at the simulated Slack. Around the
measured phase it samples the CPU of the server, the upstreams and the whole machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.run.machine import cpu_seconds, machine_busy_seconds
from bench.run.processes import AGENT, HOST, ROOT, Control, Server, die_with_parent
from bench.run.profiling import start_profiler, stop_profiler
from bench.run.statistics import summary


def run_load(
    server: Server,
    *,
    info: dict[str, str],
    control: Control,
    upstreams_pid: int,
    text: str,
    clients: int,
    requests: int,
    warmup: int,
    tag: str,
    clients_per_process: int,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """One closed-loop run: `clients` keep-alive connections send `requests` signed commands."""
    processes = max(1, math.ceil(clients / clients_per_process))
    loadgens = _start_loadgens(server, info, text=text, clients=clients, requests=requests, warmup=warmup, tag=tag,
                               processes=processes)  # fmt: skip
    profiler: subprocess.Popen[bytes] | None = None
    try:
        _wait_until_ready(loadgens)
        warmup_total = sum(max(1, warmup // processes) for _ in range(processes))
        if server.answers_via_response_url:
            # Let the warm-up's lazy work finish, so it does not queue ahead of the measured requests.
            control.get("/responses", prefix=f"/response/{tag}-w", count=warmup_total, timeout=30)
        profiler = start_profiler(server, profile_to) if profile_to else None
        before = CpuBaseline.take(server, upstreams_pid)
        go_at = time.time()
        parts = _go_and_collect(loadgens)
    finally:
        _stop_loadgens(loadgens)

    result = _acks(server, text=text, clients=clients, requests=requests, parts=parts, processes=processes)
    if server.answers_via_response_url:
        result.update(_answers(control, tag=tag, parts=parts, acked=result["ok"]))
    done_at = time.time()
    if profiler is not None:
        stop_profiler(profiler)
    result.update(before.use_since(server, upstreams_pid, parts=parts, window=done_at - go_at, commands=result["ok"]))
    return result


def _start_loadgens(
    server: Server, info: dict[str, str], *, text: str, clients: int, requests: int, warmup: int, tag: str,
    processes: int,
) -> list[subprocess.Popen[str]]:  # fmt: skip
    """Start `processes` load generators, sharing the clients and requests between them as evenly as possible."""
    loadgens: list[subprocess.Popen[str]] = []
    offset = 0
    for k in range(processes):
        share = requests // processes + (1 if k < requests % processes else 0)
        spec = {
            "host": HOST, "port": server.port, "secret": info["signing_secret"], "text": text, "user": AGENT,
            "response_url_base": f"{info['slack_url']}/response/", "tag": tag,
            "clients": clients // processes + (1 if k < clients % processes else 0),
            "warmup": max(1, warmup // processes), "requests": share, "offset": offset,
        }  # fmt: skip
        offset += share
        loadgen = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        assert loadgen.stdin is not None
        loadgen.stdin.write(json.dumps(spec) + "\n")
        loadgen.stdin.flush()
        loadgens.append(loadgen)
    return loadgens


def _wait_until_ready(loadgens: list[subprocess.Popen[str]]) -> None:
    """Each load generator says "ready" once its connections are open and its warm-up is done."""
    for loadgen in loadgens:
        assert loadgen.stdout is not None
        ready = loadgen.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"load generator failed before the measured phase: {ready!r}")


def _go_and_collect(loadgens: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    for loadgen in loadgens:
        assert loadgen.stdin is not None
        loadgen.stdin.write("go\n")
        loadgen.stdin.flush()
    parts = []
    for loadgen in loadgens:
        assert loadgen.stdout is not None
        line = loadgen.stdout.readline()
        if not line:
            raise RuntimeError("load generator died during the measured phase")
        parts.append(json.loads(line))
    return parts


def _stop_loadgens(loadgens: list[subprocess.Popen[str]]) -> None:
    for loadgen in loadgens:
        with contextlib.suppress(OSError):
            assert loadgen.stdin is not None
            loadgen.stdin.close()
        try:
            loadgen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            loadgen.kill()


def _acks(
    server: Server, *, text: str, clients: int, requests: int, parts: list[dict[str, Any]], processes: int
) -> dict[str, Any]:
    latencies = [x for part in parts for x in part["latencies_ms"]]
    elapsed = max(part["finished"] for part in parts) - min(part["started"] for part in parts)
    return {
        "server": server.name,
        "command": f"/recording {text}",
        "clients": clients,
        "requests": requests,
        "ok": len(latencies),
        "errors": sum(part["error_count"] for part in parts),
        "error_samples": [e for part in parts for e in part["errors"]][:5],
        "reconnects": sum(part["reconnects"] for part in parts),
        "ack_ms": summary(latencies),
        "acks_per_second": len(latencies) / elapsed if elapsed > 0 else math.nan,
        "elapsed_seconds": elapsed,
        "loadgen_processes": processes,
        "loadgen_cpu_percent": 100 * sum(part["cpu_seconds"] for part in parts) / elapsed / processes,
    }


def _answers(control: Control, *, tag: str, parts: list[dict[str, Any]], acked: int) -> dict[str, Any]:
    """When each measured command's answer (its response_url post) reached the simulated Slack."""
    started = min(part["started"] for part in parts)
    finished = max(part["finished"] for part in parts)
    answered = control.get("/responses", prefix=f"/response/{tag}-m", count=acked, timeout=90)
    arrivals: dict[str, float] = answered["arrivals"]
    reply_ms = []
    for part in parts:
        for index, sent_at in zip(part["indexes"], part["sent_at"], strict=True):
            at = arrivals.get(f"/response/{tag}-m{index}")
            if at is not None:
                reply_ms.append((at - sent_at) * 1000)
    last = max(arrivals.values()) if arrivals else finished
    return {
        "answered": len(arrivals),
        "refused_busy": len(answered["busy"]),
        "reply_ms": summary(reply_ms),
        "answers_per_second": len(arrivals) / (last - started) if last > started else math.nan,
        "drain_seconds": max(0.0, last - finished),
    }


@dataclass(frozen=True)
class CpuBaseline:
    """CPU counters read just before the measured phase, to subtract from those read after it."""

    server: float
    upstreams: float
    machine: float
    by_role: dict[str, float]
    driver: float

    @classmethod
    def take(cls, server: Server, upstreams_pid: int) -> CpuBaseline:
        server_cpu, upstreams_cpu, machine_cpu = server.cpu(), cpu_seconds(upstreams_pid), machine_busy_seconds()
        return cls(server_cpu, upstreams_cpu, machine_cpu, server.cpu_by_role(), time.process_time())

    def use_since(
        self, server: Server, upstreams_pid: int, *, parts: list[dict[str, Any]], window: float, commands: int
    ) -> dict[str, Any]:
        server_cpu = server.cpu() - self.server
        upstreams_cpu = cpu_seconds(upstreams_pid) - self.upstreams
        loadgen_cpu = sum(part["cpu_seconds"] for part in parts)
        # The driver's own CPU is not "other": it is the bench, waiting on the load generators.
        machine_cpu = machine_busy_seconds() - self.machine - (time.process_time() - self.driver)
        return {
            "server_cpu_ms_per_command": 1000 * server_cpu / max(1, commands),
            "server_cpu_ms_per_command_by_process": {
                role: round(1000 * (seconds - self.by_role[role]) / max(1, commands), 3)
                for role, seconds in server.cpu_by_role().items()
            },
            "server_cpu_percent": 100 * server_cpu / window,
            "upstreams_cpu_percent": 100 * upstreams_cpu / window,
            # Anything else running on the machine meanwhile (another test run, a build) skews every number.
            "other_cpu_percent": max(0.0, 100 * (machine_cpu - server_cpu - upstreams_cpu - loadgen_cpu) / window),
        }
