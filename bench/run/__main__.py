"""The recording-bot benchmark: acks under load vs a bare Bolt app, approve → MuteRecording, settings, memory.

    python -m bench.run                 # from the repository root, in the venv; about 2 minutes
    python -m bench.run --quick         # smaller counts, for trying changes (about 40 s)
    python -m bench.run --profile       # also samples the bot's process with py-spy during the 50-client run
    python -m bench.run --metrics-cost  # only: acks with /metrics scraped vs the commit before metrics

Everything runs on 127.0.0.1: the simulated upstreams in one subprocess (bench/upstreams.py), the bot as
`python -m bot serve` (the Procfile's server) in another, the bare Bolt app (bench/bare_bolt.py) in a
third, and the load generator (bench/loadgen.py) in its own process(es). Prints a table with pass/fail
per target and writes bench/results/latest.json. See bench/README.md.
"""


from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.run.installable import installable_comparison
from bench.run.machine import machine_info
from bench.run.metrics_cost import MAX_COST, commit_before_metrics, metrics_cost_benchmark, print_metrics_cost
from bench.run.processes import ROOT, Control, deadline, start_bare, start_ours, start_postgres, start_upstreams
from bench.run.profiling import summarize_profile
from bench.run.report import RESULTS, evaluate, print_report, write_results
from bench.run.scenarios import AckPlan, ack_benchmark, approve_benchmark, memory_benchmark, settings_benchmark

# The whole run stops itself after this long, whatever hangs.
RUN_DEADLINE_SECONDS = 600


@dataclass(frozen=True)
class Sizes:
    """How much each scenario measures: the full run's counts, or --quick's smaller ones."""

    ack: AckPlan
    approvals: int
    settings_lines: int


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
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
    parser.add_argument(
        "--installable", action="store_true",
        help="also the acks with the bot in installable mode (two workspaces installed through the OAuth flow, "
        "tokens from the database), run level by level beside single-workspace mode",
    )  # fmt: skip
    parser.add_argument(
        "--metrics-cost", nargs="?", const="", default=None, metavar="REF",
        help="instead of the full run: the acks with metrics (this tree, scraped every second) against the bot "
        "without them (REF; default the commit before bot/metrics/ was added); writes results/metrics-cost.json",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2,
                        help="--metrics-cost and --installable: rounds of every level (default 2)")
    parser.add_argument(
        "--bot-source", type=Path, default=None, metavar="DIR",
        help="run the bot from DIR/bot (another version, e.g. unpacked with `git archive REF bot | tar -x -C DIR`) "
        "instead of this tree's; the bench itself and the bare Bolt app stay this tree's",
    )  # fmt: skip
    return parser.parse_args(argv)


def sizes_for(args: argparse.Namespace) -> Sizes:
    if args.quick:
        plan = AckPlan(
            levels=((1, 200), (10, 500), (50, 1000)), warmup=30, clients_per_process=args.clients_per_process
        )
        return Sizes(plan, approvals=50, settings_lines=30)
    plan = AckPlan(levels=((1, 1000), (10, 2000), (50, 2000)), warmup=50,
                   clients_per_process=args.clients_per_process)  # fmt: skip
    return Sizes(plan, approvals=200, settings_lines=100)


