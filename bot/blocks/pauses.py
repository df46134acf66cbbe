"""Cards (rendered from a request's stored state) and the private notes about requests; the lists and answers
are in pause_answers.py."""

from __future__ import annotations

from datetime import datetime

from bot.action_ids import (
    ACTION_ABANDON,
    ACTION_APPROVE,
    ACTION_DENY,
    ACTION_RESUME,
    ACTION_RETRY,
)
from bot.blocks.kit import (
    Block,
    Message,
    button,
    code,
    context,
    fields,
    mention,
    section,
    slack_date,
    target_text,
    with_typed_text,
)
from bot.blocks.line_settings import stored_warning_text
from bot.blocks.text import escape
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


def card_time(moment: datetime | None, request: PauseRequest | None = None) -> str:
    """A time on a request's card or note; to the second when the request's window is under an hour."""
    if moment is None:
        return "?"
    return slack_date(moment, seconds=request is not None and request.duration_seconds < _SECONDS_UNDER)


def target_words(target: RecordingTarget) -> str:
    return target_text(target)


def side_words(channels: Channels) -> str:
    """`both sides`, `the caller's side only`, `the callee's side only`."""
    return _SIDE_WORDS[channels]


def _sides(request: PauseRequest) -> str:
    return side_words(request.channels)


def _request_target(request: PauseRequest) -> str:
    """The target, with the Slack user its extension is linked to."""
    owner = f" ({mention(request.target_user_id)})" if request.target_user_id else ""
    return target_words(request.target) + owner


def _title(request: PauseRequest) -> str:
    if request.kind is RequestKind.BREAKGLASS:
        return (
            f":rotating_light: *BREAK-GLASS pause #{request.id}* — recording on {target_words(request.target)} "
            "paused without approval"
        )
    if request.kind is RequestKind.EXTENSION:
        return (
            f":heavy_plus_sign: *More-time request #{request.id}* — {format_duration(request.duration_seconds)} more "
            f"on pause #{request.extends_id} ({target_words(request.target)})"
        )
    return f":double_vertical_bar: *Pause request #{request.id}* — recording on {target_words(request.target)}"


def request_noun(request: PauseRequest) -> str:
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
    text = f"{request_noun(request)} #{request.id} for {target_words(request.target)}: {request_summary(request)}"
    return Message(text, blocks)


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
        who = " and ".join(f"{mention(a.approver_id)} at {card_time(a.at, request)}" for a in request.approvals)
        return f"Approved by {who}"
    return f"{verb} by {mention(request.decided_by or '?')} at {card_time(request.decided_at, request)}"


