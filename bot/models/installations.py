"""An installation of the app through Slack's OAuth install: one workspace's (or organisation's) bot token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SlackInstallation:
    """One installation, keyed by (enterprise_id, team_id); an org-wide install has team_id "".

    Tokens are plain here and only here: the store encrypts them on the way in and decrypts them on the way
    out. `bot_token_expires_at` is a Unix time (Slack's token rotation), None for tokens that never expire."""

    enterprise_id: str
    team_id: str
    is_enterprise_install: bool
    bot_token: str | None = field(repr=False)
    bot_refresh_token: str | None = field(default=None, repr=False)
    bot_token_expires_at: int | None = None
    app_id: str | None = None
    bot_id: str | None = None
    bot_user_id: str | None = None
    bot_scopes: str = ""
    team_name: str | None = None
    enterprise_name: str | None = None
    installer_user_id: str | None = None
    installed_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def key(self) -> str:
        """The workspace (or, org-wide, the organisation) whose allow-list, groups and audit this serves."""
        return self.team_id or self.enterprise_id

    @property
    def name(self) -> str:
        """The workspace's or organisation's name as Slack gave it, or its ID."""
        if self.is_enterprise_install or not self.team_id:
            return self.enterprise_name or self.enterprise_id
        return self.team_name or self.team_id

    @property
    def has_token(self) -> bool:
        return bool(self.bot_token)

    def expired(self, now: float) -> bool:
        return self.bot_token_expires_at is not None and self.bot_token_expires_at <= now
