"""Messages for help, errors, refusals, the allow-list and the audit log."""

from __future__ import annotations

from itertools import groupby

from bot.blocks.kit import Message, code, context, mention, section, slack_date
from bot.blocks.text import escape
from bot.grammar import USAGE
from bot.models import AllowListEntry, AuditEntry, Role


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


def role_changed_message(user_id: str, previous: Role | None, current: Role | None) -> Message:
    who = mention(user_id)
    if current is None:
        if previous is None:
            text = f"{who} was not on the allow-list; nothing changed."
        else:
            text = f":wave: {who} is no longer on the allow-list (was {previous.value})."
    elif previous is None:
        text = f":white_check_mark: {who} is now allowed as *{current.value}*."
    elif previous is current:
        text = f"{who} already was *{current.value}*; nothing changed."
    else:
        text = f":white_check_mark: {who} is now *{current.value}* (was {previous.value})."
    return Message(text.replace("*", ""), [section(text)])


_ROLE_TITLES = {Role.ADMIN: "Admins", Role.APPROVER: "Approvers (team leads)", Role.REQUESTER: "Requesters"}


def users_message(entries: list[AllowListEntry]) -> Message:
    if not entries:
        return Message("The allow-list is empty.", [section("The allow-list is empty.")])
    by_role = sorted(entries, key=lambda e: -e.role.rank)
    blocks = [section(f"*Allow-list* — {len(entries)} user(s)")]
    plain = []
    for role, group in groupby(by_role, key=lambda e: e.role):
        members = list(group)
        line = ", ".join(mention(e.user_id) for e in members)
        blocks.append(section(f"*{_ROLE_TITLES[role]}* ({len(members)})\n{line}"))
        plain.append(f"{_ROLE_TITLES[role]}: " + ", ".join(e.user_id for e in members))
    return Message("; ".join(plain), blocks)


def audit_message(entries: list[AuditEntry]) -> Message:
    if not entries:
        return Message("The audit log is empty.", [section("The audit log is empty.")])
    blocks = [section(f"*Audit log* — newest {len(entries)} entries")]
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
    "role_changed_message",
    "users_message",
]
