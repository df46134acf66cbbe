"""Tokens encrypted at rest: Fernet (AES-128-CBC with an HMAC-SHA256, from `cryptography`) keyed by
TOKEN_ENCRYPTION_KEY, so a copy of the database file or a dump holds no usable Slack token."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class TokenUnreadable(Exception):
    """A stored token does not decrypt with this key: TOKEN_ENCRYPTION_KEY is not the one it was written with."""


class TokenCipher:
    def __init__(self, key: str) -> None:
        # Loaded here, in installable mode only: a bot with SLACK_BOT_TOKEN keeps its ~8 MB.
        from cryptography.fernet import Fernet

        self._fernet: Fernet = Fernet(key.encode())

    def encrypt(self, value: str | None) -> str | None:
        return None if value is None else self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            raise TokenUnreadable(
                "a stored Slack token cannot be decrypted: TOKEN_ENCRYPTION_KEY differs from the key it was "
                "stored with (set the old key again, or reinstall the app)"
            ) from None
