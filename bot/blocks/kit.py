"""Small Block Kit building blocks shared by every message module."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.blocks.text import escape

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
MAX_BLOCKS = 50


def section(text: str) -> Block:
    if len(text) > SECTION_TEXT_LIMIT:
        text = text[: SECTION_TEXT_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def packed_sections(lines: list[str], *, max_blocks: int) -> tuple[list[Block], int]:
    """Lines packed whole into as few sections as fit Slack's 3000 characters each, using at most
    `max_blocks` sections; (the sections, how many lines did not fit). A line is never cut, so no
    mention, link or code span is broken; a single line too long for a section is shortened at a space."""
    blocks: list[Block] = []
    current: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        if len(line) > SECTION_TEXT_LIMIT - 2:
            line = line[: line.rfind(" ", 0, SECTION_TEXT_LIMIT - 2) or SECTION_TEXT_LIMIT - 2] + "…"
        if current and size + len(line) + 1 > SECTION_TEXT_LIMIT:
            if len(blocks) + 1 >= max_blocks:
                blocks.append(section("\n".join(current)))
                return blocks, len(lines) - index
            blocks.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(section("\n".join(current)))
    return blocks, 0


def fields(pairs: list[tuple[str, str]]) -> Block:
    """A section of up to 10 label/value fields (Slack's limit); values are mrkdwn already escaped."""
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value}"[:2000]} for label, value in pairs[:10]],
    }


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_TEXT_LIMIT]}]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def divider() -> Block:
    return {"type": "divider"}


def button(label: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def mention(user_id: str) -> str:
    return f"<@{escape(user_id)}>"


def slack_date(moment: datetime, date_format: str = "{date_short_pretty} {time}") -> str:
    """A time each reader sees in their own time zone, with a UTC fallback for old clients."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{date_format}|{fallback}>"


def code(text: str) -> str:
    """User text as inline code, escaped, with backticks removed so it cannot break out."""
    return "`" + escape(text.replace("`", "'")) + "`"


def cap_blocks(blocks: list[Block]) -> list[Block]:
    return blocks[:MAX_BLOCKS]


class Message:
    """A Slack message: Block Kit blocks and the plain-text fallback notifications and screen readers use."""

    __slots__ = ("blocks", "text")

    def __init__(self, text: str, blocks: list[Block]) -> None:
        # Slack formats the fallback too, so it is escaped like any other user-facing text.
        self.text = escape(text[:4000])
        self.blocks = cap_blocks(blocks)

    def __repr__(self) -> str:
        return f"Message({self.text!r})"
