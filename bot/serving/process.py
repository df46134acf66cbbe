"""`recording-bot serve`'s own process: the bot itself, the link's listening end, and the HTTP front beside it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Protocol

from bot.config import Config
from bot.serving.arenas import limit_malloc_arenas
from bot.serving.background import WORK_NICENESS
from bot.serving.busy import BusyReplies
from bot.serving.dispatch import BoltDispatcher
from bot.serving.link import LinkServer, Message, asks
from bot.serving.response_urls import ResponseUrlClient
from bot.serving.settings import METRICS_TOKEN_VARIABLE, SECRET_VARIABLE, SETTINGS_VARIABLE, FrontSettings

logger = logging.getLogger(__name__)

# The variables the HTTP front is given from this process's environment: what the interpreter and the C
# library read, and the logging settings. An allow-list, as the environment holds every secret the bot has
# (its Slack token, the recording system's key and password, Webex's tokens, a platform's add-on URLs), and
# the front needs none of them: only the signing secret, the link's key and METRICS_TOKEN (checked at
# /metrics), which it is given on their own.
_FRONT_VARIABLES = frozenset(
    {"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LANGUAGE", "LD_LIBRARY_PATH", "LOG_LEVEL", "LOG_FORMAT"}
)
_FRONT_VARIABLE_PREFIXES = ("LC_", "PYTHON")
_CGROUP2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_CGROUP1_CPU_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
_CGROUP1_CPU_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


class RunningBot(Protocol):
    """What `serve` needs of the bot it runs (bot/app.py's RecordingBot, started)."""

    @property
    def dispatcher(self) -> BoltDispatcher: ...

    @property
    def replies(self) -> ResponseUrlClient: ...

    @property
    def metrics_token(self) -> str: ...

    @property
    def inbox_file(self) -> Path | None: ...

    @property
    def instance_id(self) -> str: ...

    def render_metrics(self, edge_snapshot: object = None) -> tuple[str, bytes]: ...

    def close(self) -> None: ...


# Builds and starts the bot, its post-ack work at the niceness given (the command line passes bot/app.py's).
StartBot = Callable[[int], RunningBot]


class FrontLink:
    """What the bot's process does with each message from the HTTP front."""

    def __init__(
        self,
        *,
        dispatcher: BoltDispatcher,
        replies: ResponseUrlClient,
        render_metrics: Callable[[object], tuple[str, bytes]] | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._busy = BusyReplies(replies.post)
        # /metrics, made here with the front's own counts, which come with the question.
        self._render_metrics = render_metrics

    def handle(self, message: Message) -> Message | None:
        op = message.get("op")
        body = str(message.get("body", ""))
        headers = {str(k): str(v) for k, v in dict(message.get("headers") or {}).items()}
        if op == "queue":
            event_id, entry = message.get("event_id"), message.get("entry")
            queued = self._dispatcher.queue(
                body, headers, event_id=event_id if isinstance(event_id, str) else None,
                urgent=message.get("urgent") is True,
                # Stored by the front already (its inbox file): the work ends by removing that row.
                entry=entry if isinstance(entry, int) and not isinstance(entry, bool) else None,
            )  # fmt: skip
            if not queued:
                # The front answers 200 all the same: the one way left to tell the person is their response_url.
                self._busy.say(body)
            # The front acks once it has this answer: the request is stored (or, the database refusing, queued).
            return {"queued": queued} if asks(message) else None
        if op == "answer_now":
            status, answer = self._dispatcher.answer_now(body, headers)
            return {"status": status, "body": answer.decode()}
        if op == "health":
            status, report = self._dispatcher.health()
            return {"status": status, "body": report}
        if op == "page":
            status, page_headers, page = self._dispatcher.page(str(message.get("path", "")),
                                                               str(message.get("query", "")), headers)  # fmt: skip
            return {"status": status, "headers": page_headers, "body": page.decode()}
        if op == "metrics" and self._render_metrics is not None:
            content_type, page = self._render_metrics(message.get("edge"))
            return {"content_type": content_type, "page": page.decode()}
        logger.warning("the HTTP front sent an unknown message (%r); ignored", op)
        return None

    def close(self) -> None:
        """Send the busy answers still waiting, for a moment (call it once the front has stopped)."""
        self._busy.close()


def serve_http(config: Config, start_bot: StartBot, *, threads: int) -> int:
    """Run the bot and its HTTP front until told to stop (SIGTERM, SIGINT); the exit status."""
    # Two arenas keep the bot's process near its working size, with the pool's and the link's threads.
    limit_malloc_arenas(2)
    front_cpus = _own_cpu()
    bot = start_bot(WORK_NICENESS)
    front_link = FrontLink(dispatcher=bot.dispatcher, replies=bot.replies, render_metrics=bot.render_metrics)
    link = LinkServer(front_link.handle).start()
    stopping = threading.Event()
    front: subprocess.Popen[bytes] | None = None
    try:
        front = _start_front(config, link, bot, threads=threads, cpus=front_cpus)

        def stop(signum: int, _frame: FrameType | None) -> None:
            if not stopping.is_set():
                logger.info("stopping (%s): the HTTP front first, then the work already acknowledged",
                            signal.Signals(signum).name)  # fmt: skip
            stopping.set()
            if front is not None and front.poll() is None:
                front.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        code = front.wait()
    finally:
        if front is not None and front.poll() is None:
            front.kill()
        link.stop()
        front_link.close()
        # Finishes the work already acknowledged (replies, audit rows) before the process ends.
        bot.close()
    if stopping.is_set() or code == 0:
        logger.info("recording-bot stopped")
        return 0  # told to stop: this process, or the front itself (a platform signals every process)
    logger.error("the HTTP front stopped by itself (exit status %s; see above); recording-bot stops too", code)
    return 1


def _own_cpu() -> tuple[int, ...]:
    """With two CPUs or more that are this machine's own, keep one for the bot's process and leave the
    others to the front: the next acknowledgement then never waits for a CPU behind the bot's work (which,
    being Python, uses about one). Returns the CPUs for the front; empty when nothing was pinned. Runs before
    any thread starts, so that all of them inherit it."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2 or _cpu_quota_below(len(allowed)):
            return ()
        os.sched_setaffinity(0, {allowed[-1]})
    except (OSError, AttributeError):  # not Linux, or not allowed: everything where the system puts it
        return ()
    return tuple(allowed[:-1])


def _cpu_quota_below(cpus: int) -> bool:
    """Whether a cgroup CPU quota gives this container less time than `cpus` CPUs: its CPUs are then a
    shared host's, and one pinned CPU could be a busy neighbour's."""
    for path, unlimited in ((_CGROUP2_CPU_MAX, "max"), (_CGROUP1_CPU_QUOTA, "-1")):
        try:
            words = path.read_text().split()
            if not words or words[0] == unlimited:
                return False
            quota = int(words[0])
            period = int(words[1]) if len(words) > 1 else int(_CGROUP1_CPU_PERIOD.read_text())
        except (OSError, ValueError):
            continue
        return quota < cpus * period
    return False


def _start_front(
    config: Config, link: LinkServer, bot: RunningBot, *, threads: int, cpus: tuple[int, ...]
) -> subprocess.Popen[bytes]:
    settings = FrontSettings(
        link_address=link.address,
        link_key=link.authkey,
        port=config.port,
        threads=threads,
        log_level=config.log_level,
        log_format=config.log_format,
        parent_pid=os.getpid(),
        cpus=cpus,
        inbox_path=str(bot.inbox_file or ""),
        instance_id=bot.instance_id,
    )
    secret = config.slack_signing_secret.get_secret_value() if config.slack_signing_secret else ""
    given = {SETTINGS_VARIABLE: settings.to_environment(), SECRET_VARIABLE: secret}
    if bot.metrics_token:
        given[METRICS_TOKEN_VARIABLE] = bot.metrics_token
    environment = front_environment(os.environ) | given
    return subprocess.Popen([sys.executable, "-m", "bot.serving.front"], env=environment)


def front_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """The part of `environment` the HTTP front is given (see _FRONT_VARIABLES)."""
    return {
        name: value
        for name, value in environment.items()
        if name in _FRONT_VARIABLES or name.startswith(_FRONT_VARIABLE_PREFIXES)
    }
