"""The side-choice buttons' values: one reading of an ambiguous `/recording pause` (see `ChooseSide`), carried
by the button and read back by the typed command's rules when it is clicked.

Anyone can craft a click, so nothing in a value is trusted: the target, the duration and the reason are
checked again as if typed (the reason's length too), and a value that fails is no reading at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.commands.types import MAX_REASON_CHARS, MIN_PAUSE_SECONDS
from bot.models import Channels, PauseAsk, PauseLimits, RecordingTarget
from bot.words import clean_input

_SUBCOMMANDS = ("pause", "breakglass")
# Slack's limit on a button's value: a reason of MAX_REASON_CHARS, JSON-escaped, fits well inside it.
MAX_VALUE_CHARS = 2000


@dataclass(frozen=True)
class SideChoice:
    """A reading the user chose: what to ask (`pause` or `breakglass`) and the ask itself."""

    subcommand: str
    ask: PauseAsk


def side_choice_value(subcommand: str, ask: PauseAsk) -> str:
    """The button value for one reading."""
    value = {
        "do": subcommand,
        "target": ask.target.value,
        "seconds": ask.duration_seconds,
        "side": ask.channels.value,
        "reason": ask.reason,
    }
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read_side_choice(value: str, limits: PauseLimits) -> SideChoice | None:
    """The reading a clicked value carries, checked as a typed command is; None when it is not one."""
    if len(value) > MAX_VALUE_CHARS:
        return None
    try:
        fields = json.loads(value)
    except ValueError:
        return None
    if not isinstance(fields, dict) or set(fields) != {"do", "target", "seconds", "side", "reason"}:
        return None
    subcommand, target, seconds, side, reason = (
        fields["do"], fields["target"], fields["seconds"], fields["side"], fields["reason"]
    )  # fmt: skip
    if subcommand not in _SUBCOMMANDS or not all(isinstance(v, str) for v in (target, side, reason)):
        return None
    # bool is an int to Python, never a duration.
    if type(seconds) is not int or not MIN_PAUSE_SECONDS <= seconds <= limits.max_seconds:
        return None
    parsed_target = RecordingTarget.parse(target)
    if parsed_target is None or side not in Channels.__members__.values():
        return None
    # The reason was made plain when typed; decoding it again would change it, so it is only cleaned.
    cleaned = clean_input(reason).strip()
    if not cleaned or len(cleaned) > MAX_REASON_CHARS:
        return None
    return SideChoice(subcommand, PauseAsk(parsed_target, seconds, Channels(side), cleaned))


__all__ = ["MAX_VALUE_CHARS", "SideChoice", "read_side_choice", "side_choice_value"]
