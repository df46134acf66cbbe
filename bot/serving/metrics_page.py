"""Who may read /metrics: with METRICS_TOKEN set, whoever sends `Authorization: Bearer <it>`; without it,
only a scraper on this machine (a loopback peer that no proxy forwarded).

No library here (the HTTP front loads this): the page itself is made in the bot's process (bot/metrics/).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass

METRICS_PATH = "/metrics"

# (content type, body) of the page; raises BotUnavailable when the bot's process cannot make it.
RenderMetrics = Callable[[], tuple[str, bytes]]
# Headers a proxy adds to a request it passes on: the peer is then the proxy, not who is asking.
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


@dataclass(frozen=True)
class MetricsRefusal:
    status: int
    error: str
    headers: tuple[tuple[str, str], ...] = ()


_NO_TOKEN = MetricsRefusal(401, "unauthorized", (("WWW-Authenticate", 'Bearer realm="metrics"'),))
_NOT_LOCAL = MetricsRefusal(
    403, "/metrics answers only on this machine while METRICS_TOKEN is not set; set it to scrape from elsewhere"
)


@dataclass(frozen=True)
class MetricsPage:
    """The page, and the rule for reading it (`token`: METRICS_TOKEN, empty when not set)."""

    render: RenderMetrics
    token: str = ""

    def refusal(self, headers: Mapping[str, str], peer: str) -> MetricsRefusal | None:
        """Why this request may not read the page (None: it may). `headers` lower-cased, `peer` the address."""
        if self.token:
            given = headers.get("authorization", "")
            scheme, _, credentials = given.partition(" ")
            expected = self.token.encode()
            # Compared in constant time, and the same answer for a missing, malformed or wrong token.
            if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), expected):
                return _NO_TOKEN
            return None
        if not _is_loopback(peer) or any(name in headers for name in _FORWARDING_HEADERS):
            return _NOT_LOCAL
        return None


def _is_loopback(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer.strip("[]")).is_loopback
    except ValueError:
        return False  # a Unix socket's peer, or nothing: not known to be this machine
