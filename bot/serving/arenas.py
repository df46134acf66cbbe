"""glibc's malloc arenas, limited for `serve`'s processes (the bot's, and the HTTP front's before its fork).

glibc gives each new thread a malloc arena of its own (up to 8 per core), and each arena keeps what it
freed: many megabytes a threaded process never gives back. Called before any thread starts."""

from __future__ import annotations

import contextlib
import ctypes

_M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int) -> None:
    """At most `arenas` malloc arenas in this process (and the processes it forks)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its own allocator, left as it is
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, arenas)
