"""A flood the bot has no room for, against slow response_urls: the bot's process's threads and memory.

`python -m tests.support.busy_flood [commands] [seconds] [reply delay]` starts `recording-bot serve` as the
Procfile does, sends signed `/recording help` commands at that rate, while Slack takes that long to answer
each response_url post, and prints the peak thread count and RSS of the bot's process and of its front.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.sandbox.simulators.base import Reply
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.serving.background import BUSY_TEXT
from tests.conftest import ADMIN, BOT_TOKEN, SIGNING_SECRET
from tests.support.processes import BotProcess, procfile_environment
from tests.support.slack_requests import TEAM, SlackSender


def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Threads", "VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def main(commands: int = 3000, seconds: float = 4.0, delay: float = 2.0) -> None:
    folder = Path(tempfile.mkdtemp(prefix="busy-flood-"))
    slack = SimulatedSlack(bot_token=BOT_TOKEN, team_id=TEAM, validate_block_kit=False).start()
    slack.fail_next("response_url", Reply(body="ok", content_type="text/plain", delay_seconds=delay), times=10**6)
    server = BotProcess(env=procfile_environment(folder, slack), cwd=folder, log_path=folder / "server.log")
    server.start()
    assert server.process is not None
    bot = server.process.pid
    front = _children(bot)[0]
    peaks: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            try:
                processes = {"bot": bot, "front": front, **{f"worker{i}": w for i, w in enumerate(_children(front))}}
                for name, pid in processes.items():
                    for field, value in _status(pid).items():
                        peaks[f"{name} {field}"] = max(peaks.get(f"{name} {field}", 0), value)
            except (OSError, IndexError, ValueError):
                continue

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    senders = [
        SlackSender(base_url=server.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
        for _ in range(16)
    ]
    started = time.monotonic()
    statuses: list[int] = []

    def send(i: int) -> None:
        # Paced: command i leaves at i * seconds / commands.
        time.sleep(max(0.0, started + i * seconds / commands - time.monotonic()))
        statuses.append(senders[i % len(senders)].command("help", user=ADMIN).status_code)

    try:
        with ThreadPoolExecutor(max_workers=len(senders)) as pool:
            list(pool.map(send, range(commands)))
        sent_in = time.monotonic() - started
        time.sleep(3)  # the busy answers keep going out
        done.set()
        sampler.join()
        busy = sum(BUSY_TEXT.encode() in r.body for r in slack.requests if r.path.startswith("/response/"))
        print(f"{len(statuses)} commands in {sent_in:.1f} s, {statuses.count(200)} acked with 200; "
              f"response_urls answer in {delay:g} s; {busy} busy answers reached Slack so far")  # fmt: skip
        for name, value in sorted(peaks.items()):
            print(f"  peak {name}: {value}" + (" kB" if name.endswith(("RSS", "HWM")) else ""))
        drops = [line for line in server.log().splitlines() if "dropped" in line and "busy" in line]
        print("  log:", *drops[:3], sep="\n    ")
    finally:
        for sender in senders:
            sender.close()
        server.stop()
        slack.stop()


if __name__ == "__main__":
    main(*(int(sys.argv[1]),) if len(sys.argv) > 1 else (), *(float(a) for a in sys.argv[2:]))
