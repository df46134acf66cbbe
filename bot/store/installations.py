"""The slack_installations and oauth_states tables: installed workspaces' tokens (encrypted) and the install
links' one-time states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.models.installations import SlackInstallation
from bot.store.database import Database, Row, moment_text
from bot.store.encryption import TokenCipher

_COLUMNS = (
    "enterprise_id, team_id, is_enterprise_install, app_id, bot_id, bot_user_id, bot_scopes, bot_token, "
    "bot_refresh_token, bot_token_expires_at, team_name, enterprise_name, installer_user_id, installed_at, "
    "last_used_at, uninstalled_at"
)


@dataclass(frozen=True)
class InstallationRecord:
    """An installation as listed: its tokens stay encrypted (or gone, after an uninstall)."""

    installation: SlackInstallation
    uninstalled_at: datetime | None


class InstallationStore:
    """Installations keyed by (enterprise_id, team_id), "" for a part that does not apply. Tokens are written
    encrypted and read decrypted; a row outlives its tokens (uninstalled), for `recording-bot installations`."""

    def __init__(self, *, database: Database, cipher: TokenCipher | None) -> None:
        self._database = database
        self._cipher = cipher

    def save(self, installation: SlackInstallation, *, now: datetime) -> None:
        """Store a new installation or a reinstall (new token, new installer)."""
        cipher = self._require_cipher()
        i = installation
        self._database.run(
            f"INSERT INTO slack_installations ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (enterprise_id, team_id) DO UPDATE SET "
            "is_enterprise_install = excluded.is_enterprise_install, "
            "app_id = excluded.app_id, bot_id = excluded.bot_id, bot_user_id = excluded.bot_user_id, "
            "bot_scopes = excluded.bot_scopes, bot_token = excluded.bot_token, "
            "bot_refresh_token = excluded.bot_refresh_token, bot_token_expires_at = excluded.bot_token_expires_at, "
            "team_name = excluded.team_name, enterprise_name = excluded.enterprise_name, "
            "installer_user_id = excluded.installer_user_id, installed_at = excluded.installed_at, "
            "uninstalled_at = NULL",
            [
                i.enterprise_id, i.team_id, int(i.is_enterprise_install), i.app_id, i.bot_id, i.bot_user_id,
                i.bot_scopes, cipher.encrypt(i.bot_token), cipher.encrypt(i.bot_refresh_token),
                i.bot_token_expires_at, i.team_name, i.enterprise_name, i.installer_user_id,
                moment_text(i.installed_at or now), None, None,
            ],
        )  # fmt: skip

    def save_tokens(
        self, enterprise_id: str, team_id: str, *, bot_token: str, refresh_token: str | None, expires_at: int | None
    ) -> bool:
        """After a token rotation: the new token pair, for an installation still installed."""
        cipher = self._require_cipher()
        changed = self._database.run(
            "UPDATE slack_installations SET bot_token = ?, bot_refresh_token = ?, bot_token_expires_at = ? "
            "WHERE enterprise_id = ? AND team_id = ? AND uninstalled_at IS NULL",
            [cipher.encrypt(bot_token), cipher.encrypt(refresh_token), expires_at, enterprise_id, team_id],
        )
        return changed > 0

    def find(self, enterprise_id: str, team_id: str) -> SlackInstallation | None:
        """The installation serving this workspace, tokens decrypted; None if there is none with a token.
        A workspace of an organisation without its own installation is served by the org-wide one."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM slack_installations WHERE enterprise_id = ? AND team_id IN (?, '') "
            "AND bot_token IS NOT NULL",
            [enterprise_id, team_id],
        )
        if not rows and not enterprise_id and team_id:
            # A request names its workspace; its enterprise may be unknown to the caller (a stored request).
            rows = self._database.all(
                f"SELECT {_COLUMNS} FROM slack_installations WHERE team_id = ? AND bot_token IS NOT NULL", [team_id]
            )
        if not rows:
            return None
        own = [row for row in rows if row["team_id"] == team_id] or rows
        return self._installation(own[0], decrypt=True)

    def remove_tokens(self, enterprise_id: str, team_id: str, *, now: datetime) -> SlackInstallation | None:
        """Uninstalled, or its tokens revoked: forget the tokens at once; the row stays, marked. The
        installation as it was (without tokens), or None if there was none with tokens."""
        row = self._database.one(
            "UPDATE slack_installations SET bot_token = NULL, bot_refresh_token = NULL, bot_token_expires_at = NULL, "
            "uninstalled_at = ? WHERE enterprise_id = ? AND team_id = ? AND bot_token IS NOT NULL "
            f"RETURNING {_COLUMNS}",
            [moment_text(now), enterprise_id, team_id],
        )
        return self._installation(row, decrypt=False) if row else None

    def used(self, enterprise_id: str, team_id: str, *, now: datetime) -> None:
        self._database.run(
            "UPDATE slack_installations SET last_used_at = ? WHERE enterprise_id = ? AND team_id = ?",
            [moment_text(now), enterprise_id, team_id],
        )

    def records(self) -> list[InstallationRecord]:
        """Every installation, tokens left out (they stay encrypted): for listings."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM slack_installations ORDER BY installed_at, enterprise_id, team_id"
        )
        return [
            InstallationRecord(self._installation(row, decrypt=False), _moment(row["uninstalled_at"])) for row in rows
        ]

    def installed(self) -> list[SlackInstallation]:
        """Every installation that has a token, decrypted (for `check`'s auth.test)."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM slack_installations WHERE bot_token IS NOT NULL ORDER BY enterprise_id, team_id"
        )
        return [self._installation(row, decrypt=True) for row in rows]

    def _require_cipher(self) -> TokenCipher:
        if self._cipher is None:
            raise RuntimeError("installations need TOKEN_ENCRYPTION_KEY")
        return self._cipher

    def _installation(self, row: Row, *, decrypt: bool) -> SlackInstallation:
        cipher = self._require_cipher() if decrypt else None
        expires = row["bot_token_expires_at"]
        return SlackInstallation(
            enterprise_id=row["enterprise_id"],
            team_id=row["team_id"],
            is_enterprise_install=bool(row["is_enterprise_install"]),
            bot_token=cipher.decrypt(row["bot_token"]) if cipher else None,
            bot_refresh_token=cipher.decrypt(row["bot_refresh_token"]) if cipher else None,
            bot_token_expires_at=int(expires) if expires is not None else None,
            app_id=row["app_id"],
            bot_id=row["bot_id"],
            bot_user_id=row["bot_user_id"],
            bot_scopes=row["bot_scopes"] or "",
            team_name=row["team_name"],
            enterprise_name=row["enterprise_name"],
            installer_user_id=row["installer_user_id"],
            installed_at=_moment(row["installed_at"]),
            last_used_at=_moment(row["last_used_at"]),
        )


class OAuthStates:
    """The install links' states: each issued once, consumed once, before it expires."""

    def __init__(self, *, database: Database) -> None:
        self._database = database

    def issue(self, state: str, *, expires_at: datetime, now: datetime) -> None:
        with self._database.transaction() as tx:
            tx.run("DELETE FROM oauth_states WHERE expires_at <= ?", [moment_text(now)])
            tx.run("INSERT INTO oauth_states (state, expires_at) VALUES (?, ?)", [state, moment_text(expires_at)])

    def consume(self, state: str, *, now: datetime) -> bool:
        """Whether the state was issued, not yet used and not expired; it cannot be used again either way."""
        row = self._database.one("DELETE FROM oauth_states WHERE state = ? RETURNING expires_at", [state])
        return row is not None and str(row["expires_at"]) > moment_text(now)


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None
