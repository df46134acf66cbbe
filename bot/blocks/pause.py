"""The approval card (rendered from a request's stored state), the requests list and resume answers."""

from __future__ import annotations

from datetime import datetime

from bot.action_ids import ACTION_ABANDON, ACTION_APPROVE, ACTION_DENY, ACTION_RETRY
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
)
from bot.blocks.line_settings import stored_warning_text
from bot.blocks.text import escape
from bot.grammar import format_duration
from bot.models import PauseRequest, RecordingTarget, RequestState, TargetKind

DECISION_BLOCK_ID = "decision"

_CHANNEL_WORDS = {"both": "both sides", "caller": "caller only", "callee": "callee only"}


def _time(moment: datetime | None) -> str:
    return slack_date(moment, "{time}") if moment else "?"


def _target_text(target: RecordingTarget) -> str:
    kind = "extension" if target.kind is TargetKind.EXTENSION else "call ID"
    return f"{kind} {code(target.value)}"


def approval_card(request: PauseRequest, *, approval_minutes: float) -> Message:
    """The card for any state: buttons while a decision is possible, a stamped outcome afterwards."""
    title = f":double_vertical_bar: *Pause request #{request.id}* — recording on {_target_text(request.target)}"
    blocks: list[Block] = [
        section(title),
        fields(
            [
                ("Requested by", mention(request.requester_id)),
                ("Target", _target_text(request.target)),
                ("Channels", _CHANNEL_WORDS.get(request.channels.value, request.channels.value)),
                ("Duration", format_duration(request.duration_seconds)),
            ]
        ),
        section(f"*Reason*\n{escape(request.reason)}"),
    ]
    if request.warning:
        blocks.append(context(f":warning: {escape(stored_warning_text(request.warning))}"))
    blocks.extend(_outcome_blocks(request, approval_minutes=approval_minutes))
    return Message(f"Pause request #{request.id} for {request.target.value}: {_summary(request)}", blocks)


def _decided(request: PauseRequest, verb: str) -> str:
    return f"{verb} by {mention(request.decided_by or '?')} at {_time(request.decided_at)}"