def measure(stack: contextlib.ExitStack, args: argparse.Namespace, sizes: Sizes, results: dict[str, Any]) -> None:
    """Start the processes and run every scenario, filling `results`; `stack` stops what was started."""
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recording-bot-bench-")))
    upstreams, info = start_upstreams(stack)
    control = Control(info["control_url"])
    postgres_url = None
    if args.engine != "sqlite":
        postgres_url = start_postgres(stack, workdir)
    first_url = postgres_url if args.engine == "postgresql" else None
    ours = start_ours(stack, info, workdir, args.threads, first_url, source=args.bot_source)
    bare = start_bare(stack, info, workdir, args.threads)
    results["config"]["engine"] = "postgresql" if first_url else "sqlite"
    if args.bot_source is not None:
        results["config"]["bot_source"] = str(args.bot_source)
    print(f"servers up: recording-bot :{ours.port} (pids {'/'.join(map(str, ours.pids))}), "
          f"bare Bolt :{bare.port}, upstreams pid {upstreams.pid}", flush=True)  # fmt: skip

    print("1. acks under load", flush=True)
    results["ack"] = ack_benchmark(ours, bare, info=info, control=control, upstreams_pid=upstreams.pid,
                                   plan=sizes.ack, profile=args.profile)  # fmt: skip
    print("2. approve → MuteRecording", flush=True)
    results["approve"] = approve_benchmark(ours, info=info, control=control, count=sizes.approvals, warmup=3)
    print("3. settings cached / uncached", flush=True)
    results["settings"] = settings_benchmark(ours, info=info, control=control, count=sizes.settings_lines)
    results["memory"] = memory_benchmark((ours, bare))
    if args.installable:
        ours.stop()  # done with: its scheduler and database stay out of the comparison
        results["installable"] = installable_comparison(stack, info=info, control=control, workdir=workdir,
                                                        upstreams_pid=upstreams.pid, threads=args.threads,
                                                        database_url=first_url, plan=sizes.ack, rounds=args.rounds)
    if args.engine == "both" and postgres_url is not None:
        ours.stop()
        print("4. the same acks and approvals with the bot on PostgreSQL", flush=True)
        on_postgres = start_ours(stack, info, workdir, args.threads, postgres_url)
        results["postgresql"] = {
            "ack": ack_benchmark(on_postgres, bare, info=info, control=control, upstreams_pid=upstreams.pid,
                                 plan=sizes.ack, profile=False),
            "approve": approve_benchmark(on_postgres, info=info, control=control, count=sizes.approvals, warmup=3),
            "memory": memory_benchmark((on_postgres,)),
        }  # fmt: skip
    log_tail = ours.log_path.read_text(errors="replace").splitlines()
    results["server_log"] = {
        "lines": len(log_tail),
        "warnings_or_errors": [x for x in log_tail if " WARNING " in x or " ERROR " in x][:10],
    }


def metrics_cost(args: argparse.Namespace, sizes: Sizes, results: dict[str, Any]) -> int:
    ref = args.metrics_cost or commit_before_metrics()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with deadline(RUN_DEADLINE_SECONDS), contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recording-bot-bench-")))
        upstreams, info = start_upstreams(stack)
        results["metrics_cost"] = metrics_cost_benchmark(
            stack, info=info, control=Control(info["control_url"]), upstreams_pid=upstreams.pid, workdir=workdir,
            threads=args.threads, plan=sizes.ack, ref=ref, rounds=args.rounds,
        )  # fmt: skip
    print_metrics_cost(results["metrics_cost"])
    output = RESULTS / "metrics-cost.json" if args.output == RESULTS / "latest.json" else args.output
    write_results(output, results)
    cost = results["metrics_cost"]
    return 0 if cost["cpu_ratio"] <= MAX_COST and cost["p99_ratio_median"] <= MAX_COST else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_for(args)
    results: dict[str, Any] = {
        "machine": machine_info(ROOT),
        "config": {
            "threads": args.threads,
            "quick": args.quick,
            "ack_levels": sizes.ack.levels,
            "warmup": sizes.ack.warmup,
            "clients_per_process": sizes.ack.clients_per_process,
        },
    }
    if args.metrics_cost is not None:
        return metrics_cost(args, sizes, results)
    started = time.monotonic()
    # SIGTERM unwinds like Ctrl-C, so the ExitStack stops every process this run started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with deadline(RUN_DEADLINE_SECONDS), contextlib.ExitStack() as stack:
        measure(stack, args, sizes, results)
    profiles = sorted(RESULTS.glob("profile-*.txt")) if args.profile else []
    results["profiles"] = [summarize_profile(path) for path in profiles]
    results["elapsed_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = evaluate(results)
    print_report(results)
    write_results(args.output, results)
    print(f"\nwrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output} "
          f"in {results['elapsed_seconds']} s")  # fmt: skip
    return 0 if all(t["pass"] for t in results["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
