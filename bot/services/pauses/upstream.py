"""Calling the recording system: a decided pause claimed (written first), sent, and recorded as active or
failed; an approved extension applied; every MuteRecording audited."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.clients.errors import NotFound, UpstreamError, UpstreamUnreachable
from bot.clients.recording_system import MuteOutcome
from bot.models import Invocation, Outcome, PauseRequest, RecordingTarget, RequestState
from bot.models.refusals import ExtensionOutlived
from bot.services.pauses.lifecycle import SYSTEM, Lifecycle
from bot.services.unwritten import UnwrittenResume
from bot.store.database import DatabaseUnavailable

logger = logging.getLogger(__name__)

# The requester is reminded this long before an automatic resume (halfway through shorter pauses).
REMIND_BEFORE = timedelta(minutes=1)


class Upstream:
    def __init__(self, core: Lifecycle) -> None:
        self._core = core

    def execute(
        self,
        invocation: Invocation | None,
        request: PauseRequest,
        *,
        from_state: RequestState,
        notify: bool = True,
    ) -> PauseRequest:
        """Claim the request (executing: written before anything is sent, so a second click or instance
        finds it taken), pause the recording, and record the outcome."""
        core = self._core
        claimed = core.move(
            request.id, from_states=[from_state], to_state=RequestState.EXECUTING,
            count_attempt=True, error=None, claimed_by=core.instance_id,
        )  # fmt: skip
        if claimed is None:
            raise core.already_decided(request.id)
        return self.send(invocation, claimed, notify=notify)

    def send(self, invocation: Invocation | None, claimed: PauseRequest, *, notify: bool = True) -> PauseRequest:
        """Pause the recording of a request this instance has claimed (executing), and record the outcome."""
        core = self._core
        assert claimed.state is RequestState.EXECUTING
        outcome: MuteOutcome | None = None
        failure: UpstreamError | None = None
        recording_system = core.require_recording_system()
        try:
            outcome = recording_system.pause(claimed.target, claimed.channels)
        except UpstreamError as error:
            failure = error
        if failure is not None:
            self.audit(invocation, claimed, "pause", error=failure)
            if isinstance(failure, UpstreamUnreachable):
                # No answer (timeout, dropped connection, 502/503/504): the pause may have taken effect
                # anyway, and nothing would ever end it. Resume to be safe, as recover_orphaned does.
                self.resume_to_be_safe(invocation, claimed)
            return self._fail(invocation, claimed, failure.user_message(), kind=failure.kind, notify=notify)
        self.audit(invocation, claimed, "pause", outcome=outcome)
        return self._activate(invocation, claimed, notify=notify)

    def _activate(self, invocation: Invocation | None, claimed: PauseRequest, *, notify: bool) -> PauseRequest:
        core = self._core
        now = core.now()
        resume_at = now + timedelta(seconds=claimed.duration_seconds)
        active = core.move(
            claimed.id, from_states=[RequestState.EXECUTING], to_state=RequestState.ACTIVE,
            paused_at=now, resume_at=resume_at, remind_at=remind_at(now, resume_at), reminded_at=None,
            # A resume still owed from an earlier attempt (retried from a failed card) would end this pause
            # early: it is paused now on purpose, and resumes at its time.
            resume_owed_since=None,
        )  # fmt: skip
        if active is None:
            return self._overtaken(invocation, claimed)
        core.unwritten.drop(active.id)
        core.schedule_changed.set()
        core.audit.record(
            invocation, action="request.active", outcome=Outcome.OK, target=active.target.value,
            group=active.group_name,
            team_id=active.team_id, details={"request": active.id, "resume_at": active.resume_at},
        )  # fmt: skip
        if notify:
            core.changed(active, tell_requester=True)
        return active

    def _overtaken(self, invocation: Invocation | None, claimed: PauseRequest) -> PauseRequest:
        """The pause was sent, but the request was taken while the call was out: the app left the workspace
        (schedule.py's `workspace_left`), which resumed it. That resume may have reached the recording system
        before this pause did, so resume again after it: the resume follows, a pause is never left on."""
        current = self._core.get(claimed.id)
        logger.warning(
            "request #%s was %s while its pause was being sent; resuming to be safe", claimed.id, current.state.value
        )
        self.resume_to_be_safe(invocation, claimed)
        return current

    def _fail(
        self, invocation: Invocation | None, request: PauseRequest, error: str, *, kind: str, notify: bool
    ) -> PauseRequest:
        core = self._core
        failed = core.move(
            request.id, from_states=[RequestState.EXECUTING], to_state=RequestState.FAILED, error=error,
            # A failed request may be retried for as long as a request may wait for a decision.
            expires_at=core.now() + core.approval_timeout,
        )  # fmt: skip
        if failed is None:
            # Taken while the call was out (the app left the workspace): whoever took it resumed it.
            return core.get(request.id)
        core.schedule_changed.set()
        core.audit.record(
            invocation, action="request.failed", outcome=Outcome.ERROR, target=request.target.value,
            group=request.group_name,
            team_id=request.team_id, details={"request": request.id, "error": error, "kind": kind},
        )  # fmt: skip
        if notify or failed.message_ts:
            core.update_card(failed)
        core.notifier.tell_requester(failed)
        core.notifier.request_changed(failed)
        return failed

    def apply_extension(self, invocation: Invocation | None, extension: PauseRequest) -> PauseRequest:
        """An approved extension moves its pause's automatic resume later (if the pause is still active)."""
        core = self._core
        assert extension.extends_id is not None
        pause = core.store.get(extension.extends_id)
        extended_pause = None
        if pause is not None and pause.state is RequestState.ACTIVE and pause.resume_at is not None:
            new_end = pause.resume_at + timedelta(seconds=extension.duration_seconds)
            assert pause.paused_at is not None
            extended_pause = core.store.extend(
                pause.id, from_resume_at=pause.resume_at, to_resume_at=new_end,
                remind_at=remind_at(pause.paused_at, new_end), added_seconds=extension.duration_seconds,
                now=core.now(),
            )  # fmt: skip
        if extended_pause is None:
            expired = core.move(
                extension.id, from_states=[RequestState.APPROVED], to_state=RequestState.EXPIRED,
                error="the pause had ended before the extension was approved",
            )  # fmt: skip
            core.changed(expired or core.get(extension.id), tell_requester=True)
            raise ExtensionOutlived(extension.extends_id, extension.id)
        done = core.move(
            extension.id, from_states=[RequestState.APPROVED], to_state=RequestState.EXTENDED,
            resume_at=extended_pause.resume_at,
        )  # fmt: skip
        assert done is not None
        core.schedule_changed.set()
        core.audit.record(
            invocation, action="request.extended", outcome=Outcome.OK, target=extended_pause.target.value,
            group=extended_pause.group_name, team_id=extended_pause.team_id,
            details={"request": extended_pause.id, "extension": done.id, "seconds": done.duration_seconds,
                     "resume_at": extended_pause.resume_at},
        )  # fmt: skip
        for changed in (done, extended_pause):
            core.changed(changed)
        core.notifier.tell_requester(done)
        return done

    def resume_to_be_safe(self, invocation: Invocation | None, request: PauseRequest) -> None:
        """Resume a recording that may be paused with no pause on record to end it (a MuteRecording that got
        no answer, one sent while the request was taken, one in flight on an instance that died). A resume
        the recording system does not take now is sent again by the scheduler until it is taken
        (schedule.py: write_unwritten), so such a pause is never left on."""
        core = self._core
        try:
            outcome = core.require_recording_system().resume(request.target)
        except NotFound as error:
            self.audit(invocation, request, "resume", error=error)  # the call has ended: nothing is paused
        except UpstreamError as error:
            self.audit(invocation, request, "resume", error=error)
            logger.warning(
                "request #%s: the resume sent to be safe failed (%s); sending it again", request.id,
                error.user_message(),
            )  # fmt: skip
            now = core.now()
            core.unwritten.hold(
                UnwrittenResume(request=request, problem=error.user_message(), next_attempt=now, owed=True)
            )
            try:
                core.store.owe_resume(request.id, now)
            except DatabaseUnavailable as unwritable:  # sent again from memory meanwhile
                logger.warning("request #%s: the resume owed is held in memory only: %s", request.id, unwritable)
            core.schedule_changed.set()
        else:
            self.audit(invocation, request, "resume", outcome=outcome)

    def audit(
        self,
        invocation: Invocation | None,
        request: PauseRequest | None,
        operation: str,
        *,
        target: RecordingTarget | None = None,
        outcome: MuteOutcome | None = None,
        error: UpstreamError | None = None,
    ) -> None:
        """The audit row of one MuteRecording call."""
        target = target or (request.target if request else None)
        details: dict[str, Any] = {"operation": operation, "request": request.id if request else None}
        if outcome is not None:
            details.update(mute=outcome.mute, code=outcome.response_code, elapsed_ms=round(outcome.elapsed_ms, 1))
        if error is not None:
            details.update(error=error.user_message(), kind=error.kind, response=(error.detail or "")[:2000])
        self._core.audit.record(
            invocation,
            action="upstream.mute_recording",
            outcome=Outcome.OK if error is None else Outcome.ERROR,
            target=target.value if target else "",
            details=details,
            user_id=None if invocation else SYSTEM,
            group=request.group_name if request else None,
            team_id=request.team_id if request else None,
        )


def remind_at(paused_at: datetime, resume_at: datetime) -> datetime:
    """One minute before the end; halfway through a pause shorter than two minutes."""
    length = resume_at - paused_at
    if length < 2 * REMIND_BEFORE:
        return paused_at + length / 2
    return resume_at - REMIND_BEFORE
