"""The pause form's answers, read by the same rules (and in the same words) as `/recording pause`."""

from __future__ import annotations

from bot.commands.parser import parse_reason, parse_target
from bot.commands.types import MIN_PAUSE_SECONDS, ParseError
from bot.models import Channels, PauseAsk, PauseLimits, RecordingTarget
from bot.words import clean_input, format_duration


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
    seconds = int(duration) if duration.isascii() and duration.isdigit() and len(duration) < 9 else None
    if seconds is None:
        errors["duration"] = "Choose how long the pause lasts."
    elif seconds < MIN_PAUSE_SECONDS:
        errors["duration"] = f"A pause must last at least {MIN_PAUSE_SECONDS} seconds."
    elif seconds > limits.max_seconds:
        errors["duration"] = f"A pause can last at most {format_duration(limits.max_seconds)}."
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
