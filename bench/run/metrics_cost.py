"""`--metrics-cost`: what /metrics costs the acknowledgements: the same load against the bot with metrics
(this tree, scraped once a second as a busy Prometheus would) and without (the commit before metrics
came, unpacked from git), level by level and in turn, so both see the same machine.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import tarfile
import threading
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

from bench.run.load import run_load
from bench.run.processes import ROOT, Control, Server, start_ours
from bench.run.report import print_ack_progress
from bench.run.scenarios import AckPlan, memory_benchmark

# The bound: metrics may add at most this much to the ack p99 and to the CPU per command.
MAX_COST = 1.05
SCRAPE_SECONDS = 1.0
METRICS_TOKEN = "bench-metrics-token-0123456789abcdef"


def commit_before_metrics() -> str:
    """The commit just before bot/metrics/ was added (the bot without metrics)."""
    added = subprocess.run(
        ["git", "log", "--format=%H", "--diff-filter=A", "--", "bot/metrics/__init__.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if not added:
        raise SystemExit("bot/metrics/ is not in this repository's history: pass --metrics-cost REF")
    return f"{added[-1]}^"


def unpack(ref: str, folder: Path) -> str:
    """`ref`'s bot/ into `folder`; the commit's short hash."""
    commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    archive = subprocess.run(["git", "archive", "--format=tar", commit, "bot"], cwd=ROOT, check=True,
                             capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return commit


class Scraper:
    """GET /metrics every SCRAPE_SECONDS while running (a Prometheus scraping far more often than usual)."""

    def __init__(self, server: Server) -> None:
        self._url = f"http://127.0.0.1:{server.port}/metrics"
        self._stop = threading.Event()
        self.scrapes = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10) as client:
            while not self._stop.wait(SCRAPE_SECONDS):
                try:
                    ok = client.get(self._url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.scrapes += 1
                self.failures += not ok


def metrics_cost_benchmark(
    stack: contextlib.ExitStack, *, info: dict[str, str], control: Control, upstreams_pid: int, workdir: Path,
    threads: int, plan: AckPlan, ref: str, rounds: int,
) -> dict[str, Any]:  # fmt: skip
    source = workdir / "without-metrics"
    source.mkdir()
    commit = unpack(ref, source)
    (workdir / "with").mkdir()
    with_metrics = start_ours(stack, info, workdir / "with", threads, name="with metrics",
                              env_extra={"METRICS_TOKEN": METRICS_TOKEN})  # fmt: skip
    without = start_ours(stack, info, source, threads, source=source, name="without metrics")
    # The version without metrics has no page: a scrape would be a 404, so none is made.
    assert httpx.get(f"http://127.0.0.1:{without.port}/metrics").status_code == 404, "the old tree has /metrics"
    print(f"with metrics: this tree (:{with_metrics.port}); without: commit {commit} (:{without.port})", flush=True)
    rows = []
    for round_number in range(rounds):
        for text in ("help", "requests"):
            for clients, requests in plan.levels:
                pair: dict[str, Any] = {}
                for server in (without, with_metrics):
                    tag = f"cost{round_number}-{'with' if server is with_metrics else 'without'}-{text}-{clients}"
                    scraping = Scraper(server) if server is with_metrics else contextlib.nullcontext()
                    with scraping:
                        pair[server.name] = run_load(
                            server, info=info, control=control, upstreams_pid=upstreams_pid, text=text,
                            clients=clients, requests=requests, warmup=plan.warmup, tag=tag,
                            clients_per_process=plan.clients_per_process,
                        )  # fmt: skip
                    if isinstance(scraping, Scraper):
                        pair[server.name]["scrapes"] = scraping.scrapes
                        pair[server.name]["failed_scrapes"] = scraping.failures
                    print_ack_progress(pair[server.name])
                control.get("/clear")
                rows.append({"round": round_number, "command": f"/recording {text}", "clients": clients,
                             "without": pair[without.name], "with": pair[with_metrics.name]})  # fmt: skip
    memory = memory_benchmark((without, with_metrics))
    peak_mb = {name: sum(p["VmHWM"] for p in processes.values()) / 1024 for name, processes in memory.items()}
    return {"without_commit": commit, "scrape_seconds": SCRAPE_SECONDS, "rows": rows, "memory": memory,
            "peak_rss_mb": peak_mb, **summarize(rows)}  # fmt: skip


def summarize(rows: list[dict[str, Any]], sides: tuple[str, str] = ("without", "with")) -> dict[str, Any]:
    """Per level (median over rounds) and overall: the ratios second/first of `sides` (by default with/without
    metrics) of the ack p99 and the CPU per command."""
    levels: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        levels.setdefault((row["command"], row["clients"]), []).append(row)
    table = []
    for (command, clients), runs in levels.items():
        p99 = [statistics.median(r[side]["ack_ms"]["p99"] for r in runs) for side in sides]
        cpu = [statistics.median(r[side]["server_cpu_ms_per_command"] for r in runs) for side in sides]
        table.append({"command": command, "clients": clients, "p99_ms": p99, "cpu_ms_per_command": cpu,
                      "p99_ratio": p99[1] / p99[0], "cpu_ratio": cpu[1] / cpu[0]})  # fmt: skip
    # CPU: all commands of all runs together (the steadiest figure); p99: the median of the levels' ratios.
    cpu_total = [
        sum(r[side]["server_cpu_ms_per_command"] * r[side]["ok"] for r in rows) / sum(r[side]["ok"] for r in rows)
        for side in sides
    ]
    return {
        "levels": table,
        "cpu_ms_per_command": cpu_total,
        "cpu_ratio": cpu_total[1] / cpu_total[0],
        "p99_ratio_median": statistics.median(level["p99_ratio"] for level in table),
    }


def print_metrics_cost(result: dict[str, Any]) -> None:
    print(f"\nMetrics' cost: with (this tree, /metrics scraped every {result['scrape_seconds']:g} s) / without "
          f"(commit {result['without_commit']}); medians over rounds")  # fmt: skip
    print_ratios(result, ("without", "with"), MAX_COST)
    peaks = result["peak_rss_mb"]
    print("  peak RSS (VmHWM, all processes): " + ", ".join(f"{name} {mb:.1f} MB" for name, mb in peaks.items()))


def print_ratios(result: dict[str, Any], sides: tuple[str, str], bound: float) -> None:
    """`summarize`'s table, level by level, and its two overall ratios against `bound`."""
    change = f"{sides[0]} → {sides[1]}"
    print(f"  {'command':<20} {'clients':>7}  {'ack p99 ms ' + change:>34}  {'CPU ms/cmd ' + change:>34}")
    for level in result["levels"]:
        p99, cpu = level["p99_ms"], level["cpu_ms_per_command"]
        print(f"  {level['command']:<20} {level['clients']:>7}  {p99[0]:>14.2f} → {p99[1]:>6.2f} "
              f"({level['p99_ratio']:.2f}×)  {cpu[0]:>16.2f} → {cpu[1]:>6.2f} ({level['cpu_ratio']:.2f}×)")  # fmt: skip
    cpu = result["cpu_ms_per_command"]
    verdict = "PASS" if result["cpu_ratio"] <= bound else "FAIL"
    print(f"  CPU per command, all runs: {cpu[0]:.3f} → {cpu[1]:.3f} ms ({result['cpu_ratio']:.3f}×, "
          f"≤ {bound}×: {verdict})")  # fmt: skip
    verdict = "PASS" if result["p99_ratio_median"] <= bound else "FAIL"
    print(f"  ack p99, median ratio of the levels: {result['p99_ratio_median']:.3f}× (≤ {bound}×: {verdict})")
