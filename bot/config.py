"""The Config object: every environment variable the bot reads, its default and its validation."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from bot.redaction import credentials_in_url

# `T…:U…` names an admin of one workspace, `E…:W…` of one organisation (an org-wide install).
_USER_ID = re.compile(r"^(?:[TE][A-Z0-9]{2,}:)?[UW][A-Z0-9]{2,}$")
# The variables of installable mode (Slack's OAuth install): all three together, and no SLACK_BOT_TOKEN.
OAUTH_VARIABLES = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_STATE_SECRET")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_SCOPE_ID = re.compile(r"^[TE][A-Z0-9]{2,}$")
_CLOCK_TIME = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")

# One line per variable: what a valid value looks like. Used for start-up errors.
HINTS: dict[str, str] = {
    "SLACK_BOT_TOKEN": "the app's Bot User OAuth Token, e.g. SLACK_BOT_TOKEN=xoxb-…",
    "SLACK_SIGNING_SECRET": "the app's Signing Secret from Basic Information (32 hex characters)",
    "SLACK_APP_TOKEN": "an app-level token with connections:write, e.g. SLACK_APP_TOKEN=xapp-…",
    "SLACK_API_URL": "a URL ending in /api/, e.g. SLACK_API_URL=https://slack.com/api/",
    "DATABASE_PATH": "a file path on a persistent disk, e.g. DATABASE_PATH=/data/recording-bot.db",
    "DATABASE_URL": "a PostgreSQL URL, e.g. DATABASE_URL=postgresql://user:password@host:5432/dbname",
    "BOT_ADMINS": "comma-separated Slack user IDs, e.g. BOT_ADMINS=U012ABCDEF,U034GHIJKL (T…:U… for one workspace, "
    "E…:W… for one organisation)",
    "PORT": "a port number from 1 to 65535, e.g. PORT=3000",
    "MEDIA_REPOSITORY_URL": "the Media Repository base URL, e.g. MEDIA_REPOSITORY_URL=https://recorder.example.com",
    "MEDIA_REPOSITORY_API_KEY": "the API key (a GUID) from the recording system's Administration / API Keys",
    "MEDIA_REPOSITORY_USERNAME": "the API user's name (token authentication); leave unset for key-only mode",
    "MEDIA_REPOSITORY_PASSWORD": "the API user's password; set together with MEDIA_REPOSITORY_USERNAME",
    "MEDIA_REPOSITORY_TIMEOUT_SECONDS": "seconds to wait for the recording system, e.g. 10",
    "DEFAULT_PAUSE_MINUTES": "minutes a pause lasts when no duration is given, e.g. 10",
    "MAX_PAUSE_MINUTES": "the longest pause allowed, in minutes, e.g. 30",
    "APPROVAL_TIMEOUT_MINUTES": "minutes a pause request waits for a decision before it expires, e.g. 10",
    "WEBEX_API_URL": "the Webex API base URL, e.g. WEBEX_API_URL=https://webexapis.com/v1",
    "WEBEX_ACCESS_TOKEN": "a Webex token with spark-admin:telephony_config_read",
    "WEBEX_ORG_ID": "the Webex organization ID (partner admins only)",
    "WEBEX_TIMEOUT_SECONDS": "seconds to wait for Webex, e.g. 10",
    "WEBEX_REFRESH_TOKEN": "the integration's refresh token; set with WEBEX_CLIENT_ID and WEBEX_CLIENT_SECRET",
    "WEBEX_CLIENT_ID": "the Webex integration's client ID",
    "WEBEX_CLIENT_SECRET": "the Webex integration's client secret",
    "SLACK_CLIENT_ID": "the app's Client ID from Basic Information, e.g. SLACK_CLIENT_ID=1234567890.1234567890",
    "SLACK_CLIENT_SECRET": "the app's Client Secret from Basic Information",
    "SLACK_STATE_SECRET": "a long random string that signs the install links' state, e.g. from `openssl rand -hex 32`",
    "SLACK_OAUTH_AUTHORIZE_URL": "Slack's authorize page, e.g. SLACK_OAUTH_AUTHORIZE_URL=https://slack.com/oauth/v2/authorize",
    "TOKEN_ENCRYPTION_KEY": (
        "a Fernet key that encrypts the installations' tokens in the database; make one with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
    ),
    "LOG_LEVEL": "one of DEBUG, INFO, WARNING, ERROR",
    "LOG_FORMAT": "text or json",
    "METRICS_TOKEN": "a long random string a Prometheus scraper sends as `Authorization: Bearer …`",
    "DIGEST_CHANNEL": "the channel ID the daily compliance digest is posted in, e.g. DIGEST_CHANNEL=C012ABCDEF "
    "(installable mode: one per installation too, e.g. DIGEST_CHANNEL=C012ABCDEF,T0ALPHA:C0ALPHA)",
    "DIGEST_TIME": "the local time of the daily digest, as HH:MM on a 24-hour clock, e.g. DIGEST_TIME=08:00",
    "DIGEST_TIMEZONE": "an IANA time zone name for DIGEST_TIME, e.g. DIGEST_TIMEZONE=Europe/Berlin (default UTC)",
}


def postgres_url_problem(url: str) -> str | None:
    """What makes `url` no PostgreSQL URL the bot can use, in words that never repeat it; None when it is one."""
    if not url.startswith(("postgres://", "postgresql://")):
        return "must start with postgres:// or postgresql://"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port out of range or not a number
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if port == 0:
        return "its port is not a number from 1 to 65535"
    if not parts.hostname and "host=" not in url:
        return "names no host"
    return None


class ConfigurationError(Exception):
    """Settings are missing or malformed: `problems` holds one line per problem, each naming its variable."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems) or ["the configuration is invalid"]


