"""The answers about requests: the list of open ones, a resume's answer, a decision that came too late,
a counted approval, a cancellation, and the question which side a pause silences."""

from __future__ import annotations

from datetime import datetime

from bot.action_ids import (
    ACTION_BOTH_SIDES,
    ACTION_SIDE_ONLY,
)
from bot.blocks.kit import (
    MAX_BLOCKS,
    Block,
    ListRow,
    Message,
    button,
    context,
    mention,
    more_note,
    page_heading,
    paged,
    section,
    with_typed_text,
)
from bot.blocks.pauses import cancelled_words, card_time, request_noun, request_summary, side_words, target_words
from bot.blocks.text import escape
from bot.commands.side_choice import side_choice_value
from bot.commands.types import ChooseSide
from bot.models import PauseRequest, RecordingTarget, RequestKind, RequestState
from bot.words import format_duration


def open_requests_message(requests: list[PauseRequest], *, now: datetime, page: int = 1) -> Message:
    """Pending, active and failed requests, one row each, over as many pages as they need: a row is never
    cut, and a page that does not show everything says which command shows the rest."""
    pending = [r for r in requests if r.state is RequestState.PENDING]
    paused = [r for r in requests if r.state in (RequestState.ACTIVE, RequestState.RESUMING)]
    busy = [r for r in requests if r.state in (RequestState.APPROVED, RequestState.EXECUTING)]
    failed = [r for r in requests if r.state is RequestState.FAILED]
    if not requests:
        return Message(
            "No pending requests and no active pauses.", [section("No pending requests and no active pauses.")]
        )
    pending_part = f"*Pending approval* ({len(pending)})"
    active_part = f"*Active pauses* ({len(paused) + len(busy)})"
    failed_part = f"*Failed, awaiting Retry or Abandon* ({len(failed)})"
    rows = [
        ListRow(
            f"• #{r.id} {_what(r)} by {mention(r.requester_id)}{_group(r)}"
            f"{_votes(r)} — expires in {_remaining(r.expires_at, now)}",
            part=pending_part,
        )
        for r in pending
    ]
    rows += [
        ListRow(
            f"• #{r.id} {target_words(r.target)}{_group(r)}"
            f"{' (break-glass)' if r.kind is RequestKind.BREAKGLASS else ''}"
            f" — paused, resumes in {_remaining(r.resume_at, now)} (at {card_time(r.resume_at, r)})",
            part=active_part,
        )
        for r in paused
    ]
    rows += [ListRow(f"• #{r.id} {target_words(r.target)}{_group(r)} — pausing now", part=active_part) for r in busy]
    rows += [
        ListRow(
            f"• #{r.id} {target_words(r.target)}{_group(r)} — failed: {escape(_clip(r.error or 'unknown error'))}; "
            f"Retry or Abandon on its card until {card_time(r.expires_at, r)}",
            part=failed_part,
        )
        for r in failed
    ]
    shown = paged(rows, page=page, max_sections=MAX_BLOCKS - 2)
    counts = [
        f"{len(pending)} pending approval" if pending else "",
        f"{len(paused) + len(busy)} active" if paused or busy else "",
        f"{len(failed)} failed" if failed else "",
    ]
    summary = "Open requests: " + ", ".join(c for c in counts if c) + page_heading(shown)
    blocks: list[Block] = list(shown.blocks)
    if shown.pages > 1:
        blocks.insert(0, context(summary))
    note = more_note(shown, next_page=f"/recording requests page {shown.number + 1}")
    if note:
        blocks.append(note)
    return Message(summary + ".", blocks)


# An upstream error in a list row: enough to recognise it; the card has it whole.
_ERROR_CHARS_IN_LIST = 300


def _clip(text: str) -> str:
    return text if len(text) <= _ERROR_CHARS_IN_LIST else text[: _ERROR_CHARS_IN_LIST - 1] + "…"


def _what(request: PauseRequest) -> str:
    if request.kind is RequestKind.EXTENSION:
        return (
            f"{format_duration(request.duration_seconds)} more on pause #{request.extends_id} "
            f"({target_words(request.target)})"
        )
    return f"{target_words(request.target)} for {format_duration(request.duration_seconds)}"


def _group(request: PauseRequest) -> str:
    return f" [{escape(request.group_name)}]" if request.group_name else ""


def _votes(request: PauseRequest) -> str:
    if request.approvals_needed < 2:
        return ""
    return f", {len(request.approvals)} of {request.approvals_needed} approvals"


