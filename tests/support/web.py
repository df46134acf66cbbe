"""HTTP from the tests to the bot and its simulators.

httpx builds a TLS context for every client it makes, and `httpx.get` makes a client per call: loading the CA
bundle costs about 24 ms of CPU each time, and health polls alone made hundreds. These share the bot's one
context (`bot.clients.tls`) instead; over loopback's plain HTTP it is never used, but it is never rebuilt.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.clients.tls import tls_context


def get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, verify=tls_context(), **options)


def post(url: str, **options: Any) -> httpx.Response:
    return httpx.post(url, verify=tls_context(), **options)


def client(**options: Any) -> httpx.Client:
    return httpx.Client(verify=tls_context(), **options)
