"""Reading an upstream's answer within bounds, whatever the upstream sends or announces.

The answers the bot expects are a few kilobytes. Without a bound, one upstream answering 300 MB took
the bot's process past a gigabyte of memory, and one trickling its answer a byte at a time (each byte
within the client's read timeout) would hold a thread for as long as it liked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from bot.words import size_text

# A thousand times the largest answer the bot expects (a page of virtual lines), and still small.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
# The client's timeout bounds each wait for the next bytes; this bounds the whole answer.
MAX_ANSWER_SECONDS = 30.0

# Describe the body as received: the bytes kept are already decoded, and their length is known.
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True)
class AnswerLimits:
    max_bytes: int = MAX_ANSWER_BYTES
    max_seconds: float = MAX_ANSWER_SECONDS


DEFAULT_LIMITS = AnswerLimits()


class AnswerTooLarge(Exception):
    """The answer is (or announced itself as) larger than the limit; reading stopped there."""

    def __init__(self, limit: int, *, announced: int | None = None) -> None:
        said = f" ({announced} bytes announced)" if announced is not None else ""
        super().__init__(f"answer larger than {size_text(limit)}{said}")
        self.limit = limit
        self.announced = announced


class AnswerTooSlow(Exception):
    """The answer was still arriving when the time for it was up; reading stopped there."""

    def __init__(self, seconds: float, received: int) -> None:
        super().__init__(f"answer not complete after {seconds:g} s ({received} bytes received)")
        self.seconds = seconds
        self.received = received


def read_bounded(response: httpx.Response, limits: AnswerLimits) -> httpx.Response:
    """Read a streamed `response` (sent with `stream=True`) whole, within `limits`, and close it.

    Returns an equivalent response whose body is in memory. Raises AnswerTooLarge or AnswerTooSlow,
    and whatever httpx raises while reading (timeouts, a dropped connection, broken compression).
    """
    started = time.monotonic()
    body = bytearray()
    try:
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > limits.max_bytes:
            raise AnswerTooLarge(limits.max_bytes, announced=int(announced))
        # Counted after decompression: a small compressed answer may unpack into a very large one.
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limits.max_bytes:
                raise AnswerTooLarge(limits.max_bytes)
            if time.monotonic() - started > limits.max_seconds:
                raise AnswerTooSlow(limits.max_seconds, len(body))
    finally:
        response.close()
    headers = [(name, value) for name, value in response.headers.multi_items() if name.lower() not in _DROPPED_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=response.request)
