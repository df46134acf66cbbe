"""The words of every refusal (models/refusals.py): `refusal_text` says what was refused and why,
`refusal_message` lays it out for Slack."""

from __future__ import annotations

import re
from functools import singledispatch
from typing import Literal

from bot.blocks.changes import change_title
from bot.blocks.common import error_message, error_message_mrkdwn, not_allowed_message
from bot.blocks.kit import Message, mention, utc_time
from bot.blocks.pause_answers import already_decided_message
from bot.blocks.text import escape
from bot.models import PauseRequest, RecordingTarget, RequestState
from bot.models.changes import KIND_LABELS
from bot.models.refusals import (
    AlreadyApprovedByYou,
    AlreadyDecided,
    ApprovalCardNotPosted,
    BreakGlassBlocked,
    ChangeApprovedByYou,
    ChangeCardNotPosted,
    ChangeDecided,
    ChangeExpired,
    ChangeWaiting,
    ChangeWithdrawn,
    DigestNotEnded,
    DigestNotPosted,
    ExtensionLookupFailed,
    ExtensionOutlived,
    ExtensionTaken,
    ExtensionTooLong,
    ExtensionWaiting,
    FormNeedsSlack,
    LastAdmin,
    LineNotFoundForChange,
    MalformedButton,
    MeNeedsLink,
    NoActivePause,
    NoLinkedExtension,
    NoSuchChange,
    NoSuchPause,
    NoSuchRequest,
    NotAllowed,
    NotAnApprover,
    NotCancellable,
    NothingToChange,
    NotUndoable,
    NotYourRequest,
    OtherGroup,
    OwnRequest,
    PauseAlreadyEnded,
    PauseFormNotOpened,
    PauseNotActive,
    RecordingSystemNotConfigured,
    Refusal,
    RequesterWithdrawn,
    RequestExpired,
    RequestNotFound,
    RetryTooLate,
    SeveralLinesForChange,
    SeveralWebexPeople,
    TargetBusy,
    WebexNotConfigured,
)
from bot.words import format_duration

HOW_TO_LINK = (
    "link your extension once with `/recording link <extension>` (an admin: `/recording link @you <extension>`)"
)
NO_LINK = f"I don't know your extension, so `me` means nothing yet: {HOW_TO_LINK}."
_LAST_ADMIN_HINT = "Make someone else an admin first: /recording allow @user admin"
_TYPE_IT = "`/recording pause 8856 5m <reason>`"


# Why Slack did not take an approval card: it may not post there, it refused, it could not be reached, or
# its answer could not be read.
CardProblem = Literal["not_here", "refused", "unreachable", "unreadable"]


def card_not_posted_text(problem: CardProblem, *, detail: str = "", channel: str | None = None) -> str:
    """For the requester (ApprovalCardNotPosted carries it). `channel`: the group's approvals channel, when
    the card was to go there rather than where they asked."""
    if problem == "not_here":
        where = f"<#{channel}>, the group's approvals channel" if channel else "this channel"
        return (
            f"I can't post the approval card in {where}. Invite me there with `/invite @recording-bot` "
            "(or use a public channel) and ask again."
        )
    if problem == "refused":
        return f"Slack refused the approval card ({detail}); please ask again."
    if problem == "unreachable":
        return f"Slack could not be reached to post the approval card ({detail}); please ask again."
    return "Slack sent an unreadable answer to the approval card; please ask again."


def refusal_message(refusal: Refusal) -> Message:
    """The private reply that tells the person what was refused."""
    if isinstance(refusal, NotAllowed):
        return not_allowed_message(refusal_text(refusal), refusal.admins)
    if isinstance(refusal, AlreadyDecided):
        return already_decided_message(refusal.request)
    if isinstance(refusal, LastAdmin):
        return error_message(refusal_text(refusal), hint=_LAST_ADMIN_HINT)
    return error_message_mrkdwn(refusal_mrkdwn(refusal))


@singledispatch
def refusal_mrkdwn(refusal: Refusal) -> str:
    """The refusal's words as mrkdwn, escaped once. A refusal that names a person or a channel says so here,
    so the name renders as a mention rather than as `<@U…>` in text."""
    return escape(refusal_text(refusal))


# A channel token the bot wrote into a card problem (card_not_posted_text), as `escape` leaves it.
_ESCAPED_CHANNEL = re.compile(r"&lt;#([CG][A-Z0-9]{2,30})&gt;")


