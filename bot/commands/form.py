"""The pause form's answers, read by the same rules (and in the same words) as `/recording pause`."""

from __future__ import annotations

from bot.commands.parser import parse_duration, parse_reason, parse_target
from bot.commands.types import ParseError
from bot.models import Channels, PauseAsk, PauseLimits, RecordingTarget
from bot.words import clean_input


class FormErrors(Exception):
    """Answers in the pause form that cannot be used: input block ID → what was wrong (the typed command's words)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_pause_form(*, target: str, duration: str, channels: str, reason: str, limits: PauseLimits) -> PauseAsk:
    """The pause form's answers, read by the same rules as `/recording pause`; FormErrors names each bad one."""
    errors: dict[str, str] = {}
    parsed_target: RecordingTarget | None = None
    words = clean_input(target).split()
    if not words:
        errors["target"] = "Say which call to pause: an extension, a number, a call ID, or `me`."
    elif len(words) > 1:
        errors["target"] = "One call only: an extension, a number, a call ID, or `me`."
    else:
        try:
            parsed_target = parse_target(words[0], "pause")
        except ParseError as error:
            errors["target"] = error.message
    seconds: int | None = None
    duration_words = clean_input(duration).split()
    if not duration_words:
        errors["duration"] = "Say how long the pause lasts, like `90s`, `5m` or `1h`."
    elif len(duration_words) > 1:
        errors["duration"] = "One duration only, like `90s`, `5m` or `1h30m`."
    else:
        try:
            seconds = parse_duration(duration_words[0], limits, "pause")
        except ParseError as error:
            errors["duration"] = error.message
    try:
        parsed_channels = Channels(channels or Channels.BOTH.value)
    except ValueError:
        errors["channels"] = "Choose both sides, the caller or the callee."
        parsed_channels = Channels.BOTH
    parsed_reason = ""
    try:
        parsed_reason = parse_reason(clean_input(reason).split(), "pause", where="")
    except ParseError as error:
        errors["reason"] = error.message
    if errors:
        raise FormErrors(errors)
    assert parsed_target is not None and seconds is not None
    return PauseAsk(target=parsed_target, duration_seconds=seconds, channels=parsed_channels, reason=parsed_reason)
