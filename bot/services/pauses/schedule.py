"""The schedule, run by services/scheduler.py on every instance: expiries, reminders, automatic resumes
(retried, never dropped), the resumes the database still owes, and the takeover of requests an instance
left in flight when it died. The database's deadlines are the truth, so a restarted bot carries on."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from bot.clients.errors import NotFound, UpstreamError
from bot.models import Outcome, PauseRequest, RequestKind, RequestState
from bot.models.refusals import PauseRefused
from bot.services.pauses.lifecycle import SYSTEM, Lifecycle
from bot.services.pauses.resume import Resuming
from bot.services.pauses.upstream import Upstream
from bot.services.unwritten import UnwrittenResume
from bot.store.database import DatabaseUnavailable
from bot.words import format_duration

logger = logging.getLogger(__name__)

# After a failed automatic resume, try again after this long, doubling up to the cap.
RESUME_RETRY_SECONDS = 15
RESUME_RETRY_CAP_SECONDS = 300
# What is still open when the app leaves a workspace: each is withdrawn or resumed (`workspace_left`).
_LEFT_OPEN = (
    RequestState.PENDING, RequestState.FAILED, RequestState.APPROVED, RequestState.EXECUTING, RequestState.ACTIVE,
)  # fmt: skip
# Why an automatic resume cannot be sent, for the log and the card.
NOT_CONFIGURED = (
    "The recording system is not configured: an admin must set MEDIA_REPOSITORY_URL and MEDIA_REPOSITORY_API_KEY."
)


class Schedule:
    def __init__(self, core: Lifecycle, *, upstream: Upstream, resuming: Resuming) -> None:
        self._core = core
        self._upstream = upstream
        self._resuming = resuming
        # The active pauses as last read, to resume from when the database cannot be read at all.
        self._active_copy: list[PauseRequest] = []

    # -- withdrawals -----------------------------------------------------------------------------

    def withdraw_unlisted(self) -> list[PauseRequest]:
        """Withdraw the pending and failed requests of people no longer on the allow-list, however they were
        taken off it (in Slack, on the command line, by another instance). Their active pauses run on."""
        return [w for r in self._core.store.of_unlisted_requesters() if (w := self._core.withdraw(r)) is not None]

    def workspace_left(self, team_id: str, why: str) -> tuple[list[PauseRequest], list[PauseRequest]]:
        """The app left a workspace (uninstalled, tokens revoked), and nobody there could be told when a pause
        ends: its pending and failed requests are withdrawn, approved ones withdrawn before they are sent, and
        every pause that is on or being sent resumed at once. (withdrawn, resumed); a resume that fails is
        retried by the schedule as any automatic one.

        A pause being sent on another thread (executing) is taken as on and resumed; that thread then finds
        its request taken and resumes once more after its own pause (upstream.py: `_overtaken`), so whichever
        reaches the recording system last, the resume does."""
        withdrawn: list[PauseRequest] = []
        resumed: list[PauseRequest] = []
        # The pauses being sent first, then those on, then the rest: the recording system before any Slack call.
        for request in sorted(self._core.store.in_states(_LEFT_OPEN, team_id=team_id), key=_left_order):
            settled = self._leave(request, why)
            if settled is not None:
                (withdrawn if settled.state is RequestState.CANCELLED else resumed).append(settled)
        return withdrawn, resumed

    def _leave(self, request: PauseRequest, why: str) -> PauseRequest | None:
        """One request of a workspace the app left, settled as its state is now: read again whenever another
        thread or instance moved it first. The request withdrawn or resumed; None if nothing was left to do."""
        core = self._core
        current: PauseRequest | None = request
        for _ in range(len(_LEFT_OPEN) + 1):
            if current is None or current.state not in _LEFT_OPEN:
                return None
            if current.kind is RequestKind.EXTENSION and current.state is RequestState.APPROVED:
                return None  # being applied: its pause is resumed below, and the extension then expires
            if current.state in (RequestState.PENDING, RequestState.FAILED, RequestState.APPROVED):
                moved = core.move(
                    current.id, from_states=[current.state], to_state=RequestState.CANCELLED, cancelled_by=SYSTEM,
                    error=why,
                )  # fmt: skip
                if moved is not None:
                    self._left_audit("request.withdrawn", moved, was=current.state, why=why)
                    core.changed(moved)
                    return moved
            else:
                done = self._resume_left(current, why)
                if done is not None:
                    return done
            current = core.store.get(current.id)
        return None

    def _resume_left(self, request: PauseRequest, why: str) -> PauseRequest | None:
        """Resume a pause that is on (active) or being sent (executing: taken as on first). None if another
        thread or instance moved it first."""
        core = self._core
        if request.state is RequestState.EXECUTING:
            now = core.now()
            taken = core.move(
                request.id, from_states=[RequestState.EXECUTING], to_state=RequestState.ACTIVE, paused_at=now,
                resume_at=now, remind_at=None, claimed_by=core.instance_id, error=why,
            )  # fmt: skip
            if taken is None:
                return None
        claimed = core.move(
            request.id, from_states=[RequestState.ACTIVE], to_state=RequestState.RESUMING, claimed_by=core.instance_id
        )
        if claimed is None:
            return None
        self._left_audit("request.resume_early", claimed, was=request.state, why=why)
        done = self._auto_resume(claimed)
        return done[0] if done else core.store.get(claimed.id) or claimed

    def _left_audit(self, action: str, request: PauseRequest, *, was: RequestState, why: str) -> None:
        self._core.audit.record(
            None, action=action, outcome=Outcome.OK, target=request.target.value, group=request.group_name,
            team_id=request.team_id, user_id=SYSTEM,
            details={"request": request.id, "requester": request.requester_id, "was": was.value, "why": why},
        )  # fmt: skip

    # -- expiry ----------------------------------------------------------------------------------

    def expire_due(self) -> list[PauseRequest]:
        """Undecided requests past their deadline expire; failed ones nobody retried in time are abandoned."""
        done = []
        for request in self._core.store.due_for_expiry(self._core.now()):
            settled = self.expire(request) if request.state is RequestState.PENDING else self.abandon_stale(request)
            if settled is not None:
                done.append(settled)
        return done

    def expire(self, request: PauseRequest) -> PauseRequest | None:
        core = self._core
        expired = core.move(request.id, from_states=[RequestState.PENDING], to_state=RequestState.EXPIRED)
        if expired is None:
            return None
        core.audit.record(
            None, action="request.expired", outcome=Outcome.OK, target=expired.target.value,
            group=expired.group_name, team_id=expired.team_id, details={"request": expired.id}, user_id=SYSTEM,
        )  # fmt: skip
        core.changed(expired, tell_requester=True)
        return expired

    def abandon_stale(self, request: PauseRequest) -> PauseRequest | None:
        core = self._core
        note = (
            f"nobody retried it within {format_duration(int(core.approval_timeout.total_seconds()))} of the "
            f"failure ({request.error or 'unknown error'})"
        )
        abandoned = core.move(
            request.id, from_states=[RequestState.FAILED], to_state=RequestState.ABANDONED, resumed_by=SYSTEM,
            error=note,
        )  # fmt: skip
        if abandoned is None:
            return None
        core.audit.record(
            None, action="request.abandoned", outcome=Outcome.OK, target=abandoned.target.value,
            group=abandoned.group_name,
            team_id=abandoned.team_id, details={"request": abandoned.id, "why": "no retry in time"}, user_id=SYSTEM,
        )  # fmt: skip
        core.changed(abandoned)
        return abandoned

    def remind_due(self) -> list[PauseRequest]:
        """Tell requesters that their pause ends soon (once each, whichever instance gets there first)."""
        core = self._core
        reminded = []
        for request in core.store.due_for_reminder(core.now()):
            claimed = core.store.claim_reminder(request.id, core.now())
            if claimed is not None:
                core.notifier.remind_requester(claimed)
                reminded.append(claimed)
        return reminded

    # -- automatic resumes -----------------------------------------------------------------------

    def resume_due(self) -> list[PauseRequest]:
        """Resume every pause whose window has ended; a failure is retried later, never dropped.

        The database's schedule is the truth; when it cannot be read, the last copy read from it is used,
        and when a claim cannot be written, the resume is sent anyway and recorded later."""
        core = self._core
        now = core.now()
        unreadable: str | None = None
        try:
            self._active_copy = core.store.in_states([RequestState.ACTIVE])
        except DatabaseUnavailable as error:
            unreadable = str(error)
        due = sorted(
            (r for r in self._active_copy if r.resume_at is not None and r.resume_at <= now),
            key=lambda r: r.resume_at or now,
        )
        due = [r for r in due if r.id not in core.unwritten]
        if due and unreadable is not None:
            logger.warning("the database cannot be read (%s); resuming from the last schedule read", unreadable)
        resumed: list[PauseRequest] = []
        for request in due:
            try:
                if unreadable is not None:
                    raise DatabaseUnavailable(unreadable)
                claimed = core.move(
                    request.id, from_states=[RequestState.ACTIVE], to_state=RequestState.RESUMING,
                    claimed_by=core.instance_id,
                )  # fmt: skip
            except DatabaseUnavailable as error:
                # Sent below with the others the database owes, and recorded once it takes writes.
                core.unwritten.hold(UnwrittenResume(request=request, problem=str(error), next_attempt=now))
                continue
            if claimed is None:
                continue  # resumed by hand, or by another instance, in the meantime
            resumed.extend(self._auto_resume(claimed))
        return resumed + self.write_unwritten()

    def write_unwritten(self) -> list[PauseRequest]:
        """Send the resumes still owed to the recording system, and record those sent; the pauses recorded
        as resumed now."""
        core = self._core
        self._hold_owed()
        recorded: list[PauseRequest] = []
        for entry in core.unwritten.entries():
            if not entry.sent:
                if entry.next_attempt is not None and entry.next_attempt > core.now():
                    continue
                if not self._send_unwritten(entry):
                    continue
                entry = replace(entry, sent=True, resumed_by=SYSTEM)
            recorded.extend(self._resuming.finish([entry.request], entry.resumed_by or SYSTEM, note=entry.note))
        return [r for r in recorded if r.id not in core.unwritten]

    def _hold_owed(self) -> None:
        """The resumes owed in the database (by this instance before a restart, or by one that died) that
        this one does not hold yet: sent on this pass (resuming twice is harmless)."""
        core = self._core
        try:
            owed = core.store.owed_resumes()
        except DatabaseUnavailable:
            return  # those held in memory are still sent
        for request in owed:
            entry = UnwrittenResume(request=request, problem="owed", next_attempt=core.now(), owed=True)
            if core.unwritten.hold(entry):
                logger.warning("request #%s: sending the resume owed to the recording system again", request.id)

    def _paid(self, entry: UnwrittenResume) -> None:
        if entry.owed:
            try:
                self._core.store.resume_paid(entry.request.id)
            except DatabaseUnavailable as error:  # still owed there: sent once more later, harmlessly
                logger.warning("request #%s: the resume owed was taken, not yet recorded: %s", entry.request.id, error)

    def _send_unwritten(self, entry: UnwrittenResume) -> bool:
        """Resume a pause whose state cannot be written; whether the recording system accepted it."""
        core = self._core
        request = entry.request
        if core.recording_system is None:
            return False
        try:
            outcome = core.recording_system.resume(request.target)
        except NotFound as error:
            self._upstream.audit(None, request, "resume", error=error)
            core.unwritten.update(request.id, sent=True, resumed_by=SYSTEM, note="the call had ended")
            self._paid(entry)
            return True
        except UpstreamError as error:
            self._upstream.audit(None, request, "resume", error=error)
            delay = retry_delay(entry.attempts)
            core.unwritten.update(
                request.id, attempts=entry.attempts + 1, next_attempt=core.now() + timedelta(seconds=delay)
            )
            logger.warning(
                "automatic resume of request #%s failed (%s); retrying in %ss", request.id, error.user_message(), delay
            )
            return False
        self._upstream.audit(None, request, "resume", outcome=outcome)
        core.unwritten.update(request.id, sent=True, resumed_by=SYSTEM)
        self._paid(entry)
        if entry.owed:
            logger.info("request #%s: the resume owed was taken by the recording system", request.id)
            return True
        logger.warning(
            "request #%s resumed on time, but the database could not record it (%s); recording it when it can",
            request.id, entry.problem,
        )  # fmt: skip
        return True

    def _auto_resume(self, request: PauseRequest) -> list[PauseRequest]:
        recording_system = self._core.recording_system
        if recording_system is None:
            return self._retry_resume_later(request, NOT_CONFIGURED)
        try:
            outcome = recording_system.resume(request.target)
        except NotFound as error:
            self._upstream.audit(None, request, "resume", error=error)
            return self._resuming.finish([request], SYSTEM, note="the call had ended")
        except UpstreamError as error:
            self._upstream.audit(None, request, "resume", error=error)
            return self._retry_resume_later(request, error.user_message())
        self._upstream.audit(None, request, "resume", outcome=outcome)
        return self._resuming.finish([request], SYSTEM)

    def _retry_resume_later(self, request: PauseRequest, error: str) -> list[PauseRequest]:
        core = self._core
        delay = retry_delay(request.resume_attempts)
        again = self._resuming.reactivate(request, resume_at=core.now() + timedelta(seconds=delay), error=error)
        logger.warning("automatic resume of request #%s failed (%s); retrying in %ss", request.id, error, delay)
        core.audit.record(
            None, action="request.resume_failed", outcome=Outcome.ERROR, target=request.target.value,
            group=request.group_name, team_id=request.team_id, user_id=SYSTEM,
            details={"request": request.id, "error": error, "retry_in_seconds": delay},
        )  # fmt: skip
        if again is not None:
            core.update_card(again)
        return []

    # -- takeover --------------------------------------------------------------------------------

    def recover_orphaned(self, live_instances: list[str]) -> None:
        """Settle requests that an instance no longer alive left in flight (a crash, a kill, a redeploy).

        Each takeover is one conditional write that also checks the old claim, so of several live
        instances exactly one takes over each request.
        """
        core = self._core
        for request in core.store.orphaned([RequestState.RESUMING], live_instances=live_instances):
            # The resume may not have been sent: make it due again (resuming twice is harmless).
            core.move(
                request.id, from_states=[RequestState.RESUMING], to_state=RequestState.ACTIVE,
                resume_at=core.now(), expect_claim=request.claimed_by or "", claimed_by=core.instance_id,
            )  # fmt: skip
            core.schedule_changed.set()
        in_flight = [RequestState.APPROVED, RequestState.EXECUTING]
        for request in core.store.orphaned(in_flight, live_instances=live_instances):
            if request.kind is RequestKind.EXTENSION:
                self._recover_extension(request)
            else:
                self._recover_pause(request, in_flight)

    def _recover_pause(self, request: PauseRequest, in_flight: list[RequestState]) -> None:
        # We cannot know whether the pause reached the recording system. Resume to be safe (a recording
        # must never stay paused unseen), and let an approver retry from the card.
        core = self._core
        note = "the bot restarted while pausing; the recording was resumed to be safe. Retry if still needed."
        failed = core.move(
            request.id, from_states=in_flight, to_state=RequestState.FAILED, error=note,
            expect_claim=request.claimed_by or "", claimed_by=core.instance_id,
            expires_at=core.now() + core.approval_timeout,
        )  # fmt: skip
        if failed is None:
            return
        if core.recording_system is not None:
            self._upstream.resume_to_be_safe(None, failed)
        core.audit.record(
            None, action="request.failed", outcome=Outcome.ERROR, target=failed.target.value,
            group=failed.group_name,
            team_id=failed.team_id, details={"request": failed.id, "error": note}, user_id=SYSTEM,
        )  # fmt: skip
        core.changed(failed)

    def _recover_extension(self, extension: PauseRequest) -> None:
        """An extension approved by an instance that died before applying it: apply it now."""
        core = self._core
        claimed = core.move(
            extension.id, from_states=[RequestState.APPROVED], to_state=RequestState.APPROVED,
            expect_claim=extension.claimed_by or "", claimed_by=core.instance_id,
        )  # fmt: skip
        if claimed is not None:
            try:
                self._upstream.apply_extension(None, claimed)
            except PauseRefused as refused:
                logger.info("extension #%s taken over and not applied: %s", claimed.id, type(refused).__name__)

    def next_due(self) -> datetime | None:
        return self._core.store.next_due()

    @property
    def has_unwritten(self) -> bool:
        """Whether resumes wait for the database to record them (or to be sent again)."""
        return len(self._core.unwritten) > 0


def _left_order(request: PauseRequest) -> tuple[int, int]:
    first = (RequestState.EXECUTING, RequestState.ACTIVE)
    return (first.index(request.state) if request.state in first else len(first), request.id)


def retry_delay(attempts: int) -> int:
    """Seconds before the next try of a failed automatic resume: doubling, up to a cap."""
    return min(RESUME_RETRY_CAP_SECONDS, RESUME_RETRY_SECONDS * (1 << min(attempts, 8)))
