"""Every metric of the bot's process, defined once, and the page that shows them with the HTTP front's.

Label values come from fixed sets written here or in the code that counts (a subcommand's name from the
parser's list, a Slack API method's name from the call): never a user's text, ID or extension, and never
a secret. Several instances are told apart by Prometheus's own `instance` label, not here.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.metrics.tally import ACK_BUCKETS, EDGE, read_snapshot

logger = logging.getLogger(__name__)

# No `_created` series: they double the page and no alert reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

PREFIX = "recording_bot"
CONTENT_TYPE = CONTENT_TYPE_LATEST

SYSTEMS = ("recording_system", "webex", "slack")
# What an upstream call's outcome may be: `ok`, or the kind of clients/errors.py's error it became (and
# `server_error`: an HTTP 5xx answer; `error`: anything else).
UPSTREAM_OUTCOMES = (
    "ok", "unreachable", "bad_response", "rejected", "authentication", "not_found", "ambiguous", "rate_limited",
    "server_error", "error",
)  # fmt: skip
# Operations are named by the code that calls: these for the recording system and Webex, the API method for
# Slack (`chat.postMessage`), and `response_url` for replies through a response URL.
OPERATIONS = {
    "recording_system": frozenset({"pause", "resume", "verify", "login"}),
    "webex": frozenset({
        "list_lines", "get_call_recording", "find_numbers", "find_people", "find_workspaces", "get_person",
        "get_workspace", "verify", "refresh_token", "read_call_recording", "change_call_recording",
    }),
}
_SLACK_METHOD = re.compile(r"^[a-z]+(\.[a-zA-Z]+){1,3}$|^response_url$")
TRANSITIONS = (
    "asked", "approved", "denied", "expired", "cancelled", "failed", "abandoned", "extended",
    "resumed_automatically", "resumed_by_hand", "break_glass",
)  # fmt: skip
COMMAND_OUTCOMES = ("ok", "refused", "error")
ENGINES = ("sqlite", "postgresql")
# Upstream calls take from a few milliseconds to their timeout (10 s by default).
UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=_REGISTRY)

_COMMANDS = Counter(
    f"{PREFIX}_commands", "/recording subcommands run, by subcommand and outcome (ok, refused, error)",
    ["subcommand", "outcome"], registry=_REGISTRY,
)  # fmt: skip
_TRANSITIONS = Counter(
    f"{PREFIX}_pause_requests", "Pause requests by what happened to them (asked, approved, denied, …)",
    ["transition"], registry=_REGISTRY,
)  # fmt: skip
_UPSTREAM_CALLS = Counter(
    f"{PREFIX}_upstream_calls", "Calls to the recording system, Webex and Slack, by system, operation and outcome",
    ["system", "operation", "outcome"], registry=_REGISTRY,
)  # fmt: skip
_UPSTREAM_SECONDS = Histogram(
    f"{PREFIX}_upstream_call_seconds", "How long calls to the recording system, Webex and Slack took",
    ["system", "operation"], buckets=UPSTREAM_BUCKETS, registry=_REGISTRY,
)  # fmt: skip
_BUSY = Counter(
    f"{PREFIX}_busy_answers", "Requests answered \"busy\" because the post-ack queue was full", registry=_REGISTRY
)
_DATABASE_ERRORS = Counter(
    f"{PREFIX}_database_errors", "Database errors (unreachable, locked, read-only, full …), by engine",
    ["engine"], registry=_REGISTRY,
)  # fmt: skip

_TRANSITION_SET = frozenset(TRANSITIONS)
for _name in TRANSITIONS:
    _TRANSITIONS.labels(_name)  # every transition shows from the start, at 0: rate() needs no first event
for _engine in ENGINES:
    _DATABASE_ERRORS.labels(_engine)


def count_command(subcommand: str, outcome: str) -> None:
    """A `/recording` subcommand ran; `subcommand` is one the parser knows, or `unknown` (never as typed)."""
    _COMMANDS.labels(subcommand, outcome if outcome in COMMAND_OUTCOMES else "error").inc()


def count_transition(transition: str) -> None:
    if transition in _TRANSITION_SET:
        _TRANSITIONS.labels(transition).inc()
    else:
        logger.warning("not counted: %r is no pause-request transition", transition)


def count_busy() -> None:
    _BUSY.inc()


def count_database_error(engine: str) -> None:
    _DATABASE_ERRORS.labels(engine if engine in ENGINES else "sqlite").inc()


class UpstreamCall:
    """One call being measured: `outcome` is `ok` unless set, or taken from the exception that ends it."""

    def __init__(self) -> None:
        self.outcome = "ok"

    def answered(self, status: int) -> None:
        """Set the outcome from an HTTP answer's status."""
        self.outcome = status_outcome(status)