def _approvals_so_far(request: PauseRequest) -> str:
    stamps = ", ".join(f"{mention(a.approver_id)}, {card_time(a.at)}" for a in request.approvals)
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
        f"Paused without approval by {mention(request.requester_id)} at {card_time(request.decided_at, request)}"
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
            how = f"resumed automatically at {card_time(request.resumed_at, request)}"
        else:
            how = f"resumed by {mention(request.resumed_by or '?')} at {card_time(request.resumed_at, request)}"
        note = f" ({escape(request.error)})" if request.error else ""
        return [section(f":arrow_forward: {decided}. Recording paused, then {how}{note}.")]
    if state is RequestState.EXTENDED:
        return [
            section(
                f":heavy_plus_sign: {_decided(request, 'Approved')}. Pause #{request.extends_id} now ends at "
                f"*{card_time(request.resume_at, request)}*."
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
    blocks.append(context(f"{waiting}. Expires {card_time(request.expires_at, request)}."))
    blocks.append(_decision_buttons(request))
    return blocks


def _paused_blocks(request: PauseRequest, decided: str) -> list[Block]:
    text = (
        f":white_check_mark: {decided}. *Recording paused until {card_time(request.resume_at, request)}* "
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
        context(
            f"Retry until {card_time(request.expires_at, request)}; after that the request is abandoned by itself."
        ),
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
                f":leftwards_arrow_with_hook: {_capitalized(cancelled_words(request))}. "
                "Nothing was sent to the recording system."
            )
        ]
    if state is RequestState.EXPIRED:
        if request.kind is RequestKind.EXTENSION:
            why = escape(request.error) if request.error else "nobody decided before the pause ended or in time"
            expired = f"Expired at {card_time(request.expires_at, request)}: {why}. The pause was not given more time."
            return [section(f":hourglass: {expired}")]
        return [
            section(
                f":hourglass: Expired at {card_time(request.expires_at, request)}: nobody decided within "
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


def request_summary(request: PauseRequest) -> str:
    """The request's state in a few words (mrkdwn: user IDs as mentions, upstream text escaped)."""
    return {
        RequestState.PENDING: f"waiting for approval (requested by {mention(request.requester_id)})",
        RequestState.APPROVED: f"approved by {mention(request.decided_by or '?')}; pausing",
        RequestState.EXECUTING: f"approved by {mention(request.decided_by or '?')}; pausing",
        RequestState.ACTIVE: f"paused until {card_time(request.resume_at, request)}",
        RequestState.RESUMING: "resuming",
        RequestState.RESUMED: f"resumed at {card_time(request.resumed_at, request)}",
        RequestState.DENIED: f"denied by {mention(request.decided_by or '?')}",
        RequestState.EXPIRED: "expired without a decision",
        RequestState.FAILED: f"the pause failed: {escape(request.error or 'unknown error')}",
        RequestState.ABANDONED: "abandoned after a failure",
        RequestState.CANCELLED: cancelled_words(request),
        RequestState.EXTENDED: f"approved; the pause now ends at {card_time(request.resume_at, request)}",
    }[request.state]


def cancelled_words(request: PauseRequest) -> str:
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
    target = target_words(request.target)
    noun = request_noun(request).lower()
    decider = _deciders(request)
    if request.state is RequestState.ACTIVE:
        text = (
            f":white_check_mark: Your {noun} #{request.id} was approved by {decider}: "
            f"the recording on {target} is paused ({_sides(request)}) until {card_time(request.resume_at, request)}."
        )
    elif request.state is RequestState.EXTENDED:
        text = (
            f":heavy_plus_sign: Your more-time request #{request.id} was approved by {decider}: pause "
            f"#{request.extends_id} on {target} now ends at {card_time(request.resume_at, request)}."
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
        text = f"Your {noun} #{request.id} for {target}: {request_summary(request)}."
    return Message(f"{request_noun(request)} #{request.id} for {target}: {request_summary(request)}", [section(text)])


def request_received(request: PauseRequest, link: str | None = None) -> Message:
    """The requester's private confirmation, with a link to the card (which may be in another channel)."""
    noun = request_noun(request)
    where = ""
    if request.card_channel_id and request.card_channel_id != request.channel_id:
        where = f" in <#{request.card_channel_id}>"
    if request.kind is RequestKind.BREAKGLASS:
        state = (
            f"is in effect until {card_time(request.resume_at, request)}; every admin has been told"
            if request.state is RequestState.ACTIVE
            else f"did not take effect: {escape(request.error or request.state)}"
        )  # fmt: skip
        text = (
            f":rotating_light: Break-glass pause #{request.id} on {target_words(request.target)} ({_sides(request)}) "
            f"{state} ({_link(link)})."
        )
        return Message(f"Break-glass pause #{request.id}: {request_summary(request)}", [section(text)])
    waiting = f"{request.approvals_needed} approvers" if request.approvals_needed > 1 else "an approver"
    pausing = "" if request.kind is RequestKind.EXTENSION else f" ({_sides(request)})"
    text = (
        f"{noun} #{request.id} for {target_words(request.target)}{pausing} is waiting for {waiting}{where} "
        f"({_link(link)}); you will be told the outcome. `/recording cancel {request.id}` withdraws it."
    )
    return Message(f"{noun} #{request.id} is waiting for {waiting}.", [section(text)])


def decider_notice(request: PauseRequest, link: str | None) -> Message:
    """An approver's private note: a request waits for their decision."""
    duration, target = format_duration(request.duration_seconds), target_words(request.target)
    asks = (
        f"asks for {duration} more on pause #{request.extends_id} of the recording on {target}"
        if request.kind is RequestKind.EXTENSION
        else f"asks to pause the recording on {target} ({_sides(request)}) for {duration}"
    )
    group = f" ({escape(request.group_name)} group)" if request.group_name else ""
    text = (
        f":bell: {mention(request.requester_id)}{group} {asks}.\nDecide on {_link(link)} "
        f"(request #{request.id}, expires {card_time(request.expires_at, request)}). Their reason:"
    )
    return Message(
        f"{request_noun(request)} #{request.id} for {target_words(request.target)} waits for your decision.",
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
        f":alarm_clock: The pause of the recording on {target_words(request.target)} (#{request.id}) ends at "
        f"{card_time(request.resume_at, request)}. Need longer? `/recording extend #{request.id} 5m &lt;reason&gt;`"
    )
    return Message(f"Pause #{request.id} ends at {card_time(request.resume_at, request)}.", [section(text)])


def ended_notice(request: PauseRequest) -> Message:
    if request.resumed_by in (None, "", _SYSTEM):
        how = "resumed automatically at the end of its window"
    else:
        how = f"resumed by {mention(request.resumed_by or '?')}"
    note = f" ({escape(request.error)})" if request.error else ""
    text = (
        f":arrow_forward: The pause #{request.id} of the recording on {target_words(request.target)} has ended: "
        f"{how}{note}."
    )
    return Message(f"Pause #{request.id} on {target_words(request.target)} has ended.", [section(text)])


def breakglass_notice(request: PauseRequest, link: str | None) -> Message:
    text = (
        f":rotating_light: {mention(request.requester_id)} broke glass: the recording on "
        f"{target_words(request.target)} ({_sides(request)}) is paused without approval until "
        f"{card_time(request.resume_at, request)} ({_link(link)}, #{request.id}). Their reason:"
    )
    return Message(
        f"Break-glass pause #{request.id} on {target_words(request.target)} by {mention(request.requester_id)}.",
        [with_typed_text(text, request.reason)],
    )
