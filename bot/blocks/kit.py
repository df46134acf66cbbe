"""Small Block Kit building blocks shared by every message module."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.blocks.text import escape
from bot.models import RecordingTarget, TargetKind

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
MAX_BLOCKS = 50
# The fallback `text` is what notifications and screen readers announce: a summary, not the whole list
# (Slack takes 40,000 characters, but a notification shows a line or two).
FALLBACK_TEXT_LIMIT = 3000
# Digits up to this length without a leading + are an extension; longer ones are phone numbers.
_LONGEST_EXTENSION = 6

_ENTITY = re.compile(r"&(?:[a-z]{2,8}|#[0-9]{1,7}|#x[0-9a-f]{1,6});", re.IGNORECASE)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "…" when cut. The cut never falls inside an
    entity (`&amp;`), a Slack token (`<@U…>`, `<!date…>`, `<url|label>`) or a code span, so a shortened
    text shows neither half an escape nor a code span that swallows the rest."""
    if len(text) <= limit:
        return text
    cut = limit - 1
    while True:
        moved = cut
        opening, closing = text.rfind("<", 0, moved), text.rfind(">", 0, moved)
        if opening > closing:
            moved = opening
        for entity in _ENTITY.finditer(text, max(0, moved - 12), moved + 12):
            if entity.start() < moved < entity.end():
                moved = entity.start()
        if text.count("`", 0, moved) % 2:
            moved = text.rfind("`", 0, moved)
        if moved == cut:
            break
        cut = moved
    # A word boundary reads better, when there is one near (and it is not inside a token or a code span).
    space = max(text.rfind(" ", 0, cut + 1), text.rfind("\n", 0, cut + 1))
    outside = text.rfind("<", 0, space) <= text.rfind(">", 0, space) and not text.count("`", 0, space) % 2
    if space > 0 and space > cut - 40 and outside:
        cut = space
    return text[:cut].rstrip() + "…"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": shorten(text, SECTION_TEXT_LIMIT)}}


@dataclass(frozen=True)
class ListRow:
    """One row of a list (mrkdwn, escaped), and the heading of the part of the list it belongs to."""

    text: str
    part: str = ""


@dataclass(frozen=True)
class ListPage:
    """The sections of one page of a list, and where the page sits in the whole list."""

    blocks: list[Block]
    number: int
    pages: int
    first: int
    shown: int
    total: int

    @property
    def after(self) -> int:
        """Rows on the pages after this one."""
        return max(0, self.total - self.first - self.shown)

    @property
    def is_whole(self) -> bool:
        return self.shown == self.total

    def span(self) -> str:
        """`rows 41–80 of 200`, for a heading."""
        return f"{self.first + 1}–{self.first + self.shown} of {self.total}"


_CONTINUED = " (continued)"


def paged(rows: Sequence[ListRow], *, page: int, max_sections: int) -> ListPage:
    """Page `page` (from 1) of the rows packed whole into sections of at most 3000 characters, at most
    `max_sections` sections a page. A row is never split across sections or pages; each part's heading
    comes before its first row, again (continued) at the top of a page that starts inside the part.
    The packing depends on the rows alone, so page 2 of the same rows is always what page 1 left out."""
    pages: list[tuple[list[str], int, int]] = []  # (section texts, first row, rows)
    sections: list[str] = []
    lines: list[str] = []
    size, first, count, part = 0, 0, 0, None
    for index, row in enumerate(rows):
        # Room for the row with its heading (continued) in a section of its own: it always fits somewhere.
        text = shorten(row.text, SECTION_TEXT_LIMIT - len(row.part) - len(_CONTINUED) - 2)
        heading = [row.part] if row.part and row.part != part else []
        needed = sum(len(line) + 1 for line in [*heading, text])
        if lines and size + needed > SECTION_TEXT_LIMIT:
            sections.append("\n".join(lines))
            lines, size = [], 0
        if not lines and len(sections) >= max(1, max_sections):
            pages.append((sections, first, count))
            sections, first, count = [], index, 0
        if not lines and not sections and row.part and not heading:
            heading = [row.part + _CONTINUED]
        lines += [*heading, text]
        size += sum(len(line) + 1 for line in [*heading, text])
        count += 1
        part = row.part
    if lines:
        sections.append("\n".join(lines))
    if sections or not pages:
        pages.append((sections, first, count))
    if not 1 <= page <= len(pages):
        return ListPage(blocks=[], number=page, pages=len(pages), first=len(rows), shown=0, total=len(rows))
    texts, first, count = pages[page - 1]
    return ListPage(
        blocks=[section(text) for text in texts],
        number=page,
        pages=len(pages),
        first=first,
        shown=count,
        total=len(rows),
    )


