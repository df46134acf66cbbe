"""Block Kit checks the simulated Slack applies to everything posted to it, as Slack refuses what breaks them.

Each block and view goes through `slack_sdk`'s models: parsed, validated (`validate_json`: lengths, counts,
required fields) and turned back into JSON, which must equal what was sent — so a misspelt or unknown field
is caught too, not silently dropped.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

# Slack's limits: blocks in a message, blocks in a modal or Home view, characters in a message's text.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000


def message_problems(payload: dict[str, Any]) -> list[str]:
    """What is wrong with a message (`text` and `blocks`) by Slack's rules; empty when nothing is."""
    problems: list[str] = []
    text = payload.get("text")
    if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
        problems.append(f"text is {len(str(text))} characters, more than {MAX_MESSAGE_TEXT}")
    blocks = _decoded(payload.get("blocks"))
    if blocks is None:
        return problems
    if not isinstance(blocks, list):
        return [*problems, "blocks is not a list"]
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        problems.append(f"{len(blocks)} blocks, more than {MAX_MESSAGE_BLOCKS}")
    for index, block in enumerate(blocks):
        problems += [f"block {index}: {p}" for p in block_problems(block)]
    return problems


def block_problems(block: Any) -> list[str]:
    if not isinstance(block, dict):
        return ["not an object"]
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [f"unknown block type {block.get('type')!r}"]
        parsed.validate_json()
    except (SlackObjectFormationError, KeyError, TypeError, ValueError) as error:
        return [f"{block.get('type')}: {error}"]
    if parsed.to_dict() != block:
        return [f"{block.get('type')}: has fields Block Kit does not know: {_difference(block, parsed.to_dict())}"]
    return []


def view_problems(view: Any) -> list[str]:
    """What is wrong with a modal or Home view by Slack's rules; empty when nothing is."""
    view = _decoded(view)
    if not isinstance(view, dict):
        return ["view is not an object"]
    problems: list[str] = []
    blocks = view.get("blocks") or []
    if len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(f"{len(blocks)} blocks, more than {MAX_VIEW_BLOCKS}")
    for index, block in enumerate(blocks):
        problems += [f"block {index}: {p}" for p in block_problems(block)]
    try:
        parsed = View(**view)
        parsed.validate_json()
    except (SlackObjectFormationError, KeyError, TypeError, ValueError) as error:
        problems.append(f"view: {error}")
    return problems


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _difference(sent: dict[str, Any], understood: dict[str, Any]) -> str:
    keys = sorted(set(sent) ^ set(understood)) or sorted(k for k in sent if sent.get(k) != understood.get(k))
    return ", ".join(keys)[:200]
