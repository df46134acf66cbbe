"""`--installable`: the acknowledgements with the bot in installable mode (two workspaces installed through
the OAuth flow, tokens read from the database) against single-workspace mode, both started fresh, level by
level and in turn, over several rounds: the issue's bound is 10% on the ack p99 and on the CPU per command,
closer than one round's noise on two cores, so the figures are medians over the rounds.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from bench.run.load import run_load
from bench.run.metrics_cost import print_ratios, summarize
from bench.run.processes import Control, start_ours
from bench.run.report import print_ack_progress
from bench.run.scenarios import AckPlan

MAX_DIFFERENCE = 1.10
SIDES = ("single", "installable")


def installable_comparison(
    stack: contextlib.ExitStack, *, info: dict[str, str], control: Control, workdir: Path, upstreams_pid: int,
    threads: int, database_url: str | None, plan: AckPlan, rounds: int,
) -> dict[str, Any]:  # fmt: skip
    print("3b. acks in installable mode against single-workspace mode, both fresh, in turn", flush=True)
    installable = start_ours(stack, info, workdir, threads, database_url, installable=True)
    # On SQLite the single-workspace bot gets a database of its own, as empty as the installable one's (the
    # first bot's holds the approve scenario's requests, which `/recording requests` would list). On
    # PostgreSQL both use the one server's database: there the `requests` rows are not comparable.
    fresh = {"DATABASE_PATH": str(workdir / "bench-single.db")} if database_url is None else None
    single = start_ours(stack, info, workdir, threads, database_url, name="recording-bot-single (fresh)",
                        env_extra=fresh)  # fmt: skip
    servers = {"single": single, "installable": installable}
    rows = []
    for round_number in range(rounds):
        # Each round the other goes first, so that neither always meets the machine as the other left it.
        order = SIDES if round_number % 2 == 0 else SIDES[::-1]
        for text in ("help", "requests"):
            for clients, requests in plan.levels:
                pair = {}
                for side in order:
                    pair[side] = run_load(
                        servers[side], info=info, control=control, upstreams_pid=upstreams_pid, text=text,
                        clients=clients, requests=requests, warmup=plan.warmup,
                        tag=f"installable{round_number}-{side}-{text}-{clients}",
                        clients_per_process=plan.clients_per_process,
                    )  # fmt: skip
                    print_ack_progress(pair[side])
                control.get("/clear")
                rows.append({"round": round_number, "command": f"/recording {text}", "clients": clients, **pair})
    installable.stop()
    single.stop()
    result = {"rounds": rounds, "rows": rows, **summarize(rows, SIDES)}
    print_installable_comparison(result)
    return result


def print_installable_comparison(result: dict[str, Any]) -> None:
    print(f"\nInstallable / single-workspace mode, medians over {result['rounds']} rounds")
    print_ratios(result, SIDES, MAX_DIFFERENCE)
