"""The pause request lifecycle: ask, decide, pause, resume by hand or by schedule, recover after restarts.

Every state change is written to SQLite before the recording system is called, and each is a single
conditional UPDATE: whoever changes the state first wins, everyone else is told who did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clients.errors import NotFound, UpstreamError, UpstreamUnreachable
from bot.clients.recording_system import MuteOutcome, RecordingSystemClient
from bot.clock import Clock, utc_now
from bot.models import (
    Invocation,
    Outcome,
    PauseAsk,
    PauseBlocker,
    PauseRequest,
    RecordingTarget,
    RequestState,
    Role,
    TargetKind,
)
from bot.services.audit import AuditTrail
from bot.services.authorization import Authorizer
from bot.services.notifications import CardNotPosted, PauseNotifier
from bot.store.pause_requests import PauseRequestStore

logger = logging.getLogger(__name__)

SYSTEM = "system"
# After a failed automatic resume, try again after this long, doubling up to the cap.
RESUME_RETRY_SECONDS = 15
RESUME_RETRY_CAP_SECONDS = 300

NOT_CONFIGURED = (
    "The recording system is not configured: an admin must set MEDIA_REPOSITORY_URL and MEDIA_REPOSITORY_API_KEY."
)


class PauseRefused(Exception):
    """The request cannot go ahead; `message` is meant for the person who asked."""

    def __init__(self, message: str, *, outcome: str = Outcome.REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.outcome = outcome


class AlreadyDecided(PauseRefused):
    """Someone else changed the request first; `request` is its state now, to tell the loser who."""

    def __init__(self, request: PauseRequest) -> None:
        if request.state is RequestState.EXPIRED:
            message = f"Request #{request.id} has already expired."
        elif request.decided_by and request.state is not RequestState.PENDING:
            verb = "denied" if request.state is RequestState.DENIED else "approved"
            message = f"Request #{request.id} was already {verb} by {request.decided_by}; it is now {request.state}."
        else:
            message = f"Request #{request.id} is {request.state}; there is nothing to decide."
        super().__init__(message)
        self.request = request


@dataclass(frozen=True)
class ResumeResult:
    target: RecordingTarget
    cancelled: list[PauseRequest] = field(default_factory=list)
    outcome: MuteOutcome | None = None


class PauseService:
    def __init__(
        self,
        *,
        store: PauseRequestStore,
        authorizer: Authorizer,
        audit: AuditTrail,
        recording_system: RecordingSystemClient | None,
        notifier: PauseNotifier,
        approval_timeout: timedelta,
        blocker_for_extension: Callable[[str], PauseBlocker | None] | None = None,
        clock: Clock = utc_now,
        instance_id: str = "",
    ) -> None:
        self._store = store
        self._authorizer = authorizer
        self._audit = audit
        self._recording_system = recording_system
        self._notifier = notifier
        self._approval_timeout = approval_timeout
        self._blocker_for_extension = blocker_for_extension
        self._clock = clock
        # Written on every request this instance holds in flight, so another can take over if it dies.
        self._instance_id = instance_id
        self._schedule_changed = threading.Event()

    @property
    def schedule_changed(self) -> threading.Event:
        """Set whenever a new deadline is stored, so the scheduler can wake before its next tick."""
        return self._schedule_changed

    # -- asking ----------------------------------------------------------------------------------

    def request_pause(self, invocation: Invocation, command: PauseAsk) -> PauseRequest:
        """Store a pending request and post its approval card. Nothing reaches the recording system yet."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="pause")
        if self._recording_system is None:
            raise PauseRefused(NOT_CONFIGURED, outcome=Outcome.ERROR)
        # Looked up before the card is posted, so the card shows it from the start.
        blocker = self._line_blocker(command.target)
        now = self._clock()
        request = self._store.create(
            team_id=invocation.team_id,
            channel_id=invocation.channel_id,
            requester_id=invocation.user_id,
            target=command.target,
            channels=command.channels,
            duration_seconds=command.duration_seconds,
            reason=command.reason,
            created_at=now,
            expires_at=now + self._approval_timeout,
            warning=blocker.value if blocker else None,
        )
        if request is None:
            raise PauseRefused(self._clash_message(invocation.team_id, command.target))
        self._audit.record(
            invocation,
            action="request.created",
            outcome=Outcome.OK,
            target=command.target.value,
            details={
                "request": request.id,
                "duration_seconds": command.duration_seconds,
                "channels": command.channels.value,
                "reason": command.reason,
            },
        )
        self._schedule_changed.set()
        try:
            ts = self._notifier.post_card(request)
        except CardNotPosted as error:
            self._store.transition(
                request.id, from_states=[RequestState.PENDING], to_state=RequestState.ABANDONED, now=self._clock(),
                error=f"the approval card could not be posted: {error.message}",
            )  # fmt: skip
            self._audit.record(
                invocation, action="request.abandoned", outcome=Outcome.ERROR, target=command.target.value,
                details={"request": request.id, "error": error.message},
            )  # fmt: skip
            raise PauseRefused(error.message, outcome=Outcome.ERROR) from None
        return self._store.update_fields(request.id, message_ts=ts) or request

    def _line_blocker(self, target: RecordingTarget) -> PauseBlocker | None:
        """Why the extension's Webex line cannot pause, for the card; advisory, never blocks the request."""
        if self._blocker_for_extension is None or target.kind is not TargetKind.EXTENSION:
            return None
        try:
            return self._blocker_for_extension(target.value)
        except Exception:
            logger.warning("could not look up the line's recording mode for the card", exc_info=True)
            return None

    def _clash_message(self, team_id: str, target: RecordingTarget) -> str:
        existing = self._store.open_for_target(team_id, target.value)
        if not existing:
            return f"{target.value} already has an open request; see `/recording requests`."
        other = existing[0]
        if other.state is RequestState.PENDING:
            return f"{target.value} already has pause request #{other.id} waiting for approval."
        return f"{target.value} is already paused (request #{other.id}); `/recording resume {target.value}` ends it."

    # -- deciding --------------------------------------------------------------------------------

    def approve(self, invocation: Invocation, request_id: int) -> PauseRequest:
        approved = self._decide(invocation, request_id, RequestState.APPROVED, action="approve")
        # The recording system first: every moment before the pause is recorded, and the card
        # update (a Slack round trip, maybe rate-limited) can wait for the outcome.
        return self._execute(invocation, approved, from_state=RequestState.APPROVED)

    def deny(self, invocation: Invocation, request_id: int) -> PauseRequest:
        denied = self._decide(invocation, request_id, RequestState.DENIED, action="deny")
        self._notifier.update_card(denied)
        self._notifier.tell_requester(denied)
        return denied

    def _decide(self, invocation: Invocation, request_id: int, decision: RequestState, *, action: str) -> PauseRequest:
        """The one atomic `pending → decision` change; the loser of a race gets AlreadyDecided."""
        request = self._decidable(invocation, request_id, action=action)
        now = self._clock()
        decided = self._store.transition(
            request.id, from_states=[RequestState.PENDING], to_state=decision, now=now,
            decided_by=invocation.user_id, decided_at=now, claimed_by=self._instance_id,
        )  # fmt: skip
        if decided is None:
            raise self._already_decided(request.id)
        self._audit.record(
            invocation, action=f"request.{decision.value}", outcome=Outcome.OK, target=request.target.value,
            details={"request": request.id},
        )  # fmt: skip
        return decided

    def retry(self, invocation: Invocation, request_id: int) -> PauseRequest:
        request = self._approver_for(invocation, request_id, action="retry")
        if request.state is not RequestState.FAILED:
            raise self._already_decided(request.id)
        if self._recording_system is None:
            raise PauseRefused(NOT_CONFIGURED, outcome=Outcome.ERROR)
        self._audit.record(
            invocation, action="request.retry", outcome=Outcome.OK, target=request.target.value,
            details={"request": request.id, "attempt": request.attempts + 1},
        )  # fmt: skip
        return self._execute(invocation, request, from_state=RequestState.FAILED)

    def abandon(self, invocation: Invocation, request_id: int) -> PauseRequest:
        request = self._approver_for(invocation, request_id, action="abandon")
        abandoned = self._store.transition(
            request.id, from_states=[RequestState.FAILED], to_state=RequestState.ABANDONED, now=self._clock(),
            resumed_by=invocation.user_id,
        )  # fmt: skip
        if abandoned is None:
            raise self._already_decided(request.id)
        self._audit.record(
            invocation, action="request.abandoned", outcome=Outcome.OK, target=request.target.value,
            details={"request": request.id},
        )  # fmt: skip
        self._notifier.update_card(abandoned)
        return abandoned

    def _approver_for(self, invocation: Invocation, request_id: int, *, action: str) -> PauseRequest:
        """The request, if this user may act on it as an approver (raises PauseRefused otherwise)."""
        role = self._authorizer.require(invocation.user, Role.REQUESTER, action=action)
        request = self._store.get(request_id)
        if request is None or request.team_id != invocation.team_id:
            # Another workspace's request looks exactly like a missing one: reveal nothing.
            raise PauseRefused("That request does not exist (or not in this workspace).")
        if not role.at_least(Role.APPROVER):
            raise PauseRefused(f"You can't decide on this: only approvers (team leads) may {action} pause requests.")
        if request.requester_id == invocation.user_id:
            raise PauseRefused("You can't decide on this: another approver must decide on your own request.")
        return request

    def _decidable(self, invocation: Invocation, request_id: int, *, action: str) -> PauseRequest:
        request = self._approver_for(invocation, request_id, action=action)
        if request.state is RequestState.PENDING and request.expires_at <= self._clock():
            self._expire(request)
            raise PauseRefused(f"Request #{request.id} has expired: nobody decided in time. Ask for a new one.")
        if request.state is not RequestState.PENDING:
            raise self._already_decided(request.id)
        return request

    def _already_decided(self, request_id: int) -> AlreadyDecided:
        return AlreadyDecided(self._get(request_id))

    # -- calling the recording system ------------------------------------------------------------

    def _execute(
        self, invocation: Invocation | None, request: PauseRequest, *, from_state: RequestState
    ) -> PauseRequest:
        claimed = self._store.transition(
            request.id, from_states=[from_state], to_state=RequestState.EXECUTING, now=self._clock(),
            count_attempt=True, error=None, claimed_by=self._instance_id,
        )  # fmt: skip
        if claimed is None:
            raise self._already_decided(request.id)
        assert self._recording_system is not None
        try:
            outcome = self._recording_system.pause(claimed.target, claimed.channels)
        except UpstreamError as error:
            self._audit_upstream(invocation, claimed, "pause", error=error)
            if isinstance(error, UpstreamUnreachable):
                # No answer (timeout, dropped connection, 502/503/504): the pause may have taken effect
                # anyway, and nothing would ever end it. Resume to be safe, as recover_interrupted does.
                self._resume_to_be_safe(invocation, claimed)
            failed = self._store.transition(
                claimed.id, from_states=[RequestState.EXECUTING], to_state=RequestState.FAILED, now=self._clock(),
                error=error.user_message(),
            )  # fmt: skip
            assert failed is not None
            self._audit.record(
                invocation, action="request.failed", outcome=Outcome.ERROR, target=claimed.target.value,
                details={"request": claimed.id, "error": error.user_message(), "kind": error.kind},
            )  # fmt: skip
            self._notifier.update_card(failed)
            self._notifier.tell_requester(failed)
            return failed
        self._audit_upstream(invocation, claimed, "pause", outcome=outcome)
        now = self._clock()
        active = self._store.transition(
            claimed.id, from_states=[RequestState.EXECUTING], to_state=RequestState.ACTIVE, now=now,
            paused_at=now, resume_at=now + timedelta(seconds=claimed.duration_seconds),
        )  # fmt: skip
        assert active is not None
        self._schedule_changed.set()
        self._audit.record(
            invocation, action="request.active", outcome=Outcome.OK, target=active.target.value,
            details={"request": active.id, "resume_at": active.resume_at},
        )  # fmt: skip
        self._notifier.update_card(active)
        self._notifier.tell_requester(active)
        return active

    def _resume_to_be_safe(self, invocation: Invocation | None, request: PauseRequest) -> None:
        assert self._recording_system is not None
        try:
            outcome = self._recording_system.resume(request.target)
        except UpstreamError as error:
            self._audit_upstream(invocation, request, "resume", error=error)
        else:
            self._audit_upstream(invocation, request, "resume", outcome=outcome)

    def _audit_upstream(
        self,
        invocation: Invocation | None,
        request: PauseRequest | None,
        operation: str,
        *,
        target: RecordingTarget | None = None,
        outcome: MuteOutcome | None = None,
        error: UpstreamError | None = None,
    ) -> None:
        target = target or (request.target if request else None)
        details: dict[str, Any] = {"operation": operation, "request": request.id if request else None}
        if outcome is not None:
            details.update(mute=outcome.mute, code=outcome.response_code, elapsed_ms=round(outcome.elapsed_ms, 1))
        if error is not None:
            details.update(error=error.user_message(), kind=error.kind, response=(error.detail or "")[:2000])
        self._audit.record(
            invocation,
            action="upstream.mute_recording",
            outcome=Outcome.OK if error is None else Outcome.ERROR,
            target=target.value if target else "",
            details=details,
            user_id=None if invocation else SYSTEM,
        )

    # -- resuming --------------------------------------------------------------------------------

    def resume(self, invocation: Invocation, target: RecordingTarget) -> ResumeResult:
        """Resume at once (the safe direction: no approval), cancelling any scheduled automatic resume."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="resume")
        if self._recording_system is None:
            raise PauseRefused(NOT_CONFIGURED, outcome=Outcome.ERROR)
        claimed = [
            c
            for r in self._store.open_for_target(invocation.team_id, target.value)
            if r.state is RequestState.ACTIVE
            and (c := self._store.transition(
                r.id, from_states=[RequestState.ACTIVE], to_state=RequestState.RESUMING, now=self._clock(),
                claimed_by=self._instance_id,
            )) is not None
        ]  # fmt: skip
        resume_target = claimed[0].target if claimed else target
        try:
            outcome = self._recording_system.resume(resume_target)
        except UpstreamError as error:
            self._audit_upstream(
                invocation, claimed[0] if claimed else None, "resume", target=resume_target, error=error
            )
            if isinstance(error, NotFound) and claimed:
                # The call has ended: nothing is being recorded any more, so the pause is over too.
                finished = self._finish_resumed(claimed, invocation.user_id, note="the call had ended")
                return ResumeResult(target=resume_target, cancelled=finished)
            for request in claimed:
                self._store.transition(
                    request.id, from_states=[RequestState.RESUMING], to_state=RequestState.ACTIVE, now=self._clock(),
                )  # fmt: skip
            raise
        self._audit_upstream(
            invocation, claimed[0] if claimed else None, "resume", target=resume_target, outcome=outcome
        )
        finished = self._finish_resumed(claimed, invocation.user_id)
        return ResumeResult(target=resume_target, cancelled=finished, outcome=outcome)

    def _finish_resumed(
        self, claimed: list[PauseRequest], resumed_by: str, *, note: str | None = None
    ) -> list[PauseRequest]:
        finished = []
        for request in claimed:
            now = self._clock()
            done = self._store.transition(
                request.id, from_states=[RequestState.RESUMING], to_state=RequestState.RESUMED, now=now,
                resumed_at=now, resumed_by=resumed_by, error=note,
            )  # fmt: skip
            if done is None:
                continue
            self._audit.record(
                None, action="request.resumed", outcome=Outcome.OK, target=done.target.value,
                details={"request": done.id, "by": resumed_by, "note": note}, user_id=resumed_by,
            )  # fmt: skip
            self._notifier.update_card(done)
            finished.append(done)
        return finished

    # -- the schedule ----------------------------------------------------------------------------

    def expire_due(self) -> list[PauseRequest]:
        return [e for r in self._store.due_for_expiry(self._clock()) if (e := self._expire(r)) is not None]

    def _expire(self, request: PauseRequest) -> PauseRequest | None:
        expired = self._store.transition(
            request.id, from_states=[RequestState.PENDING], to_state=RequestState.EXPIRED, now=self._clock()
        )
        if expired is None:
            return None
        self._audit.record(
            None, action="request.expired", outcome=Outcome.OK, target=expired.target.value,
            details={"request": expired.id}, user_id=SYSTEM,
        )  # fmt: skip
        self._notifier.update_card(expired)
        self._notifier.tell_requester(expired)
        return expired

    def resume_due(self) -> list[PauseRequest]:
        """Resume every pause whose window has ended; a failure is retried later, never dropped."""
        resumed = []
        for request in self._store.due_for_resume(self._clock()):
            claimed = self._store.transition(
                request.id, from_states=[RequestState.ACTIVE], to_state=RequestState.RESUMING, now=self._clock(),
                claimed_by=self._instance_id,
            )  # fmt: skip
            if claimed is None:
                continue  # resumed by hand, or by another worker, in the meantime
            resumed.extend(self._auto_resume(claimed))
        return resumed

    def _auto_resume(self, request: PauseRequest) -> list[PauseRequest]:
        if self._recording_system is None:
            return self._retry_resume_later(request, NOT_CONFIGURED)
        try:
            outcome = self._recording_system.resume(request.target)
        except NotFound as error:
            self._audit_upstream(None, request, "resume", error=error)
            return self._finish_resumed([request], SYSTEM, note="the call had ended")
        except UpstreamError as error:
            self._audit_upstream(None, request, "resume", error=error)
            return self._retry_resume_later(request, error.user_message())
        self._audit_upstream(None, request, "resume", outcome=outcome)
        return self._finish_resumed([request], SYSTEM)

    def _retry_resume_later(self, request: PauseRequest, error: str) -> list[PauseRequest]:
        delay = min(RESUME_RETRY_CAP_SECONDS, RESUME_RETRY_SECONDS * 2 ** min(request.resume_attempts, 8))
        now = self._clock()
        again = self._store.transition(
            request.id, from_states=[RequestState.RESUMING], to_state=RequestState.ACTIVE, now=now,
            count_resume_attempt=True, resume_at=now + timedelta(seconds=delay), error=error,
        )  # fmt: skip
        logger.warning("automatic resume of request #%s failed (%s); retrying in %ss", request.id, error, delay)
        self._audit.record(
            None, action="request.resume_failed", outcome=Outcome.ERROR, target=request.target.value,
            details={"request": request.id, "error": error, "retry_in_seconds": delay}, user_id=SYSTEM,
        )  # fmt: skip
        if again is not None:
            self._notifier.update_card(again)
        return []

    def recover_orphaned(self, live_instances: list[str]) -> None:
        """Settle requests that an instance no longer alive left in flight (a crash, a kill, a redeploy).

        Each takeover is one conditional write that also checks the old claim, so of several live
        instances exactly one takes over each request.
        """
        for request in self._store.orphaned([RequestState.RESUMING], live_instances=live_instances):
            # The resume may not have been sent: make it due again (resuming twice is harmless).
            self._store.transition(
                request.id, from_states=[RequestState.RESUMING], to_state=RequestState.ACTIVE, now=self._clock(),
                resume_at=self._clock(), expect_claim=request.claimed_by or "", claimed_by=self._instance_id,
            )  # fmt: skip
            self._schedule_changed.set()
        in_flight = [RequestState.APPROVED, RequestState.EXECUTING]
        for request in self._store.orphaned(in_flight, live_instances=live_instances):
            # We cannot know whether the pause reached the recording system. Resume to be safe (a
            # recording must never stay paused unseen), and let an approver retry from the card.
            note = "the bot restarted while pausing; the recording was resumed to be safe. Retry if still needed."
            failed = self._store.transition(
                request.id, from_states=in_flight, to_state=RequestState.FAILED, now=self._clock(), error=note,
                expect_claim=request.claimed_by or "", claimed_by=self._instance_id,
            )  # fmt: skip
            if failed is None:
                continue
            if self._recording_system is not None:
                try:
                    outcome = self._recording_system.resume(failed.target)
                    self._audit_upstream(None, failed, "resume", outcome=outcome)
                except UpstreamError as error:
                    self._audit_upstream(None, failed, "resume", error=error)
            self._audit.record(
                None, action="request.failed", outcome=Outcome.ERROR, target=failed.target.value,
                details={"request": failed.id, "error": note}, user_id=SYSTEM,
            )  # fmt: skip
            self._notifier.update_card(failed)

    def next_due(self) -> datetime | None:
        return self._store.next_due()

    # -- reading ---------------------------------------------------------------------------------

    def open_requests(self, team_id: str) -> list[PauseRequest]:
        """The workspace's open requests (operators and tests; no role check)."""
        return self._store.in_states([s for s in RequestState if s.is_open], team_id=team_id)

    def open_requests_for(self, invocation: Invocation) -> list[PauseRequest]:
        """Pending requests and active pauses, for anyone on the allow-list."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="requests")
        return self.open_requests(invocation.team_id)

    def get(self, request_id: int) -> PauseRequest | None:
        return self._store.get(request_id)

    def now(self) -> datetime:
        return self._clock()

    def _get(self, request_id: int) -> PauseRequest:
        request = self._store.get(request_id)
        assert request is not None
        return request