def page_heading(page: ListPage) -> str:
    """What a list's heading adds when the list takes more than one page: `, page 1 of 3 (1–60 of 200)`."""
    if page.pages <= 1:
        return ""
    if page.number > page.pages:
        return f", page {page.number} of {page.pages}"
    return f", page {page.number} of {page.pages} ({page.span()})"


def more_note(page: ListPage, *, next_page: str, also: str = "") -> Block | None:
    """The closing line of a list page that does not show everything: how many rows the later pages
    hold and the command that shows the next one (`next_page`, a command without backticks), or that
    the page asked for does not exist. `also` (mrkdwn) names another way to see the whole list."""
    also = f" {also}" if also else ""
    if page.number > page.pages:
        return context(f"There is no page {page.number}: the list has {page.pages}.{also}")
    if not page.after:
        return None
    later = "the next page" if page.number + 1 == page.pages else "the next pages"
    return context(f"… and {page.after} more on {later}: `{next_page}`.{also}")


def fields(pairs: list[tuple[str, str]]) -> Block:
    """A section of up to 10 label/value fields (Slack's limit); values are mrkdwn already escaped."""
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": shorten(f"*{label}*\n{value}", FIELD_TEXT_LIMIT)} for label, value in pairs[:10]
        ],
    }


def with_typed_text(text: str, typed: str) -> Block:
    """A section of mrkdwn `text` with words a person typed beside it as plain text, so they show exactly as
    typed: `*bold*`, `_x_` or `<!channel>` in a reason are characters, never formatting, a ping or a link."""
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": shorten(text, SECTION_TEXT_LIMIT)},
        "fields": [{"type": "plain_text", "text": shorten(typed, FIELD_TEXT_LIMIT) or "-", "emoji": False}],
    }


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": shorten(text, SECTION_TEXT_LIMIT)}]}


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


# The one way a time is shown in Slack: each reader sees it in their own time zone ("Today 14:02"), to the
# second ("Today 14:02:20") where minutes alone would blur a short window.
TIME_FORMAT = "{date_short_pretty} {time}"
TIME_FORMAT_SECONDS = "{date_short_pretty} {time_secs}"


def slack_date(moment: datetime, *, seconds: bool = False) -> str:
    """A time each reader sees in their own time zone, with a UTC fallback for clients that cannot."""
    form = TIME_FORMAT_SECONDS if seconds else TIME_FORMAT
    return f"<!date^{int(moment.timestamp())}^{form}|{utc_time(moment, seconds=seconds)}>"


def utc_time(moment: datetime, *, seconds: bool = False) -> str:
    """A time for readers without Slack's date tokens (a log, a terminal): the zone named."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def code(text: str) -> str:
    """User text as inline code, escaped, with backticks removed so it cannot break out."""
    return "`" + escape(text.replace("`", "'")) + "`"


def target_noun(target: RecordingTarget) -> str:
    """What a target is, in the words of someone on the phone: an extension, a phone number or a call."""
    if target.kind is TargetKind.CALL_ID:
        return "call ID"
    if target.kind is TargetKind.MINE:
        return "your linked extension"
    if target.value.startswith("+") or len(target.value) > _LONGEST_EXTENSION:
        return "phone number"
    return "extension"


def target_text(target: RecordingTarget) -> str:
    """`extension `8856``, `phone number `+14085551234``, `call ID `3f2b…``."""
    if target.kind is TargetKind.MINE:
        return target_noun(target)
    return f"{target_noun(target)} {code(target.value)}"


def cap_blocks(blocks: list[Block]) -> list[Block]:
    """Slack refuses a message of more than 50 blocks. Builders stay within it; should one not, the
    last block says what was left out rather than the message failing or rows vanishing unannounced."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    left_out = len(blocks) - MAX_BLOCKS + 1
    return [*blocks[: MAX_BLOCKS - 1], context(f"… and {left_out} more parts of this message not shown.")]


class Message:
    """A Slack message: Block Kit blocks and the fallback `text` notifications and screen readers use.

    The fallback is mrkdwn like the blocks, built the same way: user and upstream text escaped once by the
    builder (`escape`, `code`), the bot's own tokens (`<@U…>`, `<#C…>`, `<!date…>`, links) left raw so
    Slack shows a name, a channel or a time. It is never escaped again here.
    """

    __slots__ = ("blocks", "text")

    def __init__(self, text: str, blocks: list[Block]) -> None:
        self.text = shorten(text, FALLBACK_TEXT_LIMIT)
        self.blocks = cap_blocks(blocks)

    def __repr__(self) -> str:
        return f"Message({self.text!r})"
