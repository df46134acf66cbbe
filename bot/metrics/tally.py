"""What the Slack edge counts (requests by kind and outcome, the acknowledgement's latency), in plain Python.

The edge runs in the HTTP front, which must stay small: these counters need no library, and their
snapshot (a JSON object) goes to the bot's process with each scrape, where registry.py renders it.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

# A Slack request's kind: what its body says it is. `unverified`: refused before anything in it was read.
KINDS = ("command", "click", "form", "shortcut", "event", "other", "unverified")
# How the edge answered: acked (queued for work), answered (in the response: a form, URL verification),
# busy (no room: the busy text), refused (bad signature, unreadable body), unavailable (503: the bot's
# process is starting, stopping or did not answer).
OUTCOMES = ("acked", "answered", "busy", "refused", "unavailable")
# Seconds; Slack gives up after 3.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0)

# Form payloads' `type` → kind.
_PAYLOAD_KINDS = {
    "block_actions": "click",
    "view_submission": "form",
    "shortcut": "shortcut",
    "message_action": "shortcut",
}


def payload_kind(payload_type: object) -> str:
    """The kind of a request whose form body carries a JSON `payload` of this `type`."""
    return _PAYLOAD_KINDS.get(payload_type, "other") if isinstance(payload_type, str) else "other"


class EdgeTally:
    """Counters of Slack requests by (kind, outcome) and a latency histogram per kind; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = {}
        # Per kind: a count per bucket (the last one: above every bound), the sum and the count.
        self._ack: dict[str, tuple[list[int], list[float]]] = {}

    def count(self, kind: str, outcome: str, seconds: float) -> None:
        kind = kind if kind in KINDS else "other"
        outcome = outcome if outcome in OUTCOMES else "refused"
        index = bisect.bisect_left(ACK_BUCKETS, seconds)
        with self._lock:
            key = (kind, outcome)
            self._requests[key] = self._requests.get(key, 0) + 1
            histogram = self._ack.get(kind)
            if histogram is None:
                histogram = self._ack[kind] = ([0] * (len(ACK_BUCKETS) + 1), [0.0])
            histogram[0][index] += 1
            histogram[1][0] += seconds

    def snapshot(self) -> dict[str, Any]:
        """The counts so far, as a JSON object (see `read_snapshot`)."""
        with self._lock:
            return {
                "requests": [[kind, outcome, n] for (kind, outcome), n in sorted(self._requests.items())],
                "ack": {kind: {"buckets": list(b), "sum": s[0]} for kind, (b, s) in sorted(self._ack.items())},
            }


def read_snapshot(value: object) -> dict[str, Any]:
    """A snapshot as sent over the link, kept to known kinds, outcomes and bucket counts (anything else
    is dropped: the page is never made of what a message said)."""
    result: dict[str, Any] = {"requests": [], "ack": {}}
    if not isinstance(value, dict):
        return result
    for row in value.get("requests") or []:
        if _request_row(row):
            result["requests"].append(row)
    ack = value.get("ack")
    for kind, histogram in (ack.items() if isinstance(ack, dict) else []):
        if kind not in KINDS or not isinstance(histogram, dict):
            continue
        buckets, total = histogram.get("buckets"), histogram.get("sum")
        if _bucket_counts(buckets) and isinstance(total, int | float):
            result["ack"][kind] = {"buckets": buckets, "sum": float(total)}
    return result


def _request_row(row: object) -> bool:
    return (
        isinstance(row, list) and len(row) == 3 and row[0] in KINDS and row[1] in OUTCOMES
        and isinstance(row[2], int) and row[2] >= 0
    )  # fmt: skip


def _bucket_counts(buckets: object) -> bool:
    return (
        isinstance(buckets, list) and len(buckets) == len(ACK_BUCKETS) + 1
        and all(isinstance(n, int) and n >= 0 for n in buckets)
    )  # fmt: skip


# The edge's counts in this process: the HTTP front's under `serve`, the one process's in the tests.
EDGE = EdgeTally()
