"""Byte counts in words, for the limits that messages and log lines name."""

from __future__ import annotations


def size_text(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit // mib} MB" if limit % mib == 0 else f"{limit // 1024} KB"