@refusal_mrkdwn.register
def _(refusal: ApprovalCardNotPosted) -> str:
    return _ESCAPED_CHANNEL.sub(lambda match: f"<#{match.group(1)}>", escape(refusal.why))


@refusal_mrkdwn.register
def _(refusal: NotYourRequest) -> str:
    request = refusal.request
    return f"Only the requester ({mention(request.requester_id)}) or an admin may cancel request #{request.id}."


@refusal_mrkdwn.register
def _(refusal: ExtensionTaken) -> str:
    before, after = _taken_words(refusal)
    return f"{escape(before)}{mention(refusal.holder_id)}{escape(after)}"


@refusal_mrkdwn.register
def _(refusal: RequesterWithdrawn) -> str:
    before, after = _withdrawn_words(refusal)
    return f"{escape(before)}{mention(refusal.request.requester_id)}{escape(after)}"


@singledispatch
def refusal_text(refusal: Refusal) -> str:
    """What was refused, in one or two sentences."""
    return "recording-bot cannot do that."


# -- who may do what -------------------------------------------------------------------------------


@refusal_text.register
def _(refusal: NotAllowed) -> str:
    if refusal.role is None:
        return "You are not on recording-bot's allow-list, so it cannot act for you."
    return f"`{refusal.action}` needs the {refusal.needed.value} role; your role is {refusal.role.value}."


@refusal_text.register
def _(refusal: NotAnApprover) -> str:
    request = refusal.request
    return f"You can't decide on this: only approvers (team leads) may {refusal.action} pause requests" + (
        f" — request #{request.id} is decided by the {request.group_name} group's approvers."
        if request.group_name
        else "."
    )


@refusal_text.register
def _(refusal: OwnRequest) -> str:
    return "You can't decide on this: another approver must decide on your own request."


@refusal_text.register
def _(refusal: OtherGroup) -> str:
    group = refusal.request.group_name
    return (
        f"You can't decide on this: request #{refusal.request.id} belongs to the {group} group, so the {group} "
        f"group's approvers, floor managers (approvers in no group) and admins decide it; you are in the "
        f"{refusal.access.group_name} group."
    )


def _taken_words(refusal: ExtensionTaken) -> tuple[str, str]:
    return (
        f"Extension `{refusal.extension}` is already linked to ",
        f": an extension is one person's. They can `/recording unlink`, or an admin can link it to you with "
        f"`/recording link @you {refusal.extension}`.",
    )


@refusal_text.register
def _(refusal: ExtensionTaken) -> str:
    before, after = _taken_words(refusal)
    return f"{before}<@{refusal.holder_id}>{after}"


@refusal_text.register
def _(refusal: LastAdmin) -> str:
    return "That would leave recording-bot without an admin."


# -- what is not set up ----------------------------------------------------------------------------


@refusal_text.register
def _(refusal: RecordingSystemNotConfigured) -> str:
    return (
        "The recording system is not configured: an admin must set MEDIA_REPOSITORY_URL and "
        "MEDIA_REPOSITORY_API_KEY."
    )


@refusal_text.register
def _(refusal: WebexNotConfigured) -> str:
    return (
        "Webex is not configured: an admin must set WEBEX_ACCESS_TOKEN (or WEBEX_REFRESH_TOKEN with "
        "WEBEX_CLIENT_ID and WEBEX_CLIENT_SECRET)."
    )


@refusal_text.register
def _(refusal: NoLinkedExtension) -> str:
    return NO_LINK


@refusal_text.register
def _(refusal: ExtensionLookupFailed) -> str:
    return f"I could not ask Webex for your extension ({refusal.reason}); meanwhile, {HOW_TO_LINK}."


@refusal_text.register
def _(refusal: SeveralWebexPeople) -> str:
    return (
        f"Webex has {refusal.count} people with your e-mail address, so I can't tell which extension is yours: "
        f"{HOW_TO_LINK}."
    )


@refusal_text.register
def _(refusal: MeNeedsLink) -> str:
    return "`me` needs a linked extension: `/recording link <extension>`."


# -- requests --------------------------------------------------------------------------------------


def _withdrawn_words(refusal: RequesterWithdrawn) -> tuple[str, str]:
    return (
        f"Request #{refusal.request.id} was withdrawn: its requester ",
        " is no longer on the allow-list, so it is not carried out. Nothing was sent to the recording system.",
    )