def _remaining(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "?"
    seconds = max(0, int((moment - now).total_seconds()))
    return format_duration(seconds) if seconds else "a moment"


def resumed_message(
    target: RecordingTarget,
    user_id: str,
    requests: list[PauseRequest],
    pending: list[PauseRequest] | None = None,
    *,
    unwritten: str | None = None,
) -> Message:
    """What a resume did: which pause it ended, or that none of the bot's pauses was active there.
    `unwritten`: why the database could not record it yet."""
    if requests:
        ids = ", ".join(f"#{r.id}" for r in requests)
        text = (
            f":arrow_forward: {mention(user_id)} resumed the recording on {target_words(target)}, ending pause {ids}. "
            f"The automatic resume of {ids} is cancelled."
        )
        plain = (
            f"{mention(user_id)} resumed the recording on {target_words(target)}, ending pause {ids}. "
            f"The automatic resume of {ids} is cancelled."
        )
    else:
        text = (
            f":arrow_forward: {mention(user_id)} sent a resume for the recording on {target_words(target)}: no pause "
            "by recording-bot was active there, and the resume was sent anyway (it is the safe direction)."
        )
        plain = (
            f"{mention(user_id)} sent a resume for {target_words(target)}; no pause by recording-bot was active there."
        )
    blocks = [section(text)]
    for request in pending or []:
        note = (
            f"Request #{request.id} on {target_words(target)} is still waiting for approval; the resume did not "
            f"touch it. `/recording cancel {request.id}` withdraws it."
        )
        blocks.append(context(note))
        plain += f" Request #{request.id} is still waiting for approval."
    if unwritten:
        note = (
            f":warning: The recording system has resumed it, but the bot's database could not record that yet "
            f"({unwritten}). The bot records it as soon as it can, and will not resume this pause again."
        )
        blocks.append(context(note))
        plain += " The database could not record the resume yet; the bot records it as soon as it can."
    return Message(plain, blocks)


def already_decided_message(request: PauseRequest) -> Message:
    """For the loser of a race (or a late click): who decided first, and what the request is now."""
    if request.state is RequestState.EXPIRED:
        text = f"Request #{request.id} has already expired: nobody decided in time."
    elif request.state is RequestState.CANCELLED:
        text = f"Request #{request.id} was {cancelled_words(request)}; there is nothing to decide."
    elif request.decided_by and request.state is not RequestState.PENDING:
        verb = "denied" if request.state is RequestState.DENIED else "approved"
        text = (
            f"Request #{request.id} was already {verb} by {mention(request.decided_by)} at "
            f"{card_time(request.decided_at, request)}; it is now: {request_summary(request)}."
        )
    else:
        text = f"Request #{request.id} is {request.state.value}; there is nothing to decide."
    return Message(text, [section(f":information_source: {text}")])


def approval_counted_message(request: PauseRequest) -> Message:
    """The first approver of a four-eyes request: their approval counted; another is needed."""
    waiting = request.approvals_needed - len(request.approvals)
    text = (
        f"Your approval of request #{request.id} counted ({len(request.approvals)} of {request.approvals_needed}); "
        f"it waits for {waiting} more, from another approver."
    )
    return Message(text, [section(f":ballot_box_with_check: {text}")])


def cancelled_message(request: PauseRequest) -> Message:
    text = f"{request_noun(request)} #{request.id} for {target_words(request.target)} is cancelled; its card says so."
    return Message(text, [section(f":leftwards_arrow_with_hook: {text}")])


def side_question(choice: ChooseSide) -> Message:
    """`pause 8857 2m caller is reading…`: which was meant, the caller's side only or both sides? Each
    button carries its reading; nothing is asked or paused until one is clicked."""
    side_only, both = choice.side_only, choice.both_sides
    side = side_only.channels.value
    target = target_words(side_only.target)
    verb = "break glass on" if choice.subcommand == "breakglass" else "pause"
    text = (
        f":grey_question: Did you mean to {verb} {target} for *{side_words(side_only.channels)}*, or for *both "
        f"sides* with a reason that begins with “{side}”? The two reasons, as they would be kept:"
    )
    nothing = "Nothing is paused" if choice.subcommand == "breakglass" else "Nothing is asked"
    duration = format_duration(side_only.duration_seconds)
    blocks: list[Block] = [
        section(text),
        with_typed_text(f"*Only the {side}'s side* — for {duration}:", side_only.reason),
        with_typed_text(f"*Both sides* — for {duration}:", both.reason),
        {
            "type": "actions",
            "block_id": "choose_side",
            "elements": [
                button(
                    f"Only the {side}'s side", ACTION_SIDE_ONLY, side_choice_value(choice.subcommand, side_only)
                ),
                button("Both sides", ACTION_BOTH_SIDES, side_choice_value(choice.subcommand, both), style="primary"),
            ],
        },
        context(
            f"{nothing} until you choose. Next time, a side before the duration is never read as part of the "
            f"reason: `{side} 2m …` pauses only the {side}'s side, `both 2m {side} …` both sides."
        ),
    ]
    return Message(f"Pause {target}: only the {side}'s side, or both sides? Choose one.", blocks)
