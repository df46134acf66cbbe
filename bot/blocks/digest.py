"""The daily digest in words: the Slack message (Block Kit and its fallback text), the same as plain text for
the compliance archive (`recording-bot digest --out`), and how the chain heads it ends with are read back."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.blocks.changes import value_words
from bot.blocks.kit import Block, Message, context, header, mention, section, slack_date
from bot.blocks.text import escape
from bot.models.changes import SETTING_LABELS
from bot.models.digest import Digest, DigestDelivery
from bot.words import format_duration

# Each list shows this many items; the rest are counted (and in the CSV).
MAX_ITEMS = 15
# How every digest names the chain heads it anchors; `anchors_in` reads them back from the channel.
HEAD_WORDS = "Audit chain head at the period's end"
_ANCHOR = re.compile(r"(?<![A-Za-z0-9_-])([A-Za-z0-9_-]*):([0-9]{1,18}):([0-9a-f]{64})(?![0-9a-f])")


def anchors_in(text: str) -> list[str]:
    """Every `TEAM:SEQ:HASH` a digest's text holds, in order, once each."""
    if HEAD_WORDS.lower() not in text.lower():
        return []
    found: list[str] = []
    for match in _ANCHOR.finditer(text):
        anchor = ":".join(match.groups())
        if anchor not in found:
            found.append(anchor)
    return found


@dataclass(frozen=True)
class _Words:
    """How a person and a moment are written: in Slack (mentions, date tokens) or in a plain file."""

    person: Callable[[str], str]
    moment: Callable[[datetime], str]
    code: Callable[[str], str]
    bold: Callable[[str], str]
    plain: Callable[[str], str]


def _slack_words() -> _Words:
    return _Words(
        person=mention,
        moment=slack_date,
        code=lambda text: "`" + escape(text.replace("`", "'")) + "`",
        bold=lambda text: f"*{text}*",
        plain=escape,
    )


def _file_words(zone: str) -> _Words:
    return _Words(
        person=lambda user: user or "nobody",
        moment=lambda at: at.astimezone(ZoneInfo(zone)).strftime(f"%d %b %H:%M {zone}"),
        code=lambda text: text,
        bold=lambda text: text,
        plain=lambda text: text,
    )


def digest_title(digest: Digest) -> str:
    return f"Compliance digest of {digest.period.day:%-d %B %Y}"


def period_words(digest: Digest) -> str:
    zone = ZoneInfo(digest.period.zone)
    start, end = digest.period.start.astimezone(zone), digest.period.end.astimezone(zone)
    return f"{start:%-d %b %H:%M} – {end:%-d %b %H:%M} {digest.period.zone}"


def digest_message(digest: Digest, *, problems: Sequence[str] = (), files_note: str = "") -> Message:
    """The digest as posted: what outlived its window first, then the figures, the files, the chain heads."""
    words = _slack_words()
    blocks: list[Block] = [header(digest_title(digest)), context(f"The 24 hours {escape(period_words(digest))}")]
    if digest.late_by is not None:
        blocks.append(section(f":hourglass: *Posted late*, {_duration(digest.late_by.total_seconds())} after "
                              "its time: recording-bot was not running then, or Slack did not take it."))  # fmt: skip
    blocks += [section(part) for part in _parts(digest, words)]
    for problem in problems:
        blocks.append(section(f":warning: {escape(problem)}"))
    if files_note:
        blocks.append(context(escape(files_note)))
    blocks.append(context(_heads(digest, words)))
    return Message(_fallback(digest, problems), blocks)


def digest_posted(delivery: DigestDelivery, *, day: date | None) -> Message:
    """The admin's private answer to `/recording digest`: where it is, and what did not work."""
    which = f"The digest of {day:%-d %B %Y}" if day else "The latest digest"
    text = f":white_check_mark: {which} is posted in <#{escape(delivery.channel)}>."
    if delivery.problems:
        text += "\n" + "\n".join(f":warning: {escape(problem)}" for problem in delivery.problems)
    return Message(text, [section(text)])


def digest_text(digest: Digest, *, problems: Sequence[str] = ()) -> str:
    """The digest as a plain text file, with the same parts as the message."""
    words = _file_words(digest.period.zone)
    lines = [digest_title(digest), f"The 24 hours {period_words(digest)}", ""]
    if digest.late_by is not None:
        lines += [f"Posted late, {_duration(digest.late_by.total_seconds())} after its time.", ""]
    for part in _parts(digest, words):
        lines += [part, ""]
    lines += [f"Problem: {problem}" for problem in problems]
    lines.append(_heads(digest, words))
    return "\n".join(lines).rstrip() + "\n"


