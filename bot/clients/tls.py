"""One TLS context for every upstream client: loading the CA bundle costs tens of milliseconds of CPU,
so it is done once per process instead of once per HTTP client."""

from __future__ import annotations

import ssl
from functools import lru_cache

import certifi


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Certificate checks as httpx makes them by default (certifi's CA bundle); shared and read-only."""
    return ssl.create_default_context(cafile=certifi.where())
