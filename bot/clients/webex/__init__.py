"""Webex Calling admin API client: virtual lines and their call-recording settings (read-only).

client.py     WebexClient, the public face: lookups, settings, caches
lines.py      finding a line from what a person typed
tokens.py     the access token, its renewal and where renewed tokens are kept
transport.py  HTTP: retries, and every answer turned into JSON or an UpstreamError
"""

from bot.clients.webex.client import (
    DEFAULT_BASE_URL,
    READ_SCOPES,
    SCOPE_PEOPLE_READ,
    SCOPE_TELEPHONY_READ,
    SCOPE_WORKSPACES_READ,
    WebexClient,
)
from bot.clients.webex.tokens import InMemoryWebexTokenStore, WebexRefreshCredentials, WebexTokenStore
from bot.clients.webex.transport import SYSTEM_NAME

__all__ = [
    "DEFAULT_BASE_URL",
    "READ_SCOPES",
    "SCOPE_PEOPLE_READ",
    "SCOPE_TELEPHONY_READ",
    "SCOPE_WORKSPACES_READ",
    "SYSTEM_NAME",
    "InMemoryWebexTokenStore",
    "WebexClient",
    "WebexRefreshCredentials",
    "WebexTokenStore",
]