@refusal_text.register
def _(refusal: RequesterWithdrawn) -> str:
    before, after = _withdrawn_words(refusal)
    return f"{before}<@{refusal.request.requester_id}>{after}"


@refusal_text.register
def _(refusal: RequestNotFound) -> str:
    return "That request does not exist (or not in this workspace)."


@refusal_text.register
def _(refusal: NoSuchRequest) -> str:
    return f"There is no request #{refusal.request_id}; `/recording requests` lists the open ones."


@refusal_text.register
def _(refusal: MalformedButton) -> str:
    return "That button does not belong to a pause request I know."


@refusal_text.register
def _(refusal: AlreadyDecided) -> str:
    return already_decided_message(refusal.request).text


@refusal_text.register
def _(refusal: RequestExpired) -> str:
    return f"Request #{refusal.request.id} has expired: nobody decided in time. Ask for a new one."


@refusal_text.register
def _(refusal: AlreadyApprovedByYou) -> str:
    request = refusal.request
    waiting = request.approvals_needed - len(request.approvals)
    return (
        f"You already approved request #{request.id}; it needs {waiting} more approval"
        f"{'s' if waiting != 1 else ''}, from another approver."
    )


@refusal_text.register
def _(refusal: RetryTooLate) -> str:
    return (
        f"Request #{refusal.request.id} can no longer be retried: it failed more than "
        f"{format_duration(refusal.window_seconds)} ago. Ask for a new pause."
    )


@refusal_text.register
def _(refusal: NotYourRequest) -> str:
    request = refusal.request
    return f"Only the requester (<@{request.requester_id}>) or an admin may cancel request #{request.id}."


@refusal_text.register
def _(refusal: NotCancellable) -> str:
    request = refusal.request
    return f"Request #{request.id} is {request.state}: only a pending or failed request can be cancelled" + (
        f"; `/recording resume {request.target.value}` ends an active pause."
        if request.state is RequestState.ACTIVE
        else "."
    )


@refusal_text.register
def _(refusal: PauseAlreadyEnded) -> str:
    return f"Pause #{refusal.request.id} has already ended."


@refusal_text.register
def _(refusal: TargetBusy) -> str:
    target, other = refusal.target, refusal.other
    if other is None:
        return f"{target.value} already has an open request; see `/recording requests`."
    if other.state is RequestState.PENDING:
        return f"{target.value}{_alias(target, other)} already has pause request #{other.id} waiting for approval."
    return (
        f"{target.value}{_alias(target, other)} is already paused (request #{other.id}); "
        f"`/recording resume {other.target.value}` ends it."
    )


@refusal_text.register
def _(refusal: BreakGlassBlocked) -> str:
    target, other = refusal.target, refusal.other
    if other is None:
        return (
            f"{target.value} already has an open request: it must be decided or cancelled before you "
            "break glass (`/recording requests` lists it)."
        )
    if other.state in (RequestState.ACTIVE, RequestState.RESUMING):
        # An active pause is ended by a resume: `cancel` only withdraws a pending or failed request.
        return (
            f"{target.value}{_alias(target, other)} is already paused (request #{other.id}): there is nothing to "
            f"break glass for. `/recording resume {other.target.value}` ends that pause, if you need to."
        )
    if other.state in (RequestState.PENDING, RequestState.FAILED):
        return (
            f"{target.value}{_alias(target, other)} already has an open request (request #{other.id}, "
            f"{other.state}): it must be decided or cancelled before you break glass "
            f"(`/recording cancel {other.id}`)."
        )
    return (
        f"{target.value}{_alias(target, other)} is being paused right now (request #{other.id}, {other.state}); "
        "see `/recording requests` in a moment."
    )


@refusal_text.register
def _(refusal: NoSuchPause) -> str:
    return f"There is no pause #{refusal.request_id}; `/recording requests` lists the active ones."


@refusal_text.register
def _(refusal: PauseNotActive) -> str:
    pause = refusal.request
    return f"Pause #{pause.id} is {pause.state}, not active: only an active pause can be given more time."


@refusal_text.register
def _(refusal: NoActivePause) -> str:
    return f"No pause is active on {refusal.target.value}; `/recording requests` lists the active ones."


@refusal_text.register
def _(refusal: ExtensionTooLong) -> str:
    longest = format_duration(refusal.max_seconds)
    if refusal.left_seconds:
        return (
            f"A pause may last at most {longest} in all; pause #{refusal.pause.id} can be given at most "
            f"{format_duration(refusal.left_seconds)} more."
        )
    return f"Pause #{refusal.pause.id} already lasts the longest a pause may ({longest})."


