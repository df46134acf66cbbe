"""Messages for help, errors, refusals, the allow-list and the audit log."""

from __future__ import annotations

import json
import re

from bot.blocks.kit import (
    MAX_BLOCKS,
    ListRow,
    Message,
    code,
    context,
    mention,
    paged,
    section,
    shorten,
    slack_date,
)
from bot.blocks.text import escape
from bot.commands.types import USAGE
from bot.models import AuditEntry


def help_message(*, unknown_word: str | None = None, suggestion: str | None = None) -> Message:
    lines = [f"• `/recording {escape(usage)}`\n   e.g. `{escape(example)}`" for usage, example in USAGE.values()]
    intro = (
        "*recording-bot* pauses and resumes call recordings (pauses need a team lead's approval) "
        "and shows Webex call-recording settings."
    )
    blocks = []
    text = "recording-bot commands: " + ", ".join(USAGE)
    if unknown_word is not None:
        guess = f" Did you mean {code(suggestion)}?" if suggestion else ""
        sorry = f"I don't know the subcommand {code(unknown_word)}.{guess} Here is what I understand:"
        blocks.append(section(f":grey_question: {sorry}"))
        text = f"Unknown subcommand {code(unknown_word)}.{guess} " + text
    else:
        blocks.append(section(intro))
    blocks.append(section("\n".join(lines)))
    blocks.append(context("Durations look like `90s`, `5m` or `1h`. Only you can see this message."))
    return Message(text, blocks)


def parse_error_message(problem: str, example: str | None) -> Message:
    # The problem quotes the user's own words: escaped like any other user text.
    body = f":warning: {escape(problem)}"
    if example:
        body += f"\nTry: `{escape(example)}`"
    return Message(body.replace("\n", " "), [section(body), context("`/recording help` lists every subcommand.")])


def not_allowed_message(reason: str, admins: list[str]) -> Message:
    if admins:
        who = ", ".join(mention(a) for a in admins)
        ask = f"Ask an admin ({who}) if you need access."
    else:
        ask = "No admin is set yet: the operator adds one with `recording-bot users add`."
    return Message(f"{escape(reason)} {ask}", [section(f":no_entry: {escape(reason)}\n{ask}")])


def error_message(what: str, *, hint: str | None = None) -> Message:
    text = escape(what) + (f" {escape(hint)}" if hint else "")
    body = f":x: {escape(what)}" + (f"\n{escape(hint)}" if hint else "")
    return Message(text, [section(body)])


def error_message_mrkdwn(what: str) -> Message:
    """`error_message` for words already escaped as mrkdwn (a refusal with the bot's own mentions in it)."""
    return Message(what, [section(f":x: {what}")])


def internal_error_message(request_id: str) -> Message:
    text = (
        "Something went wrong inside recording-bot and your request was not completed. "
        f"Nothing was sent to the recording system. Give an admin this reference: {request_id}"
    )
    return Message(escape(text), [section(f":x: {escape(text)}")])


def audit_message(entries: list[AuditEntry], *, breakglass_only: bool = False, changes_only: bool = False) -> Message:
    """The newest entries of the audit log, one row each. Each row's parts are bounded, so the most
    entries `audit` may ask for fit one message whatever they hold; a row is never cut."""
    if not entries:
        empty = "No break-glass pause is in the audit log." if breakglass_only else "The audit log is empty."
        if changes_only:
            empty = "No settings change is in the audit log."
        return Message(empty, [section(empty)])
    what = "break-glass pauses" if breakglass_only else ("entry" if len(entries) == 1 else "entries")
    if changes_only:
        what = "settings-change entries"
    icons = {"ok": ":white_check_mark:", "refused": ":no_entry:", "error": ":x:"}
    rows = []
    for entry in entries:
        who = _actor(entry.user_id)
        # Backticks become quotes so a target cannot end its code span early.
        quoted = (entry.target + _change_summary(entry)).replace("`", "'")
        target = f" `{_bounded(quoted, _AUDIT_TARGET_CHARS)}`" if entry.target else ""
        rows.append(
            ListRow(
                f"{icons.get(entry.outcome, '•')} {slack_date(entry.at)} {who} "
                f"*{_bounded(entry.action, _AUDIT_ACTION_CHARS)}*{target} — {_bounded(entry.outcome, 40)}"
            )
        )
    shown = paged(rows, page=1, max_sections=MAX_BLOCKS - 2)
    heading = f"*Audit log* — newest {len(entries)} {what}"
    if not shown.is_whole:
        heading = f"*Audit log* — newest {shown.shown} of the {len(entries)} {what} asked for"
    blocks = [section(heading), *shown.blocks]
    if shown.after:
        blocks.append(
            context(f"… and {shown.after} more: `recording-bot audit --limit {len(entries)}` on the server lists them.")
        )
    return Message(heading.replace("*", ""), blocks)


# Bounds on a row's parts once escaped (an escaped `<` takes four characters): with them the longest row
# stays under 600 characters, five to a section, so 200 rows (the most `audit` shows) fit in 40 sections.
_AUDIT_ACTION_CHARS = 100
_AUDIT_TARGET_CHARS = 200


def _change_summary(entry: AuditEntry) -> str:
    """A settings change's row: what it changes, `: mode always→pause-resume` (within the target's bound)."""
    if not entry.action.startswith("change.") or not entry.details.startswith("{"):
        return ""
    try:
        details = json.loads(entry.details)
    except ValueError:
        return ""
    before, after = details.get("before"), details.get("after")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ""
    return ": " + ", ".join(f"{name} {before.get(name)}→{value}" for name, value in after.items())


def _bounded(text: str, limit: int) -> str:
    """Text escaped, then shortened to `limit` characters without cutting an escape."""
    return shorten(escape(text), limit)


__all__ = [
    "audit_message",
    "error_message",
    "error_message_mrkdwn",
    "help_message",
    "internal_error_message",
    "not_allowed_message",
    "parse_error_message",
]


def _actor(user_id: str) -> str:
    """Who made an audited change: a Slack user is a mention; the bot, an operator on the command line
    (`cli:alice`) or `BOT_ADMINS` are named in words."""
    if not user_id or user_id == "system":
        return "_bot_"
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
        return mention(user_id)
    return f"_{escape(user_id)}_"
