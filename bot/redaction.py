"""Keeps secrets out of logs, audit rows and Slack messages.

Two layers: `redact_url` strips credential parameters from URLs before anything logs them, and
`SecretRedactor` (a logging filter, also callable on any string) masks, wherever they appear, every
configured secret value and every secret-bearing URL part: Slack response URLs, credentials before a
host's `@`, and credential query parameters — raw, JSON-escaped (`\\/`) or form-encoded (`%2F`), as they
stand in the payloads that Slack's libraries log at DEBUG.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"

# Parameter names that carry credentials in upstream URLs (Media Repository puts them in the query).
_SECRET_PARAMS = frozenset(
    {"apikey", "token", "password", "access_token", "refresh_token", "client_secret", "key", "secret"}
)


# A "/" as it stands in a URL, in a JSON string, in a form body, or in a form-encoded JSON string.
_SLASH = r"(?:/|\\/|%2F|%5C%2F)"
_PATH = rf"(?:{_SLASH}[\w.~-]*)+"
# Right after "//" (in any of those spellings), so "api.example.com" is not matched inside "x-api.example.com".
_AFTER_SCHEME = r"(?:(?<=//)|(?<=\\/\\/)|(?<=%2F%2F)|(?<=%5C%2F%5C%2F))"

# A Slack response URL (and an incoming webhook) lets whoever holds it post into the channel for 30 minutes:
# every path on hooks.slack.com is a credential.
_SLACK_HOOK = re.compile(rf"(?i)(hooks\.slack\.com){_PATH}")
# scheme://user:password@host — the part before "@" is masked whole.
_USERINFO = re.compile(
    r"(?i)([a-z][a-z0-9+.-]*(?::|%3A)(?://|\\/\\/|%2F%2F|%5C%2F%5C%2F))"
    r"(?:(?!%2F|%40|%5C)[^\s/\\?#@&'\"<>])+(?:@|%40)"
)
# Fields that carry a credential wherever they stand: a URL's query, a form body (Slack's legacy
# verification `token` leads every command body), a JSON object; `response_url` whatever its host.
_SECRET_FIELDS = "|".join(sorted(_SECRET_PARAMS | {"api_key", "response_url"}, key=len, reverse=True))
_FORM_SECRET = re.compile(
    rf"(?i)((?:(?<![\w.%-])|(?<=%26)|(?<=%3F))(?:{_SECRET_FIELDS})(?:=|%3D))(?:(?!%26)[^&\s#'\"<>\\])+"
)
# In JSON, and in the repr of a Python dict (single quotes), as libraries log payloads.
_JSON_SECRET = re.compile(
    rf"(?i)((?:[\"']|%22)(?:{_SECRET_FIELDS})(?:[\"']|%22)\s*(?::|%3A)\s*(?:[\"']|%22))(?:(?!%22)[^\"'\s])+"
)


# A Slack token wherever it stands (installable mode learns its tokens at run time, and rotation makes new
# ones): bot, user, app-level and configuration tokens, and rotation's refresh tokens (xoxe-…, xoxe.xoxb-…).
_SLACK_TOKEN = re.compile(r"\bxox[abpres](?:\.xox[abp])?-[A-Za-z0-9-]{4,}")


def credentials_in_url(url: str | None) -> list[str]:
    """The secret values inside a configured URL (userinfo, credential query parameters), raw and decoded,
    for the redactor to mask wherever they turn up alone (an error message that quotes a host part)."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        userinfo = [parts.password, parts.username] if "@" in parts.netloc else []
        values = [*userinfo, *(v for n, v in parse_qsl(parts.query) if n.lower() in _SECRET_PARAMS)]
    except ValueError:
        return []
    return [text for value in values if value for text in {value, unquote(value)}]


def redact_url(url: str) -> str:
    """Return `url` with the values of credential query parameters and any userinfo masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = urlencode(
        [
            (name, MASK if name.lower() in _SECRET_PARAMS else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class SecretRedactor(logging.Filter):
    """Masks known secret values in log records; secrets learned at run time (tokens) can be added."""

    # Shorter values would mask ordinary words; real keys and tokens are far longer.
    _MIN_SECRET_LENGTH = 6

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self._response_hosts: tuple[tuple[re.Pattern[str], str], ...] = ()
        self.add(*secrets)

    def protect_slack_responses(self, slack_api_url: str) -> None:
        """Mask response URLs served by the configured Slack (a gateway, a simulator) like hooks.slack.com's:
        every path on SLACK_API_URL's host except the Web API's own. Its credentials become secrets too."""
        self.add(*credentials_in_url(slack_api_url))
        parts = urlsplit(slack_api_url)
        if not parts.hostname:
            return
        port = rf"(?::|%3A){parts.port}" if parts.port else ""
        pattern = re.compile(
            rf"(?i){_AFTER_SCHEME}((?:[^\s/\\@'\"<>]*(?:@|%40))?{re.escape(parts.hostname)}{port}){_PATH}"
        )
        api_path = parts.path.strip("/").split("/")[0]
        with self._lock:
            if (pattern, api_path) not in self._response_hosts:
                self._response_hosts = (*self._response_hosts, (pattern, api_path))

    def forget(self) -> None:
        """Forget every secret and Slack host learned so far. For a process that builds bot after bot (the
        tests build hundreds): each line is checked against everything learned, so the list would only grow."""
        with self._lock:
            self._secrets = ()
            self._response_hosts = ()

    def add(self, *secrets: str) -> None:
        fresh = {s for s in secrets if s and len(s) >= self._MIN_SECRET_LENGTH}
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            self._secrets = tuple(sorted(set(self._secrets) | fresh, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "xox" in text:
            text = _SLACK_TOKEN.sub(MASK, text)
        if "/" in text or "%2" in text.upper():
            text = _SLACK_HOOK.sub(rf"\1/{MASK}", text)
            for pattern, api_path in self._response_hosts:
                text = pattern.sub(functools.partial(_unless_api, api_path=api_path), text)
            text = _USERINFO.sub(rf"\1{MASK}@", text)
        # Each pattern needs a character most lines lack ("=" or "%3D"; a quote): the common line skips both.
        if "=" in text or "%3" in text:
            text = _FORM_SECRET.sub(rf"\1{MASK}", text)
        if '"' in text or "'" in text or "%22" in text:
            text = _JSON_SECRET.sub(rf"\1{MASK}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self(message)
        if cleaned != message or record.exc_info:
            if record.exc_info:
                # Render the traceback now so its text passes through the redactor too.
                formatter = logging.Formatter()
                cleaned = self(f"{cleaned}\n{formatter.formatException(record.exc_info)}")
                record.exc_info = None
                record.exc_text = None
            record.msg = cleaned
            record.args = None
        return True


def _unless_api(match: re.Match[str], api_path: str) -> str:
    """Keep a Web API URL (`…/api/chat.postMessage`: useful in logs, no secret); mask any other path."""
    path = re.split(_SLASH, match.group(0)[len(match.group(1)) :], flags=re.IGNORECASE)
    if api_path and len(path) > 1 and path[1] == api_path:
        return match.group(0)
    return f"{match.group(1)}/{MASK}"


# One process-wide redactor: clients register tokens they receive at run time.
redactor = SecretRedactor()
