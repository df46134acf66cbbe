"""Deciding: approve (four-eyes where a group says so), deny, retry a failed pause, abandon it, and the
requester's cancel. Who may decide is `services/deciders.py`'s one rule, reached through the Authorizer."""

from __future__ import annotations

from bot.metrics.registry import count_transition
from bot.models import Access, Invocation, Outcome, PauseRequest, RequestKind, RequestState, Role
from bot.models.refusals import (
    AlreadyApprovedByYou,
    AlreadyDecided,
    NoSuchRequest,
    NotCancellable,
    NotYourRequest,
    RequesterWithdrawn,
    RequestExpired,
    RetryTooLate,
)
from bot.services.deciders import decides
from bot.services.pauses.lifecycle import SYSTEM, WITHDRAWN_NOTE, Lifecycle
from bot.services.pauses.schedule import Schedule
from bot.services.pauses.upstream import Upstream
from bot.store.pauses import ApprovalResult


class Deciding:
    def __init__(self, core: Lifecycle, *, upstream: Upstream, schedule: Schedule) -> None:
        self._core = core
        self._upstream = upstream
        self._schedule = schedule

    def approve(self, invocation: Invocation, request_id: int) -> PauseRequest:
        core = self._core
        request = self._decidable(invocation, request_id, action="approve")
        # Every stored vote is checked again, by the one rule, when the count would complete (store.approve).
        # A pause's deciding approval claims it for the MuteRecording in the same write (approved → executing);
        # an extension's changes its pause's end instead, so it stays approved until then.
        claim = request.kind is not RequestKind.EXTENSION
        if claim:
            core.require_recording_system()  # refused before anything is written, as `execute` would
        outcome = core.store.approve(
            request.id, approver_id=invocation.user_id, now=core.now(), claimed_by=core.instance_id,
            counts=_still_decides, withdrawn_by=SYSTEM, withdrawn_note=WITHDRAWN_NOTE, claim=claim,
        )  # fmt: skip
        current = outcome.request
        if outcome.result is ApprovalResult.WITHDRAWN:
            core.withdrawn(current, was=request.state)
            raise RequesterWithdrawn(current)
        if outcome.result is ApprovalResult.NOT_PENDING:
            raise AlreadyDecided(current)
        if outcome.result is ApprovalResult.ALREADY_APPROVED_BY_THEM:
            raise AlreadyApprovedByYou(current)
        dropped = [a.approver_id for a in current.dropped_approvals]
        if outcome.result is ApprovalResult.COUNTED:
            core.audit.record(
                invocation, action="request.approval_counted", outcome=Outcome.OK, target=current.target.value,
                group=current.group_name, team_id=current.team_id,
                details={
                    "request": current.id, "approvals": len(current.approvals), "needed": current.approvals_needed,
                    "dropped": dropped,
                },
            )  # fmt: skip
            core.changed(current)
            if invocation.user_id in dropped:
                # The allow-list changed since this person's role was cached: read it again and say why.
                core.authorizer.forget(invocation.team_id, invocation.user_id)
                core.authorizer.require_decider(invocation.user, current, action="approve")
            return current
        count_transition("approved")
        # The decision's audit row before anything is sent: a crash during the call must not lose who
        # approved it (one small write; the card update, a Slack round trip, waits for the outcome).
        core.audit.record(
            invocation, action="request.approved", outcome=Outcome.OK, target=current.target.value,
            group=current.group_name, team_id=current.team_id,
            details={"request": current.id, "approvers": [a.approver_id for a in current.approvals],
                     "dropped": dropped},
        )  # fmt: skip
        if current.kind is RequestKind.EXTENSION:
            return self._upstream.apply_extension(invocation, current)
        return self._upstream.send(invocation, current)

    def deny(self, invocation: Invocation, request_id: int) -> PauseRequest:
        core = self._core
        request = self._decidable(invocation, request_id, action="deny")
        now = core.now()
        denied = core.move(
            request.id, from_states=[RequestState.PENDING], to_state=RequestState.DENIED,
            decided_by=invocation.user_id, decided_at=now,
        )  # fmt: skip
        if denied is None:
            raise core.already_decided(request.id)
        core.audit.record(
            invocation, action="request.denied", outcome=Outcome.OK, target=denied.target.value,
            group=denied.group_name, team_id=denied.team_id, details={"request": denied.id},
        )  # fmt: skip
        core.changed(denied, tell_requester=True)
        return denied

    def retry(self, invocation: Invocation, request_id: int) -> PauseRequest:
        core = self._core
        request = core.in_workspace(invocation, request_id, action="retry")
        core.authorizer.require_decider(invocation.user, request, action="retry")
        if request.state is not RequestState.FAILED:
            raise core.already_decided(request.id)
        if request.expires_at <= core.now():
            self._schedule.abandon_stale(request)
            raise RetryTooLate(request, window_seconds=int(core.approval_timeout.total_seconds()))
        core.require_recording_system()
        if not core.authorizer.listed_now(request.team_id, request.requester_id):
            withdrawn = core.withdraw(request)
            if withdrawn is None:
                raise core.already_decided(request.id)
            raise RequesterWithdrawn(withdrawn)
        core.audit.record(
            invocation, action="request.retry", outcome=Outcome.OK, target=request.target.value,
            group=request.group_name,
            team_id=request.team_id, details={"request": request.id, "attempt": request.attempts + 1},
        )  # fmt: skip
        return self._upstream.execute(invocation, request, from_state=RequestState.FAILED)

    def abandon(self, invocation: Invocation, request_id: int) -> PauseRequest:
        core = self._core
        request = core.in_workspace(invocation, request_id, action="abandon")
        core.authorizer.require_decider(invocation.user, request, action="abandon")
        abandoned = core.move(
            request.id, from_states=[RequestState.FAILED], to_state=RequestState.ABANDONED,
            resumed_by=invocation.user_id,
        )  # fmt: skip
        if abandoned is None:
            raise core.already_decided(request.id)
        core.audit.record(
            invocation, action="request.abandoned", outcome=Outcome.OK, target=request.target.value,
            group=request.group_name, team_id=request.team_id, details={"request": request.id},
        )  # fmt: skip
        core.changed(abandoned)
        return abandoned

    def cancel(self, invocation: Invocation, request_id: int) -> PauseRequest:
        """The requester (or an admin) withdraws a pending or failed request; nothing goes upstream."""
        core = self._core
        role = core.authorizer.require(invocation.user, Role.REQUESTER, action="cancel")
        request = core.store.get(request_id)
        if request is None or request.team_id != invocation.team_id:
            raise NoSuchRequest(request_id)
        if request.requester_id != invocation.user_id and role is not Role.ADMIN:
            raise NotYourRequest(request)
        cancelled = core.move(
            request.id, from_states=[RequestState.PENDING, RequestState.FAILED], to_state=RequestState.CANCELLED,
            cancelled_by=invocation.user_id,
        )  # fmt: skip
        if cancelled is None:
            raise NotCancellable(core.get(request.id))
        core.audit.record(
            invocation, action="request.cancelled", outcome=Outcome.OK, target=cancelled.target.value,
            group=cancelled.group_name,
            team_id=cancelled.team_id, details={"request": cancelled.id, "was": request.state.value},
        )  # fmt: skip
        core.changed(cancelled)
        return cancelled

    def _decidable(self, invocation: Invocation, request_id: int, *, action: str) -> PauseRequest:
        core = self._core
        request = core.in_workspace(invocation, request_id, action=action)
        core.authorizer.require_decider(invocation.user, request, action=action)
        if request.state is RequestState.PENDING and request.expires_at <= core.now():
            self._schedule.expire(request)
            raise RequestExpired(request)
        if request.state is not RequestState.PENDING:
            raise core.already_decided(request.id)
        return request


def _still_decides(request: PauseRequest, user_id: str, access: Access | None) -> bool:
    """Whether a stored vote still counts: its voter is listed and may decide the request now."""
    return access is not None and decides(request, user_id, access)
