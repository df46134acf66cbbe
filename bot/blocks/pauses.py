"""Cards (rendered from a request's stored state), the private notes about requests, the requests list and
resume answers."""

from __future__ import annotations

from datetime import datetime

from bot.action_ids import (
    ACTION_ABANDON,
    ACTION_APPROVE,
    ACTION_BOTH_SIDES,
    ACTION_DENY,
    ACTION_RESUME,
    ACTION_RETRY,
    ACTION_SIDE_ONLY,
)
from bot.blocks.kit import (
    MAX_BLOCKS,
    Block,
    ListRow,
    Message,
    button,
    code,
    context,
    fields,
    mention,
    more_note,
    page_heading,
    paged,
    section,
    slack_date,
    target_text,
    with_typed_text,
)
from bot.blocks.line_settings import stored_warning_text
from bot.blocks.text import escape
from bot.commands.side_choice import side_choice_value
from bot.commands.types import ChooseSide
from bot.models import Channels, PauseRequest, RecordingTarget, RequestKind, RequestState
from bot.words import format_duration

DECISION_BLOCK_ID = "decision"

# Which side a pause silences, in words every card, note and confirmation uses.
_SIDE_WORDS = {
    Channels.BOTH: "both sides",
    Channels.CALLER: "the caller's side only",
    Channels.CALLEE: "the callee's side only",
}
_SYSTEM = "system"


# A window shorter than this shows its times to the second: "16:00" says nothing of a 20-second pause.
_SECONDS_UNDER = 3600


def _time(moment: datetime | None, request: PauseRequest | None = None) -> str:
    """A time on a request's card or note; to the second when the request's window is under an hour."""
    if moment is None:
        return "?"
    return slack_date(moment, seconds=request is not None and request.duration_seconds < _SECONDS_UNDER)


def _target_text(target: RecordingTarget) -> str:
    return target_text(target)


def side_words(channels: Channels) -> str:
    """`both sides`, `the caller's side only`, `the callee's side only`."""
    return _SIDE_WORDS[channels]


def _sides(request: PauseRequest) -> str:
    return side_words(request.channels)


def _request_target(request: PauseRequest) -> str:
    """The target, with the Slack user its extension is linked to."""
    owner = f" ({mention(request.target_user_id)})" if request.target_user_id else ""
    return _target_text(request.target) + owner


def _title(request: PauseRequest) -> str:
    if request.kind is RequestKind.BREAKGLASS:
        return (
            f":rotating_light: *BREAK-GLASS pause #{request.id}* — recording on {_target_text(request.target)} "
            "paused without approval"
        )
    if request.kind is RequestKind.EXTENSION:
        return (
            f":heavy_plus_sign: *More-time request #{request.id}* — {format_duration(request.duration_seconds)} more "
            f"on pause #{request.extends_id} ({_target_text(request.target)})"
        )
    return f":double_vertical_bar: *Pause request #{request.id}* — recording on {_target_text(request.target)}"


def _noun(request: PauseRequest) -> str:
    return {
        RequestKind.BREAKGLASS: "Break-glass pause",
        RequestKind.EXTENSION: "More-time request",
    }.get(request.kind, "Pause request")


def approval_card(request: PauseRequest, *, approval_minutes: float) -> Message:
    """The card for any state: buttons while a decision is possible, a stamped outcome afterwards."""
    who = "Broken by" if request.kind is RequestKind.BREAKGLASS else "Requested by"
    pairs = [
        (who, mention(request.requester_id)),
        ("Target", _request_target(request)),
        ("Sides paused", _sides(request)),
        ("Duration" if request.kind is not RequestKind.EXTENSION else "Extra time",
         format_duration(request.duration_seconds)),
    ]  # fmt: skip
    if request.group_name:
        pairs.append(("Group", code(request.group_name)))
    if request.approvals_needed > 1:
        pairs.append(("Approvals needed", f"{request.approvals_needed} (four eyes)"))
    # The reason as typed (plain text): `*bold*` in it is two asterisks, not bold.
    blocks: list[Block] = [section(_title(request)), fields(pairs), with_typed_text("*Reason*", request.reason)]
    if request.warning:
        blocks.append(context(f":warning: {escape(stored_warning_text(request.warning))}"))
    blocks.extend(context(line) for line in _same_call_lines(request))
    blocks.extend(_outcome_blocks(request, approval_minutes=approval_minutes))
    return Message(f"{_noun(request)} #{request.id} for {_target_text(request.target)}: {_summary(request)}", blocks)