def _fallback(digest: Digest, problems: Sequence[str]) -> str:
    summary = "nothing happened" if digest.quiet else "; ".join(
        part for part in (
            f"{len(digest.overruns)} pause(s) outlived their window" if digest.overruns else "",
            f"{sum(g.count for g in digest.groups)} pause(s)" if digest.groups else "",
            f"{len(digest.breakglass)} break-glass" if digest.breakglass else "",
            f"{len(digest.decisions)} four-eyes decision(s)" if digest.decisions else "",
            f"{len(digest.endings)} denied, expired, cancelled or failed" if digest.endings else "",
        ) if part
    )  # fmt: skip
    trouble = f" ({len(problems)} problem(s) with the files)" if problems else ""
    return f"{digest_title(digest)}: {summary}{trouble}. " + _heads(digest, _slack_words())


def _heads(digest: Digest, words: _Words) -> str:
    if not digest.heads:
        return f"{HEAD_WORDS}: none (no audit rows yet)."
    return f"{HEAD_WORDS}: " + ", ".join(words.code(head.anchor) for head in digest.heads)


def _parts(digest: Digest, words: _Words) -> list[str]:
    """The digest's sections, loudest first; one line when nothing happened."""
    parts: list[str] = []
    if digest.overruns:
        lines = [
            f"{words.code(o.target)} #{o.request_id}{_group(o.group, words)}, asked by {words.person(o.requester_id)}: "
            f"its window ended {words.moment(o.resume_at)}, "
            + (f"resumed {words.moment(o.resumed_at)}" if o.resumed_at else "still paused at the period's end")
            + f": {words.bold(_duration(o.by.total_seconds()) + ' over')}"
            for o in digest.overruns
        ]
        parts.append(_list(f":rotating_light: {words.bold(f'{len(lines)} pause(s) outlived their window')}", lines))
    if digest.quiet:
        parts.append("Nothing happened: no pause, no break-glass, no decision, no request denied, expired, "
                     "cancelled or failed.")  # fmt: skip
        return parts
    if digest.groups:
        lines = [
            f"{words.plain(g.group or 'no group')}: {g.count} pause(s), {_duration(g.total.total_seconds())} in "
            f"all, the longest {_duration(g.longest.total_seconds())}"
            for g in digest.groups
        ]
        parts.append(_list(words.bold("Pauses by group"), lines))
    if digest.breakglass:
        lines = [
            f"{words.code(b.target)} #{b.request_id}{_group(b.group, words)} by {words.person(b.user_id)}"
            + (f" at {words.moment(b.paused_at)}, paused {_duration(b.paused_for.total_seconds())}"
               if b.paused_at else ", never paused")
            + f": “{words.plain(b.reason)}”"
            for b in digest.breakglass
        ]  # fmt: skip
        parts.append(_list(words.bold("Break-glass pauses (no approval)"), lines))
    if digest.decisions:
        lines = [
            f"{words.code(d.target)} #{d.request_id}{_group(d.group, words)}: "
            + ("approved by " if d.approved else "denied by ")
            + " and ".join(words.person(user) for user in d.deciders)
            + f", {words.moment(d.at)}"
            for d in digest.decisions
        ]
        parts.append(_list(words.bold("Four-eyes decisions"), lines))
    if digest.endings:
        lines = [
            f"{words.code(e.target)} #{e.request_id}{_group(e.group, words)} {e.outcome}"
            + (f" by {words.person(e.by)}" if e.by else "")
            + f", asked by {words.person(e.requester_id)}, {words.moment(e.at)}"
            + (f" ({words.plain(e.error)})" if e.error and e.outcome == "failed" else "")
            for e in digest.endings
        ]
        parts.append(_list(words.bold("Denied, expired, cancelled and failed requests"), lines))
    parts += _settings_changes(digest, words)
    return parts


def _settings_changes(digest: Digest, words: _Words) -> list[str]:
    """Each request to change a line's call-recording settings: the line, what it changes, how it ended."""
    if not digest.settings_changes:
        return []
    lines = []
    for request in digest.settings_changes:
        what = "; ".join(
            f"{SETTING_LABELS.get(c.name, c.name)} {value_words(c.name, c.before)} → {value_words(c.name, c.after)}"
            for c in request.changes
        )
        deciders = " and ".join(words.person(a.approver_id) for a in request.approvals)
        lines.append(
            f"{words.plain(request.line_name)} #{request.id}: {words.plain(what)}, {request.state.value}"
            + (f" (approved by {deciders})" if deciders else "")
            + f", asked by {words.person(request.requester_id)} for {words.plain(request.reason)}"
            + f", {words.moment(request.created_at)}"
        )
    return [_list(words.bold("Settings changes"), lines)]


def _duration(seconds: float) -> str:
    """A duration in words; past an hour, to the minute (seconds there are noise to a reader)."""
    return format_duration(round(seconds / 60) * 60 if seconds >= 3600 else seconds)


def _group(group: str, words: _Words) -> str:
    return f" ({words.plain(group)})" if group else ""


def _list(title: str, lines: list[str]) -> str:
    shown = lines[:MAX_ITEMS]
    more = len(lines) - len(shown)
    tail = [f"… and {more} more (see the CSV)"] if more else []
    return "\n".join([title, *(f"• {line}" for line in shown), *tail])
