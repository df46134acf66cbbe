"""Time as the services see it: always timezone-aware UTC, injectable so schedules can be tested."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
# How a client waits between retries (Retry-After, a backoff); injectable so tests skip the wait and see it.
Sleep = Callable[[float], None]


def utc_now() -> datetime:
    return datetime.now(UTC)
