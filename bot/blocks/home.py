"""The App Home tab: a Pause button, the requests to decide (with Approve / Deny), the active pauses (with
Resume now) and one's own recent requests. Slack allows 100 blocks in a view; long lists say how many
more there are and where to see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.action_ids import ACTION_APPROVE, ACTION_DENY, ACTION_OPEN_PAUSE_FORM, ACTION_RESUME
from bot.blocks.kit import (
    Block,
    ListRow,
    button,
    context,
    divider,
    header,
    mention,
    paged,
    section,
    slack_date,
    target_text,
    with_typed_text,
)
from bot.blocks.pauses import side_words
from bot.blocks.text import escape
from bot.models import PauseRequest, RequestKind, RequestState
from bot.words import format_duration

View = dict[str, Any]

MAX_VIEW_BLOCKS = 100
# Each listed request takes at most two blocks (a section with its buttons as an accessory or an actions row).
_MAX_LISTED = 20


def home_view(
    *,
    user_id: str,
    role: str,
    group_name: str | None,
    to_decide: list[PauseRequest],
    active: list[PauseRequest],
    mine: list[PauseRequest],
    now: datetime,
) -> View:
    group = f" in the *{escape(group_name)}* group" if group_name else ""
    blocks: list[Block] = [
        header("recording-bot"),
        section(f"You are {mention(user_id)}, *{escape(role)}*{group}."),
        {
            "type": "actions",
            "block_id": "home_actions",
            "elements": [button("Pause a recording", ACTION_OPEN_PAUSE_FORM, "home", style="primary")],
        },
    ]
    if role != "requester":
        blocks += [divider(), section(f"*Waiting for your decision* ({len(to_decide)})")]
        if not to_decide:
            blocks.append(context("Nothing waits for you."))
        for request in to_decide[:_MAX_LISTED]:
            # The reason as typed (plain text), so `*bold*` in it is not bold.
            blocks.append(with_typed_text(_pending_line(request), request.reason[:300]))
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"decide_{request.id}",
                    "elements": [
                        button("Approve", ACTION_APPROVE, str(request.id), style="primary"),
                        button("Deny", ACTION_DENY, str(request.id), style="danger"),
                    ],
                }
            )
        blocks += _more(len(to_decide), "`/recording requests` lists them all")
    blocks += [divider(), section(f"*Active pauses you can see* ({len(active)})")]
    if not active:
        blocks.append(context("No pause is active."))
    for request in active[:_MAX_LISTED]:
        until = slack_date(request.resume_at) if request.resume_at else "?"
        line = f"#{request.id} {_target(request)} — paused until {until} ({_remaining(request.resume_at, now)} left)"
        blocks.append(
            {
                "type": "section",
                "block_id": f"active_{request.id}",
                "text": {"type": "mrkdwn", "text": line},
                "accessory": button("Resume now", ACTION_RESUME, str(request.id)),
            }
        )
    blocks += _more(len(active), "`/recording requests` lists them all")
    blocks += [divider(), section("*Your recent requests*")]
    if not mine:
        blocks.append(context("You have not asked for a pause yet."))
    else:
        rows = [ListRow(f"• #{r.id} {_target(r)} — {_state_words(r)}") for r in mine]
        # The service hands over a few recent requests; the room left in the view bounds them anyway.
        recent = paged(rows, page=1, max_sections=MAX_VIEW_BLOCKS - len(blocks) - 1)
        blocks += recent.blocks
        if recent.after:
            blocks.append(context(f"… and {recent.after} more: `/recording requests` lists the open ones."))
    return {"type": "home", "callback_id": "recording_home", "blocks": blocks}


def not_listed_home(admins: list[str]) -> View:
    if admins:
        ask = "Ask an admin (" + ", ".join(mention(a) for a in admins) + ") to add you."
    else:
        ask = "No admin is set yet: the operator adds one with `recording-bot users add`."
    return {
        "type": "home",
        "callback_id": "recording_home",
        "blocks": [
            header("recording-bot"),
            section(f":no_entry: You are not on recording-bot's allow-list, so it cannot act for you. {ask}"),
        ],
    }


def _pending_line(request: PauseRequest) -> str:
    duration = format_duration(request.duration_seconds)
    asks = (
        f"asks for {duration} more on pause #{request.extends_id} of {_target(request)}"
        if request.kind is RequestKind.EXTENSION
        else f"asks to pause {_target(request)} ({side_words(request.channels)}) for {duration}"
    )
    votes = ""
    if request.approvals_needed > 1:
        votes = f" ({len(request.approvals)} of {request.approvals_needed} approvals)"
    return f"*#{request.id}* {mention(request.requester_id)} {asks}{votes}, for this reason:"


def _target(request: PauseRequest) -> str:
    owner = f" ({mention(request.target_user_id)})" if request.target_user_id else ""
    return f"{target_text(request.target)}{owner}"


def _state_words(request: PauseRequest) -> str:
    return {
        RequestState.PENDING: "waiting for approval",
        RequestState.APPROVED: "approved, pausing",
        RequestState.EXECUTING: "pausing",
        RequestState.ACTIVE: "paused",
        RequestState.RESUMING: "resuming",
        RequestState.RESUMED: "paused, then resumed",
        RequestState.DENIED: "denied",
        RequestState.EXPIRED: "expired",
        RequestState.FAILED: "failed",
        RequestState.ABANDONED: "abandoned",
        RequestState.CANCELLED: "cancelled",
        RequestState.EXTENDED: "more time given",
    }[request.state]


def _remaining(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "?"
    return format_duration(max(0, int((moment - now).total_seconds())))


def _more(count: int, where: str) -> list[Block]:
    if count <= _MAX_LISTED:
        return []
    return [context(f"…and {count - _MAX_LISTED} more: {where}.")]
