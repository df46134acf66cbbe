"""Block Kit as terminal text: what a Slack user would read, with buttons shown as typeable commands."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from bot.action_ids import (
    ACTION_ABANDON,
    ACTION_APPROVE,
    ACTION_BOTH_SIDES,
    ACTION_CHANGE_ABANDON,
    ACTION_CHANGE_APPROVE,
    ACTION_CHANGE_DENY,
    ACTION_CHANGE_RETRY,
    ACTION_CHANGE_UNDO,
    ACTION_DENY,
    ACTION_OPEN_PAUSE_FORM,
    ACTION_RESUME,
    ACTION_RETRY,
    ACTION_SETTINGS_PICK,
    ACTION_SIDE_ONLY,
)

_DATE = re.compile(r"<!date\^(\d+)\^([^|>]*)(?:\|[^>]*)?>")
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!([a-z]+)(?:\|[^>]*)?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])")
_LINK = re.compile(r"<([^@#!][^|>]*)(?:\|([^>]*))?>")
_EMOJI = {
    ":white_check_mark:": "✓",
    ":x:": "✗",
    ":warning:": "⚠",
    ":no_entry:": "⛔",
    ":no_entry_sign:": "⛔",
    ":hourglass:": "⌛",
    ":hourglass_flowing_sand:": "⏳",
    ":arrow_forward:": "▶",
    ":double_vertical_bar:": "⏸",
    ":grey_question:": "?",
    ":information_source:": "ℹ",
    ":wave:": "👋",
    ":wastebasket:": "🗑",
    ":alarm_clock:": "⏰",
    ":bell:": "🔔",
    ":leftwards_arrow_with_hook:": "↩",
    ":ballot_box_with_check:": "☑",
    ":heavy_plus_sign:": "➕",
    ":rotating_light:": "🚨",
    ":mag:": "🔍",
    ":link:": "🔗",
}

# Buttons become the console command that presses them.
# Buttons that answer the bot's last question (their value is the whole answer): pressed by a word alone.
ANSWER_COMMANDS = {ACTION_SIDE_ONLY: "side-only", ACTION_BOTH_SIDES: "both-sides"}
_BUTTON_COMMANDS = {
    ACTION_APPROVE: "approve",
    ACTION_DENY: "deny",
    ACTION_RETRY: "retry",
    ACTION_ABANDON: "abandon",
    ACTION_RESUME: "resume-now",
    ACTION_SETTINGS_PICK: "show",
    ACTION_CHANGE_APPROVE: "approve-change",
    ACTION_CHANGE_DENY: "deny-change",
    ACTION_CHANGE_RETRY: "retry-change",
    ACTION_CHANGE_ABANDON: "abandon-change",
    ACTION_CHANGE_UNDO: "undo-change",
}


# Channel IDs the console knows by name (the console fills it in); others show as their ID.
CHANNEL_NAMES: dict[str, str] = {}


def mrkdwn_to_text(text: str) -> str:
    """Slack mrkdwn → plain text for a terminal: dates in local time with the zone named (as Slack shows
    each reader their own zone), mentions as @ID, entities decoded once."""

    def date(match: re.Match[str]) -> str:
        return local_time(datetime.fromtimestamp(int(match.group(1)), tz=UTC))

    text = _DATE.sub(date, text)
    text = _USER.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _CHANNEL.sub(lambda m: CHANNEL_NAMES.get(m.group(1)) or "#" + (m.group(2) or m.group(1)), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    for code, symbol in _EMOJI.items():
        text = text.replace(code, symbol)
    # Bold markers only: a lone star (`*44`, a name like "R*D") is text.
    text = _BOLD.sub(r"\1", text)
    return html.unescape(text)


def local_time(moment: datetime) -> str:
    """A time in the terminal's zone, the zone named: `2025-03-01 14:02 CET`."""
    local = moment.astimezone()
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or local.strftime('%z')}"


def render_blocks(blocks: list[dict[str, Any]], fallback: str = "") -> str:
    if not blocks:
        return mrkdwn_to_text(fallback)
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            text = (block.get("text") or {}).get("text")
            if text:
                lines.append(mrkdwn_to_text(text))
            accessory = block.get("accessory") or {}
            if accessory.get("type") == "button":
                lines.append("  " + _button(accessory))
            for field in block.get("fields") or []:
                if field.get("type") == "plain_text":
                    # Words a person typed (a reason): shown as they are, not read as a label and a value.
                    lines.append("  " + str(field.get("text", "")).replace("\n", "\n  "))
                    continue
                label, _, value = mrkdwn_to_text(field.get("text", "")).partition("\n")
                lines.append(f"  {label}: {value}".replace("\n", "\n      "))
        elif kind == "context":
            lines.extend("  " + mrkdwn_to_text(e.get("text", "")) for e in block.get("elements") or [])
        elif kind == "actions":
            lines.append("  " + "  ".join(_button(e) for e in block.get("elements") or []))
        elif kind == "divider":
            lines.append("  " + "-" * 40)
    return "\n".join(lines)


def _button(element: dict[str, Any]) -> str:
    """A button as the console command that presses it."""
    label = (element.get("text") or {}).get("text", "?")
    action_id = str(element.get("action_id", ""))
    if action_id == ACTION_OPEN_PAUSE_FORM:
        return f"[{label}: type `/recording pause`]"
    if action_id in ANSWER_COMMANDS:
        return f"[{label}: type `{ANSWER_COMMANDS[action_id]}`]"
    return f"[{label}: type `{_BUTTON_COMMANDS.get(action_id, '?')} {element.get('value', '')}`]"
