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
from bot.words import format_duration, typed_duration

View = dict[str, Any]

_CHANNEL_LABELS = {
    Channels.BOTH: "Both sides",
    Channels.CALLER: "The caller's side only",
    Channels.CALLEE: "The callee's side only",
}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def pause_form(*, limits: PauseLimits, channel_id: str | None, ask_channel: bool) -> View:
    """The modal `/recording pause` (alone), the global shortcut and the Home button open."""
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
            # Typed, and read by the typed command's own rules: `45s`, `5m`, `1h30m` work in both.
            "type": "input",
            "block_id": INPUT_DURATION,
            "label": _plain("For how long"),
            "hint": _plain(
                f"Like 45s, 5m or 1h: from {format_duration(MIN_PAUSE_SECONDS)} up to "
                f"{format_duration(limits.max_seconds)}."
            ),
            "element": {
                "type": "plain_text_input",
                "action_id": INPUT_DURATION,
                "initial_value": typed_duration(limits.default_seconds),
                "placeholder": _plain("10m"),
                "max_length": 20,
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
        blocks.append(_channel_input())
    return {
        "type": "modal",
        "callback_id": PAUSE_FORM,
        "title": _plain("Pause a recording"),
        "submit": _plain("Ask for approval"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel": channel_id or ""}),
        "blocks": blocks,
    }


def _channel_input() -> dict[str, Any]:
    return {
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
