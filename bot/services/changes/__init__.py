"""Changing a line's call-recording settings (`/recording set`), approved like a pause: routed to the
requester's group (its card channel, its number of approvals), decided by `deciders.may_decide`, audited.

    pending → executing → changed | stale | failed;  failed → (retry) executing | abandoned
    pending → denied | expired

Turning recording off, or the mode to Never, always needs two approvals. On approval the line is read
again: a setting that no longer has its "before" value means nothing is written (stale). Otherwise one
PUT with only the changed fields, and a read to confirm. A changed request can be undone: a new request,
through the same approval, that puts the "before" values back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot.clients.errors import UpstreamError
from bot.clients.webex import WebexClient
from bot.clients.webex.writes import CallRecordingWriter, upstream_details
from bot.clock import Clock, utc_now
from bot.commands.types import SetLineSettings
from bot.models import Access, CallRecordingSettings, Invocation, Outcome, Role
from bot.models.changes import KIND_LABELS, UNKNOWN, ChangeRequest, ChangeState, SettingChange, current_value
from bot.models.lines import LineKind
from bot.models.refusals import (
    ChangeApprovedByYou,
    ChangeCardNotPosted,
    ChangeDecided,
    ChangeExpired,
    ChangeWaiting,
    ChangeWithdrawn,
    LineNotFoundForChange,
    NoSuchChange,
    NothingToChange,
    NotUndoable,
    SeveralLinesForChange,
    WebexNotConfigured,
)
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.services.deciders import decides
from bot.services.notifications import CardNotPosted
from bot.store.changes import ChangeApproval, ChangeRequestStore

logger = logging.getLogger(__name__)

# Every audit action of a settings change begins so (`/recording audit changes` lists them).
AUDIT_PREFIX = "change."
SYSTEM = "system"
# A change still being written after this long lost its writer (a stopped process): Retry or Abandon it.
INTERRUPTED_AFTER = timedelta(minutes=5)
INTERRUPTED_NOTE = (
    "the bot stopped while writing this change; Retry reads the line again first, and writes only if nothing "
    "changed meanwhile"
)


class ChangeNotifier(Protocol):
    """What the change service needs from the chat side (listeners/change_notifier.py); never calls back."""

    def post_change_card(self, request: ChangeRequest) -> str:
        """Post the card; the message ID. Raises CardNotPosted."""
        ...

    def update_change_card(self, request: ChangeRequest) -> None:
        """Re-render the card from the request as stored now. Never raises."""
        ...

    def change_card_link(self, request: ChangeRequest) -> str | None: ...

    def ask_change_decider(self, request: ChangeRequest, user_id: str, link: str | None) -> None: ...

    def tell_change_requester(self, request: ChangeRequest) -> None: ...


@dataclass(frozen=True)
class FoundLine:
    kind: LineKind
    line_id: str
    name: str


# The lines a query names (extension, +E.164, e-mail, name, Webex ID); raises UpstreamError.
LineFinder = Callable[[str], list[FoundLine]]


@dataclass(frozen=True)
class ChangeAsked:
    request: ChangeRequest
    card_link: str | None = None


def webex_lines_finder(webex: WebexClient) -> LineFinder:
    """People, workspaces and virtual lines, found as `/recording settings` finds them."""

    def find(query: str) -> list[FoundLine]:
        return [FoundLine(line.kind, line.id, line.name) for line in webex.find_lines(query)]

    return find


class ChangeService:
    def __init__(
        self,
        *,
        store: ChangeRequestStore,
        authorizer: Authorizer,
        audit: AuditTrail,
        notifier: ChangeNotifier,
        writer: CallRecordingWriter | None,
        finder: LineFinder | None,
        approval_timeout: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._authorizer = authorizer
        self._audit = audit
        self._notifier = notifier
        self._writer = writer
        self._finder = finder
        self._approval_timeout = approval_timeout
        self._clock = clock
        self._card_lock = threading.Lock()

    # -- asking ----------------------------------------------------------------------------------

    def request_change(self, invocation: Invocation, command: SetLineSettings) -> ChangeAsked:
        """Read the line, keep only the settings that change, store a pending request, post its card."""
        self._authorizer.require(invocation.user, Role.APPROVER, action="set")
        writer, finder = self._webex()
        lines = finder(command.line)
        if not lines:
            raise LineNotFoundForChange(command.line)
        if len(lines) > 1:
            raise SeveralLinesForChange(command.line, [(line.kind, line.name, line.line_id) for line in lines])
        line = lines[0]
        return self._ask(invocation, writer, line, command.settings, command.reason, undoes_id=None)

    def undo(self, invocation: Invocation, request_id: int) -> ChangeAsked:
        """Ask, through the same approval, to put a changed request's "before" values back."""
        self._authorizer.require(invocation.user, Role.APPROVER, action="undo")
        original = self._in_workspace(invocation, request_id)
        if original.state is not ChangeState.CHANGED or original.undone_by_id is not None:
            raise NotUndoable(original)
        writer, _finder = self._webex()
        back = tuple((c.name, c.before) for c in original.changes if c.before != UNKNOWN)
        line = FoundLine(original.line_kind, original.line_id, original.line_name)
        return self._ask(invocation, writer, line, back, f"undo of change #{original.id}: {original.reason}",
                         undoes_id=original.id)  # fmt: skip

    def _ask(
        self, invocation: Invocation, writer: CallRecordingWriter, line: FoundLine,
        settings: tuple[tuple[str, str], ...], reason: str, *, undoes_id: int | None,
    ) -> ChangeAsked:  # fmt: skip
        current, answer = writer.read(line.kind, line.line_id)
        changes = tuple(
            SettingChange(name, current_value(current, name), value)
            for name, value in settings
            if current_value(current, name) != value
        )
        label = f"{KIND_LABELS[line.kind]}: {line.name}"
        if not changes:
            raise NothingToChange(label, list(settings))
        group_name = self._authorizer.group_of(invocation.user)
        group = self._authorizer.group(invocation.team_id, group_name) if group_name else None
        approvals = max(1, group.approvals) if group else 1
        if any(change.drastic for change in changes):
            approvals = max(2, approvals)
        now = self._clock()
        request = self._store.create(
            team_id=invocation.team_id, channel_id=invocation.channel_id, requester_id=invocation.user_id,
            line_kind=line.kind, line_id=line.line_id, line_name=line.name, changes=changes, reason=reason,
            created_at=now, expires_at=now + self._approval_timeout, group_name=group.name if group else group_name,
            approvals_needed=approvals, card_channel_id=group.channel_id if group else None, undoes_id=undoes_id,
        )  # fmt: skip
        if request is None:
            raise ChangeWaiting(label, self._store.open_on_line(line.line_id))
        request = self._store.update_fields(request.id, answers=[answer.as_details()]) or request
        self._record(
            invocation, request, "change.created",
            reason=reason, before=_values(changes, before=True), after=_values(changes, before=False),
            approvals_needed=approvals, undoes=undoes_id, answers=list(request.answers),
        )  # fmt: skip
        return self._publish(invocation, request)

    def _publish(self, invocation: Invocation, request: ChangeRequest) -> ChangeAsked:
        try:
            ts = self._notifier.post_change_card(request)
        except CardNotPosted as error:
            self._store.transition(
                request.id, from_states=[ChangeState.PENDING], to_state=ChangeState.ABANDONED, now=self._clock(),
                error=f"the approval card could not be posted: {error.message}",
            )  # fmt: skip
            self._record(invocation, request, "change.abandoned", outcome=Outcome.ERROR, error=error.message)
            raise ChangeCardNotPosted(error.message) from None
        request = self._store.update_fields(request.id, message_ts=ts) or request
        if request.state is not ChangeState.PENDING:
            # Changed between the post and the card's ts being stored: that change could not update a card it
            # did not know yet, so the card catches up here.
            self._card(request)
        link = self._notifier.change_card_link(request)
        for decider in self._authorizer.deciders(request):
            self._notifier.ask_change_decider(request, decider, link)
        return ChangeAsked(request=request, card_link=link)

    # -- deciding --------------------------------------------------------------------------------

    def approve(self, invocation: Invocation, request_id: int) -> ChangeRequest:
        request = self._decidable(invocation, request_id, action="approve")
        if not self._authorizer.listed_now(request.team_id, request.requester_id):
            withdrawn = self._store.transition(
                request.id, from_states=[ChangeState.PENDING], to_state=ChangeState.CANCELLED, now=self._clock(),
                decided_by=SYSTEM, error="the requester is no longer on the allow-list",
            )  # fmt: skip
            if withdrawn is None:
                raise ChangeDecided(self._get(request.id))
            self._record(None, withdrawn, "change.withdrawn", user_id=SYSTEM)
            self._card(withdrawn)
            raise ChangeWithdrawn(withdrawn)
        outcome = self._store.approve(request.id, approver_id=invocation.user_id, now=self._clock(),
                                      counts=_still_decides)  # fmt: skip
        current = outcome.request
        if outcome.result is ChangeApproval.NOT_PENDING:
            raise ChangeDecided(current)
        if outcome.result is ChangeApproval.ALREADY_APPROVED_BY_THEM:
            raise ChangeApprovedByYou(current)
        approvers = [a.approver_id for a in current.approvals]
        if outcome.result is ChangeApproval.COUNTED:
            self._record(invocation, current, "change.approval_counted", approvers=approvers,
                         needed=current.approvals_needed)  # fmt: skip
            self._card(current)
            return current
        self._record(invocation, current, "change.approved", approvers=approvers)
        return self._apply(invocation, current)

    def deny(self, invocation: Invocation, request_id: int) -> ChangeRequest:
        request = self._decidable(invocation, request_id, action="deny")
        now = self._clock()
        denied = self._store.transition(
            request.id, from_states=[ChangeState.PENDING], to_state=ChangeState.DENIED, now=now,
            decided_by=invocation.user_id, decided_at=now,
        )  # fmt: skip
        if denied is None:
            raise ChangeDecided(self._get(request.id))
        self._record(invocation, denied, "change.denied")
        self._card(denied)
        self._notifier.tell_change_requester(denied)
        return denied

    def retry(self, invocation: Invocation, request_id: int) -> ChangeRequest:
        request = self._in_workspace(invocation, request_id)
        self._authorizer.require_decider(invocation.user, request, action="retry")
        again = self._store.transition(
            request.id, from_states=[ChangeState.FAILED], to_state=ChangeState.EXECUTING, now=self._clock()
        )
        if again is None:
            raise ChangeDecided(self._get(request.id))
        self._record(invocation, again, "change.retry", attempt=again.attempts + 1)
        return self._apply(invocation, again)

    def abandon(self, invocation: Invocation, request_id: int) -> ChangeRequest:
        request = self._in_workspace(invocation, request_id)
        self._authorizer.require_decider(invocation.user, request, action="abandon")
        abandoned = self._store.transition(
            request.id, from_states=[ChangeState.FAILED], to_state=ChangeState.ABANDONED, now=self._clock(),
            decided_by=invocation.user_id,
        )  # fmt: skip
        if abandoned is None:
            raise ChangeDecided(self._get(request.id))
        self._record(invocation, abandoned, "change.abandoned")
        self._card(abandoned)
        return abandoned

    def expire_due(self) -> int:
        """The scheduler's pass: expire pending changes nobody decided in time, and mark failed the changes
        whose writer stopped (so they can be retried or abandoned); how many of either."""
        ended = 0
        for request in self._store.due_for_expiry(self._clock()):
            if self._expire(request) is not None:
                ended += 1
        for request in self._store.executing_since(self._clock() - INTERRUPTED_AFTER):
            failed = self._store.transition(
                request.id, from_states=[ChangeState.EXECUTING], to_state=ChangeState.FAILED, now=self._clock(),
                error=INTERRUPTED_NOTE,
            )  # fmt: skip
            if failed is not None:
                ended += 1
                self._record(None, failed, "change.failed", outcome=Outcome.ERROR, user_id=SYSTEM,
                             error=INTERRUPTED_NOTE)  # fmt: skip
                self._card(failed)
        return ended

    def get(self, request_id: int) -> ChangeRequest | None:
        return self._store.get(request_id)

    # -- writing ---------------------------------------------------------------------------------

    def _apply(self, invocation: Invocation, request: ChangeRequest) -> ChangeRequest:
        """Read the line again, write only if every "before" still holds, confirm by reading once more."""
        writer, _finder = self._webex()
        answers = list(request.answers)
        call = "GET"
        try:
            settings, answer = writer.read(request.line_kind, request.line_id)
            answers.append(answer.as_details())
            meanwhile = _meanwhile(request, settings)
            if meanwhile:
                stale = self._end(request, ChangeState.STALE, answers=answers, found=meanwhile)
                self._record(invocation, stale, "change.stale", outcome=Outcome.REFUSED,
                             found=_values(meanwhile, before=False), answers=answers)  # fmt: skip
                return self._finished(stale)
            call = "PUT"
            put = writer.put(request.line_kind, request.line_id, [(c.name, c.after) for c in request.changes])
            answers.append(put.as_details())
        except UpstreamError as error:
            answers.append({"call": call, **upstream_details(error)})
            failed = self._end(request, ChangeState.FAILED, answers=answers, error=error.user_message(),
                               count_attempt=True)  # fmt: skip
            self._record(invocation, failed, "change.failed", outcome=Outcome.ERROR, error=error.user_message(),
                         answers=answers)  # fmt: skip
            self._card(failed)
            return failed
        confirmed = self._confirm(writer, request, answers)
        changed = self._end(request, ChangeState.CHANGED, answers=answers, found=confirmed, count_attempt=True)
        self._record(
            invocation, changed, "change.applied", before=_values(request.changes, before=True),
            after=_values(request.changes, before=False), confirmed=_values(confirmed, before=False),
            approvers=[a.approver_id for a in changed.approvals], reason=changed.reason, answers=answers,
        )  # fmt: skip
        if changed.undoes_id is not None:
            undone = self._store.update_fields(changed.undoes_id, undone_by_id=changed.id)
            if undone is not None:
                self._card(undone)
        return self._finished(changed)

    def _confirm(
        self, writer: CallRecordingWriter, request: ChangeRequest, answers: list[dict[str, object]]
    ) -> tuple[SettingChange, ...]:
        """The changed settings as Webex reads them after the PUT (none when it cannot say: the PUT stands)."""
        try:
            settings, answer = writer.read(request.line_kind, request.line_id)
        except UpstreamError as error:
            answers.append({"call": "GET", **upstream_details(error)})
            logger.warning("change #%s written; Webex could not confirm it: %s", request.id, error.user_message())
            return ()
        answers.append(answer.as_details())
        return tuple(SettingChange(c.name, c.before, current_value(settings, c.name)) for c in request.changes)

    def _end(
        self, request: ChangeRequest, state: ChangeState, *, answers: list[dict[str, object]],
        found: tuple[SettingChange, ...] = (), error: str | None = None, count_attempt: bool = False,
    ) -> ChangeRequest:  # fmt: skip
        ended = self._store.transition(
            request.id, from_states=[ChangeState.EXECUTING], to_state=state, now=self._clock(),
            count_attempt=count_attempt, answers=answers, found=found, error=error,
        )  # fmt: skip
        return ended or self._get(request.id)

    def _finished(self, request: ChangeRequest) -> ChangeRequest:
        self._card(request)
        self._notifier.tell_change_requester(request)
        return request

    # -- helpers ---------------------------------------------------------------------------------

    def _webex(self) -> tuple[CallRecordingWriter, LineFinder]:
        if self._writer is None or self._finder is None:
            raise WebexNotConfigured()
        return self._writer, self._finder

    def _get(self, request_id: int) -> ChangeRequest:
        request = self._store.get(request_id)
        assert request is not None
        return request

    def _in_workspace(self, invocation: Invocation, request_id: int) -> ChangeRequest:
        self._authorizer.require(invocation.user, Role.REQUESTER, action="change")
        request = self._store.get(request_id)
        if request is None or request.team_id != invocation.team_id:
            raise NoSuchChange(request_id)
        return request

    def _decidable(self, invocation: Invocation, request_id: int, *, action: str) -> ChangeRequest:
        request = self._in_workspace(invocation, request_id)
        self._authorizer.require_decider(invocation.user, request, action=action)
        if request.state is ChangeState.PENDING and request.expires_at <= self._clock():
            expired = self._expire(request)
            raise ChangeExpired(expired or self._get(request.id))
        if request.state is not ChangeState.PENDING:
            raise ChangeDecided(request)
        return request

    def _expire(self, request: ChangeRequest) -> ChangeRequest | None:
        expired = self._store.transition(
            request.id, from_states=[ChangeState.PENDING], to_state=ChangeState.EXPIRED, now=self._clock()
        )
        if expired is not None:
            self._record(None, expired, "change.expired", user_id=SYSTEM)
            self._card(expired)
            self._notifier.tell_change_requester(expired)
        return expired

    def _card(self, request: ChangeRequest) -> None:
        with self._card_lock:
            self._notifier.update_change_card(self._store.get(request.id) or request)

    def _record(
        self, invocation: Invocation | None, request: ChangeRequest, action: str, *, outcome: str = Outcome.OK,
        user_id: str | None = None, **details: object,
    ) -> None:  # fmt: skip
        self._audit.record(
            invocation, action=action, outcome=outcome, target=request.line_name, group=request.group_name,
            team_id=request.team_id, user_id=user_id,
            details={"change": request.id, "line": request.line_label, "line_id": request.line_id,
                     "requester": request.requester_id, **details},
        )  # fmt: skip


def _meanwhile(request: ChangeRequest, settings: CallRecordingSettings) -> tuple[SettingChange, ...]:
    """Each setting to change whose value is no longer its "before": (name, before, as found now)."""
    found = (SettingChange(c.name, c.before, current_value(settings, c.name)) for c in request.changes)
    return tuple(change for change in found if change.after != change.before)


def _values(changes: tuple[SettingChange, ...], *, before: bool) -> dict[str, str]:
    return {c.name: c.before if before else c.after for c in changes}


def _still_decides(request: ChangeRequest, user_id: str, access: Access | None) -> bool:
    return access is not None and decides(request, user_id, access)
