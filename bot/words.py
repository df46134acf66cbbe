"""Words every layer shares: durations as typed and as said, text as Slack sends it made plain, byte sizes.

Pure functions of the standard library only, so the parser, the messages, the clients and the command line
all say a duration or a size the same way.
"""

from __future__ import annotations

import difflib
import html
import re
import unicodedata
from collections.abc import Iterable

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_UNIT_WORDS = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
}  # fmt: skip
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_SLACK_ENTITY = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")


def clean_input(text: str) -> str:
    """Drop control and invisible characters so they cannot hide in stored text or messages."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in text
        if unicodedata.category(ch) not in ("Cf", "Cs", "Co", "Cn")
    )


def plain_text(slack_text: str) -> str:
    """Turn Slack-escaped text into plain text: mentions become @name, entities are decoded.

    The result is stored as the user's words; every renderer escapes it again, so a reason can
    never ping a channel or become a link.
    """

    def entity(match: re.Match[str]) -> str:
        sigil, body, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return f"@{label or body}"
        if sigil == "#":
            return f"#{label or body}"
        if sigil == "!":
            return f"@{(label or body).split('^')[0]}"
        return label or body

    # Cleaned again after decoding, so `&#x202e;` cannot bring back what clean_input removed.
    return clean_input(html.unescape(_SLACK_ENTITY.sub(entity, slack_text)))


def closest_word(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely mistypes (`paus` → `pause`), or None when none is close enough."""
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def duration_seconds(word: str) -> int | None:
    """`90s`, `5m`, `1h`, `1h30m`, `10min`, `2 hours`-style words → seconds; None if unreadable."""
    word = word.strip().lower()
    if word.startswith("-") or word.startswith("+"):
        return 0 if word.startswith("-") else duration_seconds(word[1:])
    number = re.fullmatch(r"(\d{1,6})([a-z]+)", word)
    if number and number.group(2) in _UNIT_WORDS:
        return int(number.group(1)) * _UNIT_SECONDS[_UNIT_WORDS[number.group(2)]]
    compound = _DURATION.fullmatch(word)
    if compound and any(compound.groupdict().values()) and len(word) <= 12:
        parts = compound.groupdict()
        return int(parts["h"] or 0) * 3600 + int(parts["m"] or 0) * 60 + int(parts["s"] or 0)
    return None


def format_duration(seconds: float) -> str:
    """Seconds in words, the one way every message says a duration: `30 seconds`, `1 minute`,
    `1 hour 30 minutes` (fractions of a second are dropped)."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [_counted(hours, "hour"), _counted(minutes, "minute"), _counted(secs, "second")]
    return " ".join(p for p in parts if p) or "0 seconds"


def typed_duration(seconds: int) -> str:
    """Seconds as someone would type them: `45s`, `5m`, `1h30m` (what `duration_seconds` reads back)."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    typed = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return typed or "0s"


def _counted(number: int, unit: str) -> str:
    if not number:
        return ""
    return f"{number} {unit}" + ("" if number == 1 else "s")


def size_text(limit: int) -> str:
    """A byte count in words, for the limits that messages and log lines name: `1 MB`, `16 KB`."""
    mib = 1024 * 1024
    return f"{limit // mib} MB" if limit % mib == 0 else f"{limit // 1024} KB"
