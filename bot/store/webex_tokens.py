"""The webex_tokens table: the newest Webex access/refresh tokens, so a restarted bot keeps working."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import WebexTokens
from bot.store.database import Database

# One row: the bot holds one Webex identity at a time.
_ROW_ID = 1


class DatabaseWebexTokenStore:
    """Implements the Webex client's token store on the bot's database."""

    def __init__(self, *, database: Database) -> None:
        self._database = database

    def load(self) -> WebexTokens | None:
        row = self._database.one(
            "SELECT access_token, refresh_token, expires_at FROM webex_tokens WHERE id = ?", [_ROW_ID]
        )
        if not row:
            return None
        return WebexTokens(
            access_token=row["access_token"],
            refresh_token=row["refresh_token"],
            expires_at=datetime.fromisoformat(row["expires_at"]),
        )

    def save(self, tokens: WebexTokens) -> None:
        self._database.run(
            "INSERT INTO webex_tokens (id, access_token, refresh_token, expires_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET access_token = excluded.access_token, "
            "refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, "
            "updated_at = excluded.updated_at",
            [
                _ROW_ID,
                tokens.access_token,
                tokens.refresh_token,
                tokens.expires_at.astimezone(UTC).isoformat(),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ],
        )