def status_outcome(status: int) -> str:
    if 200 <= status < 400:
        return "ok"
    if status in (401, 403):
        return "authentication"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "rejected"


@contextmanager
def upstream_call(system: str, operation: str) -> Iterator[UpstreamCall]:
    """Count and time one call to an upstream system (`with upstream_call("webex", "verify") as call:`)."""
    call = UpstreamCall()
    started = time.perf_counter()
    try:
        yield call
    except BaseException as error:
        kind = getattr(error, "kind", None)
        call.outcome = kind if isinstance(kind, str) and kind in UPSTREAM_OUTCOMES else "error"
        raise
    finally:
        record_upstream_call(system, operation, call.outcome, time.perf_counter() - started)


def record_upstream_call(system: str, operation: str, outcome: str, seconds: float) -> None:
    system = system if system in SYSTEMS else "slack"
    known = OPERATIONS.get(system)
    if known is not None:
        operation = operation if operation in known else "other"
    elif not _SLACK_METHOD.match(operation):
        operation = "other"
    _UPSTREAM_CALLS.labels(system, operation, outcome if outcome in UPSTREAM_OUTCOMES else "error").inc()
    _UPSTREAM_SECONDS.labels(system, operation).observe(seconds)


@dataclass(frozen=True)
class BotFigures:
    """What is read at scrape time; None when it could not be read (the database refused): left out."""

    active_pauses: int | None
    pauses_past_window: int | None
    unwritten_resumes: int
    queue_depth: int


_GAUGES = (
    ("active_pauses", "Pauses in effect now (recordings paused by the bot)"),
    ("pauses_past_window", "Pauses still in effect more than a minute after their window ended (alert above 0)"),
    ("unwritten_resumes", "Resumes held in memory: sent while the database could not be written (until it can), "
                          "or owed to the recording system after a pause sent to be safe (until it takes them)"),
    ("work_queue_depth", "Requests acknowledged and waiting for the post-ack pool"),
)


class BotMetrics:
    """The page at /metrics: this process's metrics, the figures read now, and the Slack edge's counts
    (this process's own, or those the HTTP front sent with the scrape)."""

    def __init__(self, *, figures: Callable[[], BotFigures]) -> None:
        self._figures = figures
        self._lock = threading.Lock()

    def render(self, edge_snapshot: object = None) -> bytes:
        """The Prometheus text format. `edge_snapshot`: the HTTP front's counts (None: this process's)."""
        edge = read_snapshot(EDGE.snapshot() if edge_snapshot is None else edge_snapshot)
        with self._lock:  # ProcessCollector and the figures are read by one scrape at a time
            return generate_latest(_Page([_REGISTRY, _Figures(self._figures), _Edge(edge)]))


class _Page(Collector):
    def __init__(self, parts: Iterable[Collector]) -> None:
        self._parts = list(parts)

    def collect(self) -> Iterable[Metric]:
        for part in self._parts:
            yield from part.collect()


class _Figures(Collector):
    def __init__(self, figures: Callable[[], BotFigures]) -> None:
        self._figures = figures

    def collect(self) -> Iterable[Metric]:
        figures = self._figures()
        values = {
            "active_pauses": figures.active_pauses, "pauses_past_window": figures.pauses_past_window,
            "unwritten_resumes": figures.unwritten_resumes, "work_queue_depth": figures.queue_depth,
        }  # fmt: skip
        for name, documentation in _GAUGES:
            value = values[name]
            if value is not None:
                yield GaugeMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


class _Edge(Collector):
    def __init__(self, snapshot: dict[str, Any]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            f"{PREFIX}_slack_requests", "Slack requests by kind (command, click, form, shortcut, event) and outcome",
            labels=["kind", "outcome"],
        )  # fmt: skip
        for kind, outcome, count in self._snapshot["requests"]:
            requests.add_metric([kind, outcome], count)
        yield requests
        ack = HistogramMetricFamily(
            f"{PREFIX}_slack_ack_seconds", "Time from a Slack request's arrival at the edge to its answer",
            labels=["kind"],
        )  # fmt: skip
        for kind, histogram in self._snapshot["ack"].items():
            cumulative, buckets = 0, []
            for bound, count in zip([*ACK_BUCKETS, float("inf")], histogram["buckets"], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            ack.add_metric([kind], buckets, sum_value=histogram["sum"])
        yield ack
