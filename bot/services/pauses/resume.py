"""Resuming: by hand at once (the safe direction, no approval), and how any resume ends a pause — its
undecided extensions expire, its requester is told once. When the database cannot be written, the resume
is sent all the same and what the database should say is kept until it can (services/unwritten.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.clients.errors import NotFound, UpstreamError
from bot.clients.recording_system import MuteOutcome
from bot.models import Invocation, Outcome, PauseRequest, RecordingTarget, RequestState, Role
from bot.models.refusals import AlreadyDecided, PauseAlreadyEnded
from bot.services.pauses.lifecycle import SYSTEM, Lifecycle
from bot.services.pauses.targets import Targets
from bot.services.pauses.upstream import Upstream
from bot.services.unwritten import UnwrittenResume
from bot.store.database import DatabaseUnavailable

logger = logging.getLogger(__name__)

# Message kinds that go out at most once per request and person (request_notices).
NOTICE_ENDED = "ended"


@dataclass(frozen=True)
class ResumeResult:
    target: RecordingTarget
    # The pauses this resume ended (their automatic resume is cancelled).
    cancelled: list[PauseRequest] = field(default_factory=list)
    # Requests on the target still waiting for a decision: left as they are.
    pending: list[PauseRequest] = field(default_factory=list)
    outcome: MuteOutcome | None = None
    # Why the database could not record the resume yet (it is recorded as soon as it can be).
    unwritten: str | None = None


class Resuming:
    def __init__(self, core: Lifecycle, *, targets: Targets, upstream: Upstream) -> None:
        self._core = core
        self._targets = targets
        self._upstream = upstream

    def resume(self, invocation: Invocation, target: RecordingTarget) -> ResumeResult:
        """Resume at once, cancelling any scheduled automatic resume. Requests on the target still waiting
        for a decision are left as they are."""
        core = self._core
        core.authorizer.require(invocation.user, Role.REQUESTER, action="resume")
        recording_system = core.require_recording_system()
        target = self._targets.resolve(invocation, target)
        open_requests = self._targets.open_on(invocation.team_id, target, quick=True)
        pending = [r for r in open_requests if r.state is RequestState.PENDING]
        active = [r for r in open_requests if r.state is RequestState.ACTIVE]
        already = [r for r in active if r.id in core.unwritten]
        if already and len(already) == len(active):
            # Resumed a moment ago while the database could not record it: it is not sent twice.
            entry = next(e for e in core.unwritten.entries() if e.request.id == already[0].id)
            if entry.sent:
                return ResumeResult(
                    target=already[0].target, cancelled=already, pending=pending, unwritten=entry.problem
                )
        claimed, unclaimed, problem = self._claim(active)
        ours = claimed + unclaimed
        resume_target = ours[0].target if ours else target
        first = ours[0] if ours else None
        try:
            outcome = recording_system.resume(resume_target)
        except UpstreamError as error:
            self._upstream.audit(invocation, first, "resume", target=resume_target, error=error)
            if isinstance(error, NotFound) and ours:
                # The call has ended: nothing is being recorded any more, so the pause is over too.
                note = "the call had ended"
                finished = self.finish(claimed, invocation.user_id, note=note)
                self._hold_sent(unclaimed, invocation.user_id, note=note, problem=problem or "")
                return ResumeResult(target=resume_target, cancelled=finished + unclaimed, pending=pending,
                                    unwritten=problem)  # fmt: skip
            for request in claimed:
                self.reactivate(request, resume_at=None, error=None)
            raise
        self._upstream.audit(invocation, first, "resume", target=resume_target, outcome=outcome)
        finished = self.finish(claimed, invocation.user_id)
        self._hold_sent(unclaimed, invocation.user_id, note=None, problem=problem or "")
        return ResumeResult(
            target=resume_target, cancelled=finished + unclaimed, pending=pending, outcome=outcome, unwritten=problem
        )

    def _claim(self, active: list[PauseRequest]) -> tuple[list[PauseRequest], list[PauseRequest], str | None]:
        """(the pauses this resume claimed, those it could not write a claim for, why not)."""
        claimed: list[PauseRequest] = []
        unclaimed: list[PauseRequest] = []
        problem: str | None = None
        for request in active:
            try:
                won = self._core.move(
                    request.id, from_states=[RequestState.ACTIVE], to_state=RequestState.RESUMING,
                    claimed_by=self._core.instance_id,
                )  # fmt: skip
            except DatabaseUnavailable as error:
                problem = str(error)
                unclaimed.append(request)
                continue
            if won is not None:
                claimed.append(won)
        return claimed, unclaimed, problem

    def resume_request(self, invocation: Invocation, request_id: int) -> ResumeResult:
        """Resume the pause of one request (a Resume now button)."""
        request = self._core.in_workspace(invocation, request_id, action="resume")
        if request.state not in (RequestState.ACTIVE, RequestState.RESUMING):
            raise AlreadyDecided(request) if request.state is not RequestState.RESUMED else PauseAlreadyEnded(request)
        return self.resume(invocation, request.target)

    def _hold_sent(self, requests: list[PauseRequest], resumed_by: str, *, note: str | None, problem: str) -> None:
        """Resumes the recording system accepted but the database did not record: written later."""
        for request in requests:
            entry = UnwrittenResume(request=request, problem=problem, sent=True, resumed_by=resumed_by, note=note)
            if self._core.unwritten.hold(entry):
                logger.warning(
                    "request #%s resumed, but the database could not record it (%s); recording it when it can",
                    request.id, problem,
                )  # fmt: skip
        if requests:
            self._core.schedule_changed.set()

    def reactivate(
        self, request: PauseRequest, *, resume_at: datetime | None, error: str | None
    ) -> PauseRequest | None:
        """A resume that did not get through: the pause is active again, due at `resume_at` (or as it was).
        If even that cannot be written, the scheduler keeps trying the resume from memory."""
        fields: dict[str, Any] = {"error": error} if error is not None else {}
        if resume_at is not None:
            fields.update(count_resume_attempt=True, resume_at=resume_at)
        try:
            return self._core.move(request.id, from_states=[RequestState.RESUMING], to_state=RequestState.ACTIVE,
                                   **fields)  # fmt: skip
        except DatabaseUnavailable as unavailable:
            logger.warning(
                "request #%s: its resume failed and the database cannot be written (%s); retrying from memory",
                request.id, unavailable,
            )  # fmt: skip
            self._core.unwritten.hold(
                UnwrittenResume(request=request, problem=str(unavailable), next_attempt=resume_at or self._core.now())
            )
            return None

    def finish(self, claimed: list[PauseRequest], resumed_by: str, *, note: str | None = None) -> list[PauseRequest]:
        """Record these pauses as resumed (by `resumed_by`); those the database refuses are held."""
        core = self._core
        finished = []
        for request in claimed:
            now = core.now()
            try:
                done = core.move(
                    request.id, from_states=[RequestState.RESUMING, RequestState.ACTIVE],
                    to_state=RequestState.RESUMED, resumed_at=now, resumed_by=resumed_by, error=note,
                )  # fmt: skip
            except DatabaseUnavailable as error:
                self._hold_sent([request], resumed_by, note=note, problem=str(error))
                finished.append(request)
                continue
            core.unwritten.drop(request.id)
            if done is None:
                continue
            core.audit.record(
                None, action="request.resumed", outcome=Outcome.OK, target=done.target.value, group=done.group_name,
                team_id=done.team_id,
                details={"request": done.id, "by": resumed_by, "note": note}, user_id=resumed_by,
            )  # fmt: skip
            core.update_card(done)
            try:
                self._ended(done)
            except DatabaseUnavailable as error:
                # The pause itself is recorded as over; only its notices and extensions wait for another time.
                logger.warning("request #%s resumed; its follow-ups could not be written: %s", done.id, error)
            finished.append(done)
        return finished

    def _ended(self, pause: PauseRequest) -> None:
        """A pause is over: its undecided extensions expire, and its requester is told (once)."""
        core = self._core
        for extension in core.store.open_extensions_of(pause.id):
            expired = core.move(
                extension.id, from_states=[RequestState.PENDING, RequestState.APPROVED],
                to_state=RequestState.EXPIRED, error="the pause ended before the extension was decided",
            )  # fmt: skip
            if expired is not None:
                core.audit.record(
                    None, action="request.expired", outcome=Outcome.OK, target=expired.target.value,
                    group=expired.group_name, team_id=expired.team_id, user_id=SYSTEM,
                    details={"request": expired.id, "why": "the pause ended first"},
                )  # fmt: skip
                core.changed(expired)
        if core.store.claim_notice(pause.id, NOTICE_ENDED, pause.requester_id, core.now()):
            core.notifier.tell_pause_ended(pause)
        core.notifier.request_changed(pause)