def _outcome_blocks(request: PauseRequest, *, approval_minutes: float) -> list[Block]:
    state = request.state
    if state is RequestState.PENDING:
        return [
            context(
                f"Waiting for an approver other than {mention(request.requester_id)}. "
                f"Expires {slack_date(request.expires_at, '{date_short_pretty} at {time}')}."
            ),
            {
                "type": "actions",
                "block_id": DECISION_BLOCK_ID,
                "elements": [
                    button("Approve", ACTION_APPROVE, str(request.id), style="primary"),
                    button("Deny", ACTION_DENY, str(request.id), style="danger"),
                ],
            },
        ]
    if state in (RequestState.APPROVED, RequestState.EXECUTING):
        return [section(f":hourglass_flowing_sand: {_decided(request, 'Approved')}. Pausing the recording…")]
    if state in (RequestState.ACTIVE, RequestState.RESUMING):
        text = (
            f":white_check_mark: {_decided(request, 'Approved')}. "
            f"*Recording paused until {_time(request.resume_at)}*; it resumes by itself then."
        )
        blocks = [section(text)]
        if request.error and request.resume_attempts:
            blocks.append(
                context(f":warning: The automatic resume failed ({escape(request.error)}); retrying shortly.")
            )
        return blocks
    if state is RequestState.RESUMED:
        if request.resumed_by in (None, "", "system"):
            how = f"resumed automatically at {_time(request.resumed_at)}"
        else:
            how = f"resumed by {mention(request.resumed_by or '?')} at {_time(request.resumed_at)}"
        return [section(f":arrow_forward: {_decided(request, 'Approved')}. Recording paused, then {how}.")]
    if state is RequestState.DENIED:
        return [section(f":no_entry_sign: {_decided(request, 'Denied')}. Nothing was sent to the recording system.")]
    if state is RequestState.EXPIRED:
        return [
            section(
                f":hourglass: Expired at {_time(request.expires_at)}: nobody decided within "
                f"{approval_minutes:g} minutes. Nothing was sent to the recording system."
            )
        ]
    if state is RequestState.FAILED:
        return [
            section(
                f":x: {_decided(request, 'Approved')}, but *the pause failed*: "
                f"{escape(request.error or 'unknown error')}"
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
    if state is RequestState.ABANDONED:
        return [
            section(
                f":wastebasket: Abandoned by {mention(request.resumed_by or request.decided_by or '?')} after the "
                f"pause failed: {escape(request.error or 'unknown error')}"
            )
        ]
    return []


def _summary(request: PauseRequest) -> str:
    return {
        RequestState.PENDING: f"waiting for approval (requested by {request.requester_id})",
        RequestState.APPROVED: f"approved by {request.decided_by}; pausing",
        RequestState.EXECUTING: f"approved by {request.decided_by}; pausing",
        RequestState.ACTIVE: f"paused until {_plain_time(request.resume_at)}",
        RequestState.RESUMING: "resuming",
        RequestState.RESUMED: f"resumed at {_plain_time(request.resumed_at)}",
        RequestState.DENIED: f"denied by {request.decided_by}",
        RequestState.EXPIRED: "expired without a decision",
        RequestState.FAILED: f"the pause failed: {request.error}",
        RequestState.ABANDONED: "abandoned after a failure",
    }[request.state]


def _plain_time(moment: datetime | None) -> str:
    return moment.strftime("%H:%M UTC") if moment else "?"


def outcome_for_requester(request: PauseRequest) -> Message:
    """The private note telling the requester what became of their request."""
    target = _target_text(request.target)
    decider = mention(request.decided_by or "?")
    if request.state is RequestState.ACTIVE:
        text = (
            f":white_check_mark: Your pause request #{request.id} was approved by {decider}: "
            f"the recording on {target} is paused until {_time(request.resume_at)}."
        )
    elif request.state is RequestState.DENIED:
        text = f":no_entry_sign: Your pause request #{request.id} for {target} was denied by {decider}."
    elif request.state is RequestState.FAILED:
        text = (
            f":x: Your pause request #{request.id} for {target} was approved, but the pause failed: "
            f"{escape(request.error or 'unknown error')}"
        )
    elif request.state is RequestState.EXPIRED:
        text = f":hourglass: Your pause request #{request.id} for {target} expired: nobody decided in time."
    else:
        text = f"Your pause request #{request.id} for {target}: {escape(_summary(request))}."
    return Message(f"Pause request #{request.id} for {request.target.value}: {_summary(request)}", [section(text)])


def request_received(request: PauseRequest) -> Message:
    text = (
        f"Pause request #{request.id} for {_target_text(request.target)} is waiting for an approver; "
        "you will be told the outcome."
    )
    return Message(f"Pause request #{request.id} is waiting for an approver.", [section(text)])


def open_requests_message(requests: list[PauseRequest], *, now: datetime) -> Message:
    pending = [r for r in requests if r.state is RequestState.PENDING]
    paused = [r for r in requests if r.state in (RequestState.ACTIVE, RequestState.RESUMING)]
    busy = [r for r in requests if r.state in (RequestState.APPROVED, RequestState.EXECUTING)]
    if not requests:
        return Message(
            "No pending requests and no active pauses.", [section("No pending requests and no active pauses.")]
        )
    blocks: list[Block] = []
    plain: list[str] = []
    if pending:
        lines = [
            f"• #{r.id} {_target_text(r.target)} by {mention(r.requester_id)} for {format_duration(r.duration_seconds)}"
            f" — expires in {_remaining(r.expires_at, now)}"
            for r in pending
        ]
        blocks.append(section(f"*Pending approval* ({len(pending)})\n" + "\n".join(lines)))
        plain += [f"pending #{r.id} {r.target.value}" for r in pending]
    if paused or busy:
        lines = [
            f"• #{r.id} {_target_text(r.target)} — paused, resumes in {_remaining(r.resume_at, now)}"
            f" (at {_time(r.resume_at)})"
            for r in paused
        ] + [f"• #{r.id} {_target_text(r.target)} — pausing now" for r in busy]
        blocks.append(section(f"*Active pauses* ({len(paused) + len(busy)})\n" + "\n".join(lines)))
        plain += [f"active #{r.id} {r.target.value}" for r in paused + busy]
    return Message("; ".join(plain), blocks)


def _remaining(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "?"
    seconds = max(0, int((moment - now).total_seconds()))
    return format_duration(seconds) if seconds else "a moment"


def resumed_message(target: RecordingTarget, user_id: str, requests: list[PauseRequest]) -> Message:
    ids = ", ".join(f"#{r.id}" for r in requests)
    cancelled = f" The automatic resume of {ids} is cancelled." if requests else ""
    text = f":arrow_forward: {mention(user_id)} resumed the recording on {_target_text(target)}.{cancelled}"
    return Message(f"{user_id} resumed the recording on {target.value}.{cancelled}", [section(text)])


def already_decided_message(request: PauseRequest) -> Message:
    """For the loser of a race (or a late click): who decided first, and what the request is now."""
    if request.state is RequestState.EXPIRED:
        text = f"Request #{request.id} has already expired: nobody decided in time."
    elif request.decided_by and request.state is not RequestState.PENDING:
        verb = "denied" if request.state is RequestState.DENIED else "approved"
        text = (
            f"Request #{request.id} was already {verb} by {mention(request.decided_by)} at "
            f"{_time(request.decided_at)}; it is now: {escape(_summary(request))}."
        )
    else:
        text = f"Request #{request.id} is {request.state.value}; there is nothing to decide."
    return Message(text, [section(f":information_source: {text}")])