class Config(BaseSettings):
    """Configuration read from the environment (and a local `.env` file, if present)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_state_secret: SecretStr | None = None
    slack_oauth_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    token_encryption_key: SecretStr | None = None

    database_path: Path = Path("recording-bot.db")
    database_url: SecretStr | None = None
    # How long a write waits for another connection's lock on the SQLite file before it is told "busy".
    sqlite_busy_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    bot_admins: Annotated[tuple[str, ...], NoDecode] = ()
    port: int = Field(default=3000, ge=1, le=65535)

    media_repository_url: str | None = None
    media_repository_api_key: SecretStr | None = None
    media_repository_username: str | None = None
    media_repository_password: SecretStr | None = None
    media_repository_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    default_pause_minutes: float = Field(default=10, gt=0)
    max_pause_minutes: float = Field(default=30, gt=0, le=24 * 60)
    approval_timeout_minutes: float = Field(default=10, gt=0, le=24 * 60)

    webex_api_url: str = "https://webexapis.com/v1"
    webex_access_token: SecretStr | None = None
    webex_org_id: str | None = None
    webex_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webex_refresh_token: SecretStr | None = None
    webex_client_id: str | None = None
    webex_client_secret: SecretStr | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # /metrics needs `Authorization: Bearer <this>`; unset, it answers only on loopback.
    metrics_token: SecretStr | None = None

    digest_channel: str | None = None
    digest_time: str = "08:00"
    digest_timezone: str = "UTC"

    @field_validator("bot_admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> tuple[str, ...]:
        if value is None or value == "":
            return ()
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        admins = tuple(str(item).strip() for item in items if str(item).strip())
        for admin in admins:
            if not _USER_ID.match(admin):
                raise ValueError(f"{admin!r} is not a Slack user ID")
        return admins

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_ends_with_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_oauth_authorize_url")
    @classmethod
    def _authorize_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("media_repository_url", "webex_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        problem = postgres_url_problem(url)
        if problem:
            raise ValueError(problem)
        return SecretStr(url)

    @field_validator("digest_channel", mode="before")
    @classmethod
    def _digest_channel(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        entries = [entry.strip() for entry in str(value).split(",") if entry.strip()]
        for entry in entries:
            scope, _, channel = entry.rpartition(":")
            # A channel ID (C…, G… private), not a name: Slack's Web API wants the ID, and names change.
            if not _CHANNEL_ID.match(channel):
                which = f"{entry!r} is " if len(entries) > 1 or scope else ""
                raise ValueError(f"{which}not a Slack channel ID (it starts with C or G; a #name does not work)")
            # Installable mode: `T…:C…` (a workspace) or `E…:C…` (an org-wide install) names one installation's.
            if scope and not _SCOPE_ID.match(scope):
                raise ValueError(f"{entry!r}: before the colon goes a workspace (T…) or organisation (E…) ID")
        return ",".join(entries) or None

    @field_validator("digest_time", mode="before")
    @classmethod
    def _digest_time(cls, value: object) -> object:
        text = str(value).strip()
        match = _CLOCK_TIME.match(text)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError("not a time of day as HH:MM")
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("digest_timezone", mode="before")
    @classmethod
    def _digest_timezone(cls, value: object) -> object:
        text = str(value).strip() or "UTC"
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone name this machine knows") from None
        return text

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    # -- checks per mode of running ----------------------------------------------------------------

    def require_slack(self, *, socket_mode: bool = False) -> None:
        """Raise ConfigurationError unless the Slack credentials this mode needs are present and well-formed."""
        _raise_if_any(self.slack_problems(socket_mode=socket_mode))

    def require_consistent_credentials(self) -> None:
        """Credentials that only work together must be set together; one database, not two."""
        _raise_if_any(self.consistency_problems())

    def admins_for(self, team_id: str) -> tuple[str, ...]:
        """BOT_ADMINS of one workspace: the plain user IDs, and the `T…:U…` entries of that workspace."""
        admins = []
        for entry in self.bot_admins:
            team, _, user = entry.rpartition(":")
            if not team or team == team_id:
                admins.append(user)
        return tuple(admins)

    def digest_channel_for(self, scope: str) -> str | None:
        """Where the digest of one installation (a workspace, or an organisation's org-wide install) goes: its
        own `T…:C…` / `E…:C…` entry of DIGEST_CHANNEL, else the plain channel ID that applies to every one."""
        plain = None
        for entry in (self.digest_channel or "").split(","):
            owner, _, channel = entry.rpartition(":")
            if owner == scope and owner:
                return channel
            if not owner and plain is None:
                plain = channel or None
        return plain

    @property
    def oauth_set(self) -> list[str]:
        """The OAuth variables that are set (installable mode needs all three)."""
        return [name for name in OAUTH_VARIABLES if _is_set(getattr(self, name.lower()))]

    @property
    def installable(self) -> bool:
        """Installable mode: the app is installed through Slack's OAuth flow into one or more workspaces, and
        each installation's token lives in the database (SLACK_CLIENT_ID, _SECRET and SLACK_STATE_SECRET set)."""
        return bool(self.oauth_set) and not _is_set(self.slack_bot_token)

    @property
    def mode(self) -> str:
        """Which mode the bot runs in, in words for `check` and /healthz."""
        return "installable" if self.installable else "single-workspace"

    def installable_problems(self) -> list[str]:
        """What installable mode still needs: the three OAuth variables and a usable TOKEN_ENCRYPTION_KEY."""
        problems = [_missing(name) for name in OAUTH_VARIABLES if name not in self.oauth_set]
        key = self.token_encryption_key.get_secret_value().strip() if self.token_encryption_key else ""
        if not key:
            problems.append(
                "TOKEN_ENCRYPTION_KEY is not set: installable mode keeps tokens encrypted; "
                + HINTS["TOKEN_ENCRYPTION_KEY"]
            )
        elif not _is_fernet_key(key):
            problems.append(f"TOKEN_ENCRYPTION_KEY is not a Fernet key (32 bytes, URL-safe base64): make one with "
                            f"{HINTS['TOKEN_ENCRYPTION_KEY'].split('make one with ', 1)[1]}")  # fmt: skip
        return problems

    def slack_problems(self, *, socket_mode: bool = False) -> list[str]:
        """Every missing or malformed Slack credential this mode needs, and pause limits that contradict."""
        if self.oauth_set and _is_set(self.slack_bot_token):
            problems = [
                f"SLACK_BOT_TOKEN and {', '.join(self.oauth_set)} are both set: keep SLACK_BOT_TOKEN for one "
                f"workspace, or {' / '.join(OAUTH_VARIABLES)} (installable mode) for installs through Slack, "
                "and unset the other"
            ]
        elif self.installable:
            problems = self.installable_problems()
        else:
            problems = [_prefix_problem("SLACK_BOT_TOKEN", self.slack_bot_token, "xoxb-")]
        signing_secret = self.slack_signing_secret.get_secret_value().strip() if self.slack_signing_secret else ""
        if not signing_secret and not socket_mode:
            problems.append(_missing("SLACK_SIGNING_SECRET"))
        if socket_mode:
            problems.append(_prefix_problem("SLACK_APP_TOKEN", self.slack_app_token, "xapp-"))
        if self.max_pause_minutes * 60 < 10:
            problems.append(f"MAX_PAUSE_MINUTES is too small: {HINTS['MAX_PAUSE_MINUTES']}")
        if self.default_pause_minutes > self.max_pause_minutes:
            problems.append(
                f"DEFAULT_PAUSE_MINUTES is larger than MAX_PAUSE_MINUTES: set it to at most {self.max_pause_minutes:g}"
            )
        return [problem for problem in problems if problem]

    @property
    def two_databases(self) -> bool:
        """DATABASE_URL and DATABASE_PATH both set: which database is meant cannot be known."""
        return self.database_url is not None and "database_path" in self.model_fields_set

    def consistency_problems(self) -> list[str]:
        """Every pair of settings that only works together but is set by half, and two databases at once."""
        problems = []
        if self.two_databases:
            problems.append(
                "DATABASE_URL and DATABASE_PATH are both set: keep DATABASE_URL for PostgreSQL, or "
                "DATABASE_PATH for SQLite, and unset the other"
            )
        if bool(self.media_repository_username) != bool(self.media_repository_password):
            missing = "MEDIA_REPOSITORY_PASSWORD" if self.media_repository_username else "MEDIA_REPOSITORY_USERNAME"
            problems.append(
                f"{missing} is not set: MEDIA_REPOSITORY_USERNAME and MEDIA_REPOSITORY_PASSWORD go together "
                "(leave both unset for key-only mode)"
            )
        if bool(self.media_repository_url) != bool(self.media_repository_api_key):
            missing = "MEDIA_REPOSITORY_API_KEY" if self.media_repository_url else "MEDIA_REPOSITORY_URL"
            problems.append(_missing(missing))
        digest_channel = self.digest_channel or ""
        if ("," in digest_channel or ":" in digest_channel) and not self.installable:
            problems.append(
                    "DIGEST_CHANNEL names several channels or one per installation (T…:C…), which only installable "
                    "mode reads: with SLACK_BOT_TOKEN give the one channel ID, e.g. DIGEST_CHANNEL=C012ABCDEF"
                )
        if self.webex_refresh_token and not (self.webex_client_id and self.webex_client_secret):
            for missing in ("WEBEX_CLIENT_ID", "WEBEX_CLIENT_SECRET"):
                if not getattr(self, missing.lower()):
                    problems.append(f"{missing} is not set: WEBEX_REFRESH_TOKEN needs {HINTS[missing][4:]} too")
        return problems

    @property
    def media_repository_configured(self) -> bool:
        return bool(self.media_repository_url and self.media_repository_api_key)

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def webex_configured(self) -> bool:
        return self.webex_access_token is not None or self.webex_refresh_token is not None

    def secret_values(self) -> list[str]:
        """Every configured secret, so the log redactor can mask them wherever they appear."""
        secrets = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.media_repository_api_key,
            self.media_repository_password,
            self.webex_access_token,
            self.webex_refresh_token,
            self.webex_client_secret,
            self.database_url,
            self.slack_client_secret,
            self.slack_state_secret,
            self.token_encryption_key,
            self.metrics_token,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        if self.database_url is not None:
            password = urlsplit(self.database_url.get_secret_value()).password
            if password:
                values += [password, unquote(password)]
        # Credentials written into a URL setting (https://user:password@gateway/…) are secrets as well.
        for url in (self.slack_api_url, self.media_repository_url, self.webex_api_url):
            values += credentials_in_url(url)
        return values


class _GivenValuesOnly(Config):
    """A Config built from its arguments alone: no environment variable and no `.env` file is read."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def config_from(**values: Any) -> Config:
    """A Config of these values and the defaults, whatever the environment says (the demo's own world)."""
    return _GivenValuesOnly(**values)


def _plain_reason(kind: str, ctx: dict[str, Any]) -> str:
    """pydantic's reasons in fewer words ("not a number" rather than "Input should be a valid number, …")."""
    bounds = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than",
              "less_than_equal": "at most"}  # fmt: skip
    if kind in ("int_parsing", "int_from_float"):
        return "not a whole number"
    if kind == "float_parsing":
        return "not a number"
    if kind == "literal_error":
        return "not one of the allowed values"
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        shown = f"{limit:g}" if isinstance(limit, int | float) else str(limit)
        return f"must be {bounds[kind]} {shown}"
    return ""


def _is_set(value: str | SecretStr | None) -> bool:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return bool(text and text.strip())


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


def _missing(name: str) -> str:
    return f"{name} is not set: {HINTS[name]}"


def _prefix_problem(name: str, value: SecretStr | None, prefix: str) -> str:
    """The problem with a token that must start with `prefix`, or "" when there is none."""
    if value is None or not value.get_secret_value().strip():
        return _missing(name)
    if not value.get_secret_value().startswith(prefix):
        return f"{name} does not start with {prefix!r}: {HINTS[name]}"
    return ""


def _raise_if_any(problems: list[str]) -> None:
    if problems:
        raise ConfigurationError(*problems)


SlackMode = Literal["http", "socket"]


def load_config(
    *, slack: SlackMode | None = None, consistent: bool = True, all_or_none: SlackMode | None = None
) -> Config:
    """Read Config from the environment; every problem found goes into one ConfigurationError.

    Malformed values always count; with `slack`, so do the Slack credentials that mode needs; with
    `consistent`, settings set by half. A variable already reported as malformed is not reported again.
    With `all_or_none` (`check`, which reports missing and half-set variables itself): when a value is
    malformed or two databases are set, so that the checks cannot run, every problem of that Slack mode
    is raised at once; otherwise none but those.
    """
    config, problems = _read_environment()
    malformed = {problem.split(" ", 1)[0] for problem in problems}
    later = config.slack_problems(socket_mode=slack == "socket") if slack else []
    if consistent:
        later += config.consistency_problems()
    if all_or_none and (problems or config.two_databases):
        later = config.slack_problems(socket_mode=all_or_none == "socket") + config.consistency_problems()
    # A malformed variable was replaced by its default to get this far: what follows from that is not news.
    problems += [problem for problem in later if not malformed & set(re.findall(r"\b[A-Z][A-Z_]+[A-Z]\b", problem))]
    _raise_if_any(problems)
    return config


def _read_environment() -> tuple[Config, list[str]]:
    """The Config, and one line per malformed variable (each replaced by its default so the rest can be checked)."""
    try:
        return Config(), []
    except ValidationError as error:
        problems: dict[str, str] = {}
        for item in error.errors():
            field = str(item["loc"][0]) if item["loc"] else ""
            name = field.upper() or "configuration"
            # Never echo the offending value: it may be a secret.
            reason = _plain_reason(item["type"], item.get("ctx") or {}) or item["msg"].removeprefix("Value error, ")
            hint = HINTS.get(name, "")
            problems.setdefault(field, f"{name} is invalid ({reason}): {hint}".rstrip(": "))
    defaults = {field: Config.model_fields[field].default for field in problems if field in Config.model_fields}
    try:
        return Config(**defaults), list(problems.values())
    except ValidationError:
        raise ConfigurationError(*problems.values()) from None
