"""Keeps secrets out of logs, audit rows and Slack messages.

Two layers: `redact_url` strips credential parameters from URLs before anything logs them, and
`SecretRedactor` (a logging filter, also callable on any string) replaces every configured secret value
wherever it appears, as a last line of defence.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Parameter names that carry credentials in upstream URLs (Media Repository puts them in the query).
_SECRET_PARAMS = frozenset(
    {"apikey", "token", "password", "access_token", "refresh_token", "client_secret", "key", "secret"}
)


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
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        fresh = {s for s in secrets if s and len(s) >= self._MIN_SECRET_LENGTH}
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            self._secrets = tuple(sorted(set(self._secrets) | fresh, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
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


# One process-wide redactor: clients register tokens they receive at run time.
redactor = SecretRedactor()
