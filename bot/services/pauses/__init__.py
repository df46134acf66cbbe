"""The request lifecycle: ask (routed to a group's approvers), decide (four-eyes where a group says so),
pause, extend, cancel, break glass, resume by hand or by schedule, remind, and recover after a crash.

One room per job, around one core (`lifecycle.py`: the states, the legal moves, the collaborators):

    targets.py    what recording a target names (`me`, Webex lines, the other open requests on it)
    ask.py        asking: a pause, an extension, break glass
    decide.py     approve, deny, retry, abandon, cancel
    upstream.py   calling the recording system
    resume.py     resuming by hand, and how any resume ends a pause
    schedule.py   expiries, reminders, automatic resumes, takeovers

Every state change is written before the recording system is called, and each is a single conditional
UPDATE: whoever changes the state first wins, everyone else is told who did. `PauseService` is the one
door the listeners and the scheduler use.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from threading import Event

from bot.models import Invocation, PauseRequest, RequestState, Role
from bot.models.refusals import AlreadyDecided, PauseRefused
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.services.notifications import PauseNotifier
from bot.services.pauses.ask import Asked, Asking
from bot.services.pauses.decide import Deciding
from bot.services.pauses.lifecycle import Lifecycle, LineDirectory, PauseSettings, RecordingSystem
from bot.services.pauses.resume import ResumeResult, Resuming
from bot.services.pauses.schedule import Schedule
from bot.services.pauses.targets import Links, Targets
from bot.services.pauses.upstream import Upstream
from bot.store.pauses import PauseRequestStore

__all__ = [
    "AlreadyDecided",
    "Asked",
    "LineDirectory",
    "Links",
    "PauseRefused",
    "PauseService",
    "PauseSettings",
    "RecordingSystem",
    "ResumeResult",
]

# A pause still in effect this long after its window ended was not resumed on time (a resume is due at the
# window's end; the scheduler looks at least every few seconds, and retries a failed resume).
PAST_WINDOW_GRACE = timedelta(minutes=1)


class PauseService:
    def __init__(
        self,
        *,
        store: PauseRequestStore,
        authorizer: Authorizer,
        audit: AuditTrail,
        notifier: PauseNotifier,
        recording_system: RecordingSystem | None,
        settings: PauseSettings,
        links: Links | None = None,
        lines: LineDirectory | None = None,
    ) -> None:
        core = Lifecycle(
            store=store, authorizer=authorizer, audit=audit, notifier=notifier, recording_system=recording_system,
            settings=settings,
        )  # fmt: skip
        self._core = core
        targets = Targets(core, links=links, lines=lines)
        upstream = Upstream(core)
        resuming = Resuming(core, targets=targets, upstream=upstream)
        schedule = Schedule(core, upstream=upstream, resuming=resuming)
        asking = Asking(core, targets=targets, upstream=upstream)
        deciding = Deciding(core, upstream=upstream, schedule=schedule)
        # Asking
        self.check_may_ask = asking.check_may_ask
        self.request_pause = asking.request_pause
        self.request_extension = asking.request_extension
        self.break_glass = asking.break_glass
        # Deciding
        self.approve = deciding.approve
        self.deny = deciding.deny
        self.retry = deciding.retry
        self.abandon = deciding.abandon
        self.cancel = deciding.cancel
        # Resuming
        self.resume = resuming.resume
        self.resume_request = resuming.resume_request
        # The schedule
        self.expire_due = schedule.expire_due
        self.withdraw_unlisted = schedule.withdraw_unlisted
        self.workspace_left = schedule.workspace_left
        self.remind_due = schedule.remind_due
        self.resume_due = schedule.resume_due
        self.write_unwritten = schedule.write_unwritten
        self.recover_orphaned = schedule.recover_orphaned
        self.next_due = schedule.next_due
        self._schedule = schedule

    @property
    def schedule_changed(self) -> Event:
        """Set whenever a new deadline is stored, so the scheduler can wake before its next tick."""
        return self._core.schedule_changed

    @property
    def has_unwritten(self) -> bool:
        """Whether resumes wait for the database to record them (or to be sent again)."""
        return self._schedule.has_unwritten

    def in_effect(self) -> tuple[int, int]:
        """How many pauses are in effect now, and how many of them outlived their window by more than
        PAST_WINDOW_GRACE (the scheduler could not resume them: an alert watches for this)."""
        # The window's end is when it was paused plus how long it was to last (extensions included): its
        # `resume_at` moves on with each retry of a failed resume, so it cannot tell.
        pauses = self._core.store.in_states([RequestState.ACTIVE, RequestState.RESUMING])
        ended_before = self._core.now() - PAST_WINDOW_GRACE
        late = [
            p for p in pauses
            if p.paused_at is not None and p.paused_at + timedelta(seconds=p.duration_seconds) < ended_before
        ]  # fmt: skip
        return len(pauses), len(late)

    @property
    def unwritten_count(self) -> int:
        """Resumes sent while the database could not be written, still held in memory."""
        return len(self._core.unwritten)

    def refresh_card(self, request: PauseRequest) -> None:
        """Show the request on its card as it is stored now (whatever state `request` was read in)."""
        self._core.update_card(request)

    # -- reading ---------------------------------------------------------------------------------

    def open_requests(self, team_id: str) -> list[PauseRequest]:
        """The workspace's open requests (operators and tests; no role check)."""
        return self._core.store.in_states([s for s in RequestState if s.is_open], team_id=team_id)

    def open_requests_for(self, invocation: Invocation) -> list[PauseRequest]:
        """Pending requests, active pauses and failed requests awaiting Retry/Abandon, for anyone listed."""
        self._core.authorizer.require(invocation.user, Role.REQUESTER, action="requests")
        states = [s for s in RequestState if s.is_open] + [RequestState.FAILED]
        return self._core.store.in_states(states, team_id=invocation.team_id)

    def get(self, request_id: int) -> PauseRequest | None:
        return self._core.store.get(request_id)

    def now(self) -> datetime:
        return self._core.now()

