"""Credentials the bot renews itself and keeps across restarts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class WebexTokens:
    """A Webex access token with the refresh token that renews it; `expires_at` is in UTC."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
