"""The pause form (a modal): four inputs — or five, with a channel, when no channel is known."""

from __future__ import annotations

import json
from typing import Any

from bot.action_ids import (
    INPUT_CHANNEL,
    INPUT_CHANNELS,
    INPUT_DURATION,
    INPUT_REASON,
    INPUT_TARGET,
    PAUSE_FORM,
)
from bot.commands.types import MAX_REASON_CHARS, MIN_PAUSE_SECONDS
from bot.models import Channels, PauseLimits
from bot.words import format_duration

View = dict[str, Any]

# Durations offered in the form, before the limits cut them (Slack allows at most 100 options).
_DURATION_CHOICES = (30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600,
                     28800, 43200, 86400)  # fmt: skip
_CHANNEL_LABELS = {Channels.BOTH: "Both sides", Channels.CALLER: "Caller only", Channels.CALLEE: "Callee only"}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def duration_options(limits: PauseLimits) -> list[int]:
    """Seconds offered: from 30 s (or the shortest allowed) up to the longest, always with the default."""
    shortest = max(MIN_PAUSE_SECONDS, 30)
    chosen = {s for s in _DURATION_CHOICES if shortest <= s <= limits.max_seconds}
    chosen |= {limits.max_seconds, limits.default_seconds}
    return sorted(s for s in chosen if MIN_PAUSE_SECONDS <= s <= limits.max_seconds)[:100]


def _option(seconds: int) -> dict[str, Any]:
    return {"text": _plain(format_duration(seconds)), "value": str(seconds)}


def pause_form(*, limits: PauseLimits, channel_id: str | None, ask_channel: bool) -> View:
    """The modal `/recording pause` (alone), the global shortcut and the Home button open."""
    choices = duration_options(limits)
    default = limits.default_seconds if limits.default_seconds in choices else choices[0]
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": INPUT_TARGET,
            "label": _plain("Call to pause"),
            "hint": _plain("An extension (8856), a number (+14085551234), the recording system's call ID, or `me`."),
            "element": {
                "type": "plain_text_input",
                "action_id": INPUT_TARGET,
                "placeholder": _plain("8856, +14085551234, a call ID, or me"),
                "max_length": 80,
            },
        },
        {
            "type": "input",
            "block_id": INPUT_DURATION,
            "label": _plain("For how long"),
            "element": {
                "type": "static_select",
                "action_id": INPUT_DURATION,
                "options": [_option(seconds) for seconds in choices],
                "initial_option": _option(default),
            },
        },
        {
            "type": "input",
            "block_id": INPUT_CHANNELS,
            "label": _plain("Which side of the call"),
            "element": {
                "type": "radio_buttons",
                "action_id": INPUT_CHANNELS,
                "options": [{"text": _plain(label), "value": value.value} for value, label in _CHANNEL_LABELS.items()],
                "initial_option": {"text": _plain(_CHANNEL_LABELS[Channels.BOTH]), "value": Channels.BOTH.value},
            },
        },
        {
            "type": "input",
            "block_id": INPUT_REASON,
            "label": _plain("Reason"),
            "hint": _plain("Shown to the approver and kept in the audit log."),
            "element": {
                "type": "plain_text_input",
                "action_id": INPUT_REASON,
                "multiline": True,
                "max_length": MAX_REASON_CHARS,
                "placeholder": _plain("customer is reading out a card number"),
            },
        },
    ]
    if ask_channel:
        blocks.append(
            {
                "type": "input",
                "block_id": INPUT_CHANNEL,
                "label": _plain("Channel for the approval card"),
                "hint": _plain("If your approver group has its own approvals channel, the card goes there anyway."),
                "element": {
                    "type": "conversations_select",
                    "action_id": INPUT_CHANNEL,
                    "default_to_current_conversation": True,
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": PAUSE_FORM,
        "title": _plain("Pause a recording"),
        "submit": _plain("Ask for approval"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel": channel_id or ""}),
        "blocks": blocks,
    }
