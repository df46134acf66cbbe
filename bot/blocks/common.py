"""Messages for help, errors, refusals, the allow-list and the audit log."""

from __future__ import annotations

from bot.blocks.kit import Message, code, context, mention, section, slack_date
from bot.blocks.text import escape
from bot.grammar import USAGE
from bot.models import AuditEntry


def help_message(*, unknown_word: str | None = None) -> Message:
    lines = [f"• `/recording {escape(usage)}`\n   e.g. `{escape(example)}`" for usage, example in USAGE.values()]
    intro = (
        "*recording-bot* pauses and resumes call recordings (pauses need a team lead's approval) "
        "and shows Webex call-recording settings."
    )
    blocks = []
    text = "recording-bot commands: " + ", ".join(USAGE)
    if unknown_word is not None:
        sorry = f"I don't know the subcommand {code(unknown_word)}. Here is what I understand:"
        blocks.append(section(f":grey_question: {sorry}"))
        text = f"Unknown subcommand '{unknown_word}'. " + text
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
    text = problem + (f" Try: {example}" if example else "")
    return Message(text, [section(body), context("`/recording help` lists every subcommand.")])


def not_allowed_message(reason: str, admins: list[str]) -> Message:
    if admins:
        who = ", ".join(mention(a) for a in admins)
        ask = f"Ask an admin ({who}) if you need access."
        plain_ask = f"Ask an admin ({', '.join(admins)}) if you need access."
    else:
        ask = plain_ask = "No admin is set yet: the operator adds one with `recording-bot users add`."
    return Message(f"{reason} {plain_ask}", [section(f":no_entry: {escape(reason)}\n{ask}")])


def error_message(what: str, *, hint: str | None = None) -> Message:
    body = f":x: {escape(what)}"
    if hint:
        body += f"\n{escape(hint)}"
    return Message(what + (f" {hint}" if hint else ""), [section(body)])


def internal_error_message(request_id: str) -> Message:
    text = (
        "Something went wrong inside recording-bot and your request was not completed. "
        f"Nothing was sent to the recording system. Give an admin this reference: {request_id}"
    )
    return Message(text, [section(f":x: {escape(text)}")])


def audit_message(entries: list[AuditEntry], *, breakglass_only: bool = False) -> Message:
    if not entries:
        empty = "No break-glass pause is in the audit log." if breakglass_only else "The audit log is empty."
        return Message(empty, [section(empty)])
    what = "break-glass pauses" if breakglass_only else "entries"
    blocks = [section(f"*Audit log* — newest {len(entries)} {what}")]
    icons = {"ok": ":white_check_mark:", "refused": ":no_entry:", "error": ":x:"}
    lines = []
    for entry in entries:
        who = mention(entry.user_id) if entry.user_id and entry.user_id != "system" else "_bot_"
        target = f" {code(entry.target)}" if entry.target else ""
        lines.append(
            f"{icons.get(entry.outcome, '•')} {slack_date(entry.at, '{date_short} {time_secs}')} {who} "
            f"*{escape(entry.action)}*{target} — {escape(entry.outcome)}"
        )
    # Several lines per section keep long logs within Slack's 50-block limit.
    for start in range(0, len(lines), 20):
        blocks.append(section("\n".join(lines[start : start + 20])))
    text = "\n".join(
        f"{e.at:%Y-%m-%d %H:%M:%S} {e.user_id or '-'} {e.action} {e.target} {e.outcome}" for e in entries
    )
    return Message(text, blocks)


__all__ = [
    "audit_message",
    "error_message",
    "help_message",
    "internal_error_message",
    "not_allowed_message",
    "parse_error_message",
]
