"""--profile: py-spy samples one server process during a load run, and who owned the sampled time."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.run.processes import ROOT, Server

THIRD_PARTY = ("slack_bolt", "slack_sdk", "gunicorn", "httpx", "httpcore", "h11", "sqlite_utils", "pydantic",
               "pydantic_core", "cachetools", "defusedxml")  # fmt: skip


def start_profiler(server: Server, output: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("  (py-spy not installed: pip install py-spy; skipping the profile)", file=sys.stderr)
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        # --gil: only the thread holding the GIL is sampled, i.e. where the process's one core of Python goes.
        [py_spy, "record", "--pid", str(server.profiled_pid), "--rate", "500", "--format", "raw",
         "--output", str(output), "--nonblocking", "--threads", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # py-spy attaches before the load starts
    return process


def stop_profiler(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def summarize_profile(path: Path) -> dict[str, Any]:
    """Who spends the sampled GIL time: each sample goes to the innermost frame that is the bot's own code
    or a third-party package (standard-library frames count for whoever called them: copy.deepcopy called
    by Bolt is Bolt's, urllib called by slack_sdk is slack_sdk's, logging called by the bot is the bot's)."""
    owners: dict[str, int] = {}
    functions: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        owner = "stdlib / interpreter"
        for frame in reversed(stack.split(";")):
            location = frame.rpartition("(")[2]
            package = location.split("/", 1)[0] if "/" in location else ""
            if package == "bot" or package in THIRD_PARTY:
                owner = "bot (ours)" if package == "bot" else package
                functions[frame.rsplit(":", 1)[0] + ")"] = functions.get(frame.rsplit(":", 1)[0] + ")", 0) + samples
                break
        owners[owner] = owners.get(owner, 0) + samples
    share = {k: round(100 * v / total, 1) for k, v in sorted(owners.items(), key=lambda kv: -kv[1])} if total else {}
    top = sorted(functions.items(), key=lambda kv: -kv[1])[:12]
    return {
        "file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "samples": total,
        "percent_by_owner": share,
        "top_innermost_frames_percent": {k: round(100 * v / total, 1) for k, v in top} if total else {},
    }