def _and(names: list[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _deciders(request: PauseRequest) -> str:
    """Who approved or denied: every approver of a four-eyes request, in the order they approved."""
    if request.state is not RequestState.DENIED and len(request.approvals) > 1:
        return _and([mention(a.approver_id) for a in request.approvals])
    return mention(request.decided_by or "?")


def _decided(request: PauseRequest, verb: str) -> str:
    if verb == "Approved" and len(request.approvals) > 1:
        who = " and ".join(f"{mention(a.approver_id)} at {_time(a.at, request)}" for a in request.approvals)
        return f"Approved by {who}"
    return f"{verb} by {mention(request.decided_by or '?')} at {_time(request.decided_at, request)}"


def _approvals_so_far(request: PauseRequest) -> str:
    stamps = ", ".join(f"{mention(a.approver_id)}, {_time(a.at)}" for a in request.approvals)
    return f":ballot_box_with_check: {len(request.approvals)} of {request.approvals_needed} approvals: {stamps}"


def _dropped_votes(request: PauseRequest) -> str:
    """Votes of people who may no longer decide this request: shown, struck through, not counted."""
    struck = ", ".join(f"~{mention(a.approver_id)}~ (no longer an approver)" for a in request.dropped_approvals)
    return f":no_entry_sign: Not counted: {struck}"


def _decision_buttons(request: PauseRequest) -> Block:
    return {
        "type": "actions",
        "block_id": DECISION_BLOCK_ID,
        "elements": [
            button("Approve", ACTION_APPROVE, str(request.id), style="primary"),
            button("Deny", ACTION_DENY, str(request.id), style="danger"),
        ],
    }


def _outcome_blocks(request: PauseRequest, *, approval_minutes: float) -> list[Block]:
    state = request.state
    decided = (
        f"Paused without approval by {mention(request.requester_id)} at {_time(request.decided_at, request)}"
        if request.kind is RequestKind.BREAKGLASS else _decided(request, "Approved")
    )  # fmt: skip
    if state is RequestState.PENDING:
        return _pending_blocks(request)
    if state in (RequestState.APPROVED, RequestState.EXECUTING):
        what = "Giving the pause more time…" if request.kind is RequestKind.EXTENSION else "Pausing the recording…"
        return [section(f":hourglass_flowing_sand: {decided}. {what}")]
    if state in (RequestState.ACTIVE, RequestState.RESUMING):
        return _paused_blocks(request, decided)
    if state is RequestState.RESUMED:
        if request.resumed_by in (None, "", _SYSTEM):
            how = f"resumed automatically at {_time(request.resumed_at, request)}"
        else:
            how = f"resumed by {mention(request.resumed_by or '?')} at {_time(request.resumed_at, request)}"
        note = f" ({escape(request.error)})" if request.error else ""
        return [section(f":arrow_forward: {decided}. Recording paused, then {how}{note}.")]
    if state is RequestState.EXTENDED:
        return [
            section(
                f":heavy_plus_sign: {_decided(request, 'Approved')}. Pause #{request.extends_id} now ends at "
                f"*{_time(request.resume_at, request)}*."
            )
        ]
    if state is RequestState.FAILED:
        return _failed_blocks(request, decided)
    return _ended_blocks(request, approval_minutes=approval_minutes)


def _pending_blocks(request: PauseRequest) -> list[Block]:
    if request.approvals_needed > 1:
        left = max(0, request.approvals_needed - len(request.approvals))
        counted = f"{len(request.approvals)} of {request.approvals_needed} approvals so far; "
        counted = counted if request.approvals else ""
        others = [mention(who) for who in [request.requester_id, *(a.approver_id for a in request.approvals)]]
        waiting = f"{counted}waiting for {left} more approver{'s' if left != 1 else ''} other than {_and(others)}"
        waiting = waiting[0].upper() + waiting[1:]
    else:
        waiting = f"Waiting for an approver other than {mention(request.requester_id)}"
    if request.group_name:
        waiting += f" (the {escape(request.group_name)} group's approvers, floor managers or admins)"
    blocks: list[Block] = []
    if request.approvals:
        blocks.append(section(_approvals_so_far(request)))
    if request.dropped_approvals:
        blocks.append(context(_dropped_votes(request)))
    blocks.append(context(f"{waiting}. Expires {_time(request.expires_at, request)}."))
    blocks.append(_decision_buttons(request))
    return blocks


def _paused_blocks(request: PauseRequest, decided: str) -> list[Block]:
    text = (
        f":white_check_mark: {decided}. *Recording paused until {_time(request.resume_at, request)}* "
        f"({_sides(request)}); it resumes by itself then."
    )
    blocks = [section(text)]
    if request.error and request.resume_attempts:
        blocks.append(context(f":warning: The automatic resume failed ({escape(request.error)}); retrying shortly."))
    if request.kind is RequestKind.BREAKGLASS:
        blocks.append(
            {
                "type": "actions",
                "block_id": "resume",
                "elements": [button("Resume now", ACTION_RESUME, str(request.id), style="primary")],
            }
        )
    return blocks


def _failed_blocks(request: PauseRequest, decided: str) -> list[Block]:
    return [
        section(f":x: {decided}, but *the pause failed*: {escape(request.error or 'unknown error')}"),
        context(f"Retry until {_time(request.expires_at, request)}; after that the request is abandoned by itself."),
        {
            "type": "actions",
            "block_id": DECISION_BLOCK_ID,
            "elements": [
                button("Retry", ACTION_RETRY, str(request.id), style="primary"),
                button("Abandon", ACTION_ABANDON, str(request.id)),
            ],
        },
    ]


def _ended_blocks(request: PauseRequest, *, approval_minutes: float) -> list[Block]:
    """Denied, cancelled, expired or abandoned: nothing is paused."""
    state = request.state
    if state is RequestState.DENIED:
        return [section(f":no_entry_sign: {_decided(request, 'Denied')}. Nothing was sent to the recording system.")]
    if state is RequestState.CANCELLED:
        return [
            section(
                f":leftwards_arrow_with_hook: {_capitalized(_cancelled(request))}. "
                "Nothing was sent to the recording system."
            )
        ]
    if state is RequestState.EXPIRED:
        if request.kind is RequestKind.EXTENSION:
            why = escape(request.error) if request.error else "nobody decided before the pause ended or in time"
            expired = f"Expired at {_time(request.expires_at, request)}: {why}. The pause was not given more time."
            return [section(f":hourglass: {expired}")]
        return [
            section(
                f":hourglass: Expired at {_time(request.expires_at, request)}: nobody decided within "
                f"{format_duration(approval_minutes * 60)}. Nothing was sent to the recording system."
            )
        ]
    if state is RequestState.ABANDONED:
        if request.resumed_by == _SYSTEM:
            return [section(f":wastebasket: Abandoned by itself: {escape(request.error or 'no retry in time')}")]
        return [
            section(
                f":wastebasket: Abandoned by {mention(request.resumed_by or request.decided_by or '?')} after the "
                f"pause failed: {escape(request.error or 'unknown error')}"
            )
        ]
    return []


def _summary(request: PauseRequest) -> str:
    """The request's state in a few words (mrkdwn: user IDs as mentions, upstream text escaped)."""
    return {
        RequestState.PENDING: f"waiting for approval (requested by {mention(request.requester_id)})",
        RequestState.APPROVED: f"approved by {mention(request.decided_by or '?')}; pausing",
        RequestState.EXECUTING: f"approved by {mention(request.decided_by or '?')}; pausing",
        RequestState.ACTIVE: f"paused until {_time(request.resume_at, request)}",
        RequestState.RESUMING: "resuming",
        RequestState.RESUMED: f"resumed at {_time(request.resumed_at, request)}",
        RequestState.DENIED: f"denied by {mention(request.decided_by or '?')}",
        RequestState.EXPIRED: "expired without a decision",
        RequestState.FAILED: f"the pause failed: {escape(request.error or 'unknown error')}",
        RequestState.ABANDONED: "abandoned after a failure",
        RequestState.CANCELLED: _cancelled(request),
        RequestState.EXTENDED: f"approved; the pause now ends at {_time(request.resume_at, request)}",
    }[request.state]


def _cancelled(request: PauseRequest) -> str:
    """"cancelled by <@U…>", or, when the bot withdrew the request itself, "withdrawn: <why>"."""
    if request.cancelled_by == _SYSTEM:
        return f"withdrawn: {escape(request.error or 'by recording-bot')}"
    return f"cancelled by {mention(request.cancelled_by or '?')}"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _link(link: str | None, words: str = "the card") -> str:
    return f"<{link}|{words}>" if link else words


# -- private notes ---------------------------------------------------------------------------------


def outcome_for_requester(request: PauseRequest) -> Message:
    """The private note telling the requester what became of their request."""
    target = _target_text(request.target)
    noun = _noun(request).lower()
    decider = _deciders(request)
    if request.state is RequestState.ACTIVE:
        text = (
            f":white_check_mark: Your {noun} #{request.id} was approved by {decider}: "
            f"the recording on {target} is paused ({_sides(request)}) until {_time(request.resume_at, request)}."
        )
    elif request.state is RequestState.EXTENDED:
        text = (
            f":heavy_plus_sign: Your more-time request #{request.id} was approved by {decider}: pause "
            f"#{request.extends_id} on {target} now ends at {_time(request.resume_at, request)}."
        )
    elif request.state is RequestState.DENIED:
        text = f":no_entry_sign: Your {noun} #{request.id} for {target} was denied by {decider}."
    elif request.state is RequestState.FAILED:
        text = (
            f":x: Your {noun} #{request.id} for {target} was approved, but the pause failed: "
            f"{escape(request.error or 'unknown error')}"
        )
    elif request.state is RequestState.EXPIRED:
        text = f":hourglass: Your {noun} #{request.id} for {target} expired: nobody decided in time."
    else:
        text = f"Your {noun} #{request.id} for {target}: {_summary(request)}."
    return Message(f"{_noun(request)} #{request.id} for {target}: {_summary(request)}", [section(text)])


def request_received(request: PauseRequest, link: str | None = None) -> Message:
    """The requester's private confirmation, with a link to the card (which may be in another channel)."""
    noun = _noun(request)
    where = ""
    if request.card_channel_id and request.card_channel_id != request.channel_id:
        where = f" in <#{request.card_channel_id}>"
    if request.kind is RequestKind.BREAKGLASS:
        state = (
            f"is in effect until {_time(request.resume_at, request)}; every admin has been told"
            if request.state is RequestState.ACTIVE
            else f"did not take effect: {escape(request.error or request.state)}"
        )  # fmt: skip
        text = (
            f":rotating_light: Break-glass pause #{request.id} on {_target_text(request.target)} ({_sides(request)}) "
            f"{state} ({_link(link)})."
        )
        return Message(f"Break-glass pause #{request.id}: {_summary(request)}", [section(text)])
    waiting = f"{request.approvals_needed} approvers" if request.approvals_needed > 1 else "an approver"
    pausing = "" if request.kind is RequestKind.EXTENSION else f" ({_sides(request)})"
    text = (
        f"{noun} #{request.id} for {_target_text(request.target)}{pausing} is waiting for {waiting}{where} "
        f"({_link(link)}); you will be told the outcome. `/recording cancel {request.id}` withdraws it."
    )
    return Message(f"{noun} #{request.id} is waiting for {waiting}.", [section(text)])


def decider_notice(request: PauseRequest, link: str | None) -> Message:
    """An approver's private note: a request waits for their decision."""
    duration, target = format_duration(request.duration_seconds), _target_text(request.target)
    asks = (
        f"asks for {duration} more on pause #{request.extends_id} of the recording on {target}"
        if request.kind is RequestKind.EXTENSION
        else f"asks to pause the recording on {target} ({_sides(request)}) for {duration}"
    )
    group = f" ({escape(request.group_name)} group)" if request.group_name else ""
    text = (
        f":bell: {mention(request.requester_id)}{group} {asks}.\nDecide on {_link(link)} "
        f"(request #{request.id}, expires {_time(request.expires_at, request)}). Their reason:"
    )
    return Message(
        f"{_noun(request)} #{request.id} for {_target_text(request.target)} waits for your decision.",
        [with_typed_text(text, request.reason), *(context(line) for line in _same_call_lines(request))],
    )


def _same_call_lines(request: PauseRequest) -> list[str]:
    """The approver's warning: other open requests act on the same recording (see models.SameCall)."""
    lines = []
    for same in request.same_call[:5]:
        who = (
            f"Open request #{same.request_id}" if same.request_id is not None
            else "An open request in another workspace"
        )  # fmt: skip
        where = (
            "is on the same call or Webex line" if same.certain
            else "may be on the same Webex line (that name fits more than one line)"
        )  # fmt: skip
        lines.append(
            f":warning: {who} ({code(same.target)}) {where}: two pauses of one recording would disagree about "
            "its state. Check it before you decide."
        )
    if len(request.same_call) > 5:
        lines.append(f":warning: … and {len(request.same_call) - 5} more open requests on the same call or line.")
    return lines


def reminder_notice(request: PauseRequest) -> Message:
    text = (
        f":alarm_clock: The pause of the recording on {_target_text(request.target)} (#{request.id}) ends at "
        f"{_time(request.resume_at, request)}. Need longer? `/recording extend #{request.id} 5m &lt;reason&gt;`"
    )
    return Message(f"Pause #{request.id} ends at {_time(request.resume_at, request)}.", [section(text)])


def ended_notice(request: PauseRequest) -> Message:
    if request.resumed_by in (None, "", _SYSTEM):
        how = "resumed automatically at the end of its window"
    else:
        how = f"resumed by {mention(request.resumed_by or '?')}"
    note = f" ({escape(request.error)})" if request.error else ""
    text = (
        f":arrow_forward: The pause #{request.id} of the recording on {_target_text(request.target)} has ended: "
        f"{how}{note}."
    )
    return Message(f"Pause #{request.id} on {_target_text(request.target)} has ended.", [section(text)])


def breakglass_notice(request: PauseRequest, link: str | None) -> Message:
    text = (
        f":rotating_light: {mention(request.requester_id)} broke glass: the recording on "
        f"{_target_text(request.target)} ({_sides(request)}) is paused without approval until "
        f"{_time(request.resume_at, request)} ({_link(link)}, #{request.id}). Their reason:"
    )
    return Message(
        f"Break-glass pause #{request.id} on {_target_text(request.target)} by {mention(request.requester_id)}.",
        [with_typed_text(text, request.reason)],
    )


# -- lists and answers -----------------------------------------------------------------------------


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
            f"• #{r.id} {_target_text(r.target)}{_group(r)}"
            f"{' (break-glass)' if r.kind is RequestKind.BREAKGLASS else ''}"
            f" — paused, resumes in {_remaining(r.resume_at, now)} (at {_time(r.resume_at, r)})",
            part=active_part,
        )
        for r in paused
    ]
    rows += [ListRow(f"• #{r.id} {_target_text(r.target)}{_group(r)} — pausing now", part=active_part) for r in busy]
    rows += [
        ListRow(
            f"• #{r.id} {_target_text(r.target)}{_group(r)} — failed: {escape(_clip(r.error or 'unknown error'))}; "
            f"Retry or Abandon on its card until {_time(r.expires_at, r)}",
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
            f"({_target_text(request.target)})"
        )
    return f"{_target_text(request.target)} for {format_duration(request.duration_seconds)}"


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
            f":arrow_forward: {mention(user_id)} resumed the recording on {_target_text(target)}, ending pause {ids}. "
            f"The automatic resume of {ids} is cancelled."
        )
        plain = (
            f"{mention(user_id)} resumed the recording on {_target_text(target)}, ending pause {ids}. "
            f"The automatic resume of {ids} is cancelled."
        )
    else:
        text = (
            f":arrow_forward: {mention(user_id)} sent a resume for the recording on {_target_text(target)}: no pause "
            "by recording-bot was active there, and the resume was sent anyway (it is the safe direction)."
        )
        plain = (
            f"{mention(user_id)} sent a resume for {_target_text(target)}; no pause by recording-bot was active there."
        )
    blocks = [section(text)]
    for request in pending or []:
        note = (
            f"Request #{request.id} on {_target_text(target)} is still waiting for approval; the resume did not "
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
        text = f"Request #{request.id} was {_cancelled(request)}; there is nothing to decide."
    elif request.decided_by and request.state is not RequestState.PENDING:
        verb = "denied" if request.state is RequestState.DENIED else "approved"
        text = (
            f"Request #{request.id} was already {verb} by {mention(request.decided_by)} at "
            f"{_time(request.decided_at, request)}; it is now: {_summary(request)}."
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
    text = f"{_noun(request)} #{request.id} for {_target_text(request.target)} is cancelled; its card says so."
    return Message(text, [section(f":leftwards_arrow_with_hook: {text}")])


def side_question(choice: ChooseSide) -> Message:
    """`pause 8857 2m caller is reading…`: which was meant, the caller's side only or both sides? Each
    button carries its reading; nothing is asked or paused until one is clicked."""
    side_only, both = choice.side_only, choice.both_sides
    side = side_only.channels.value
    target = _target_text(side_only.target)
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