@refusal_text.register
def _(refusal: ExtensionWaiting) -> str:
    if refusal.waiting_id is not None:
        return f"Pause #{refusal.pause_id} already has more-time request #{refusal.waiting_id} waiting for approval."
    return f"Pause #{refusal.pause_id} already has a request for more time waiting."


@refusal_text.register
def _(refusal: ExtensionOutlived) -> str:
    return (
        f"Pause #{refusal.pause_id} is no longer active, so more-time request #{refusal.extension_id} expired."
    )


@refusal_text.register
def _(refusal: ApprovalCardNotPosted) -> str:
    return refusal.why


@refusal_text.register
def _(refusal: FormNeedsSlack) -> str:
    return f"The pause form needs Slack; type the whole command: {_TYPE_IT}."


@refusal_text.register
def _(refusal: PauseFormNotOpened) -> str:
    return f"Slack did not open the pause form ({refusal.why}); try again, or type the whole command: {_TYPE_IT}."


def _alias(target: RecordingTarget, other: PauseRequest) -> str:
    """The other name, when the open request came by another name of the same line."""
    return "" if other.target.value == target.value else f" (the same Webex line as {other.target.value})"


# -- settings changes (`/recording set`) -----------------------------------------------------------

@refusal_text.register
def _(refusal: NoSuchChange) -> str:
    return f"There is no settings change #{refusal.request_id} here."


@refusal_text.register
def _(refusal: LineNotFoundForChange) -> str:
    return (
        f"Webex has no line matching “{refusal.query}”. Name it by extension, +E.164 number, e-mail address, "
        "name or Webex ID, then the settings: `/recording set 8856 mode=pause-resume <reason…>`."
    )


@refusal_text.register
def _(refusal: SeveralLinesForChange) -> str:
    shown = "; ".join(f"{KIND_LABELS[kind]}: {name} ({line_id})" for kind, name, line_id in refusal.lines[:10])
    return f"“{refusal.query}” names {len(refusal.lines)} lines: {shown}. Name one by its Webex ID."


@refusal_text.register
def _(refusal: NothingToChange) -> str:
    said = ", ".join(f"{name}={value}" for name, value in refusal.settings)
    return f"Nothing to change: {refusal.line_label} already has {said}; nothing was asked."


@refusal_text.register
def _(refusal: ChangeWaiting) -> str:
    other = f" (change #{refusal.other.id}, {refusal.other.state.value})" if refusal.other else ""
    return (
        f"{refusal.line_label} already has a settings change open{other}: it must be decided, or a failed one "
        "retried or abandoned, before another is asked."
    )


@refusal_text.register
def _(refusal: ChangeDecided) -> str:
    return f"Too late: {change_title(refusal.request)}."


@refusal_text.register
def _(refusal: ChangeExpired) -> str:
    return f"Settings change #{refusal.request.id} expired: nobody decided it in time. Ask again if it is still wanted."


@refusal_text.register
def _(refusal: ChangeApprovedByYou) -> str:
    request = refusal.request
    return (
        f"You approved change #{request.id} already; it needs {request.approvals_needed} approvals from "
        "different approvers."
    )


@refusal_text.register
def _(refusal: NotUndoable) -> str:
    request = refusal.request
    if request.undone_by_id is not None:
        return f"Change #{request.id} is being undone or was undone already (change #{request.undone_by_id})."
    return f"Only a change that was written can be undone; change #{request.id} is {request.state.value}."


@refusal_text.register
def _(refusal: ChangeCardNotPosted) -> str:
    return refusal.why



@refusal_text.register
def _(refusal: ChangeWithdrawn) -> str:
    return (
        f"Change #{refusal.request.id} was withdrawn, not carried out: the person who asked for it is no longer "
        "on recording-bot's allow-list."
    )


@refusal_text.register
def _(refusal: DigestNotEnded) -> str:
    return (
        f"The digest of {refusal.day:%-d %B %Y} covers the 24 hours up to {utc_time(refusal.ends_at)}, which have "
        "not ended yet. Give an earlier date, or type `/recording digest` for the latest one."
    )


@refusal_text.register
def _(refusal: DigestNotPosted) -> str:
    return f"The digest was not posted: {refusal.why}. Check that recording-bot is in the channel, then try again."
