"""`/recording set`'s `<setting>=<value>` words: which settings exist, what each accepts, and the precise
answer (with the list of what is accepted) to anything else."""

from __future__ import annotations

from bot.commands.types import ParseError
from bot.models.changes import (
    MAX_REPEAT_SECONDS,
    MIN_REPEAT_SECONDS,
    MODE_WORDS,
    NOTIFICATION_WORDS,
    ON_OFF,
    SETTINGS,
)
from bot.words import closest_word, plain_text

SUBCOMMAND = "set"


def is_setting_word(word: str) -> bool:
    """A word that is meant as `<setting>=<value>` (the words before the reason)."""
    name, equals, _value = plain_text(word).partition("=")
    return bool(equals) and bool(name.strip())


def accepted() -> str:
    """Every setting and what it accepts, for an answer to a mistake."""
    return " · ".join(f"`{name}={values}`" for name, values in SETTINGS.items())


def read_setting(word: str) -> tuple[str, str]:
    """(name, value) in the command's words, or a ParseError naming what is accepted."""
    name, _equals, value = plain_text(word).strip().partition("=")
    name, value = name.strip().lower(), value.strip().lower()
    if name not in SETTINGS:
        near = closest_word(name, SETTINGS)
        hint = f" Did you mean `{near}`?" if near else ""
        raise ParseError(
            f"`{_quote(name)}` is not a setting.{hint} The settings are: {accepted()}.", subcommand=SUBCOMMAND
        )
    if name == "mode":
        allowed: tuple[str, ...] = tuple(MODE_WORDS)
    elif name == "notification":
        allowed = tuple(NOTIFICATION_WORDS)
    elif name == "repeat-beep":
        return name, _repeat(value)
    else:
        allowed = ON_OFF
    if value not in allowed:
        raise ParseError(
            f"`{name}` takes {' or '.join(f'`{a}`' for a in allowed)}, not `{_quote(value)}`.", subcommand=SUBCOMMAND
        )
    return name, value


def _repeat(value: str) -> str:
    if value == "off":
        return value
    digits = value.removesuffix("s")
    if digits.isascii() and digits.isdigit() and MIN_REPEAT_SECONDS <= int(digits[:6]) <= MAX_REPEAT_SECONDS:
        return f"{int(digits)}s"
    raise ParseError(
        f"`repeat-beep` takes `off` or a number of seconds from {MIN_REPEAT_SECONDS} to {MAX_REPEAT_SECONDS} "
        f"like `30s`, not `{_quote(value)}`.",
        subcommand=SUBCOMMAND,
    )


def read_settings(words: list[str]) -> tuple[tuple[str, str], ...]:
    """Every `<setting>=<value>` word, each setting at most once."""
    found: dict[str, str] = {}
    for word in words:
        name, value = read_setting(word)
        if name in found and found[name] != value:
            raise ParseError(
                f"`{name}` is given twice ({found[name]} and {value}); give it once.", subcommand=SUBCOMMAND
            )
        found[name] = value
    if "notification" in found and "notification-to" in found:
        raise ParseError(
            "Give `notification=` or `notification-to=`, not both: `notification=none` turns it off, "
            "`notification=beep` or `announcement` turns it on with that sound.",
            subcommand=SUBCOMMAND,
        )
    return tuple(found.items())


def _quote(word: str) -> str:
    word = word.replace("`", "'")
    return word if len(word) <= 40 else word[:39] + "…"
