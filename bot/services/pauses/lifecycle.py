"""The core every room of the request lifecycle shares: the request's states and the moves between them,
the collaborators, and the settings.

    pause:       pending → approved → executing → active → resuming → resumed
    extension:   pending → approved → extended
    break-glass: approved (made so) → executing → active → …

Every move is one conditional UPDATE (`Lifecycle.move`): whoever changes the state first wins, everyone
else is told who did. A move that `TRANSITIONS` does not list is a bug, and fails before any SQL runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clients.recording_system import MuteOutcome
from bot.clock import Clock, utc_now
from bot.metrics.registry import count_transition
from bot.models import (
    Channels,
    Invocation,
    LineNames,
    Outcome,
    PauseBlocker,
    PauseLimits,
    PauseRequest,
    RecordingTarget,
    RequestState,
    Role,
)
from bot.models.refusals import AlreadyDecided, RecordingSystemNotConfigured, RequestNotFound
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.services.notifications import PauseNotifier
from bot.services.unwritten import UnwrittenResumes
from bot.store.pauses import PauseRequestStore

logger = logging.getLogger(__name__)

SYSTEM = "system"
# Why a request was withdrawn by the bot itself (its card and its error column say so).
WITHDRAWN_NOTE = "the requester is no longer on the allow-list"

_S = RequestState
# Where each state may go; `approved → approved` is an instance taking over an approved extension;
# `executing → active` is also the app leaving a workspace mid-call: the pause is taken as on, and resumed.
TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    _S.PENDING: frozenset({_S.APPROVED, _S.DENIED, _S.EXPIRED, _S.CANCELLED, _S.ABANDONED}),
    # approved → cancelled: the app left the workspace before the pause was sent (services/pauses/schedule.py).
    _S.APPROVED: frozenset({_S.APPROVED, _S.EXECUTING, _S.EXTENDED, _S.EXPIRED, _S.FAILED, _S.CANCELLED}),
    _S.EXECUTING: frozenset({_S.ACTIVE, _S.FAILED}),
    _S.FAILED: frozenset({_S.EXECUTING, _S.ABANDONED, _S.CANCELLED}),
    _S.ACTIVE: frozenset({_S.RESUMING, _S.RESUMED}),
    _S.RESUMING: frozenset({_S.ACTIVE, _S.RESUMED}),
}

# The moves the metrics count, by the state moved to (a resume: by whom, see `move`). Approvals, asks and
# break-glass pauses are counted where they are made (decide.py, ask.py): they are no `move`.
_COUNTED: dict[RequestState, str] = {
    _S.DENIED: "denied", _S.EXPIRED: "expired", _S.CANCELLED: "cancelled", _S.FAILED: "failed",
    _S.ABANDONED: "abandoned", _S.EXTENDED: "extended",
}  # fmt: skip

# Card updates of one request are sent one at a time; requests share these locks by their ID.
_CARD_LOCKS = 64


class RecordingSystem(Protocol):
    """MuteRecording, as the lifecycle uses it (clients/recording_system.py); raises UpstreamError."""

    def pause(self, target: RecordingTarget, channels: Channels = ...) -> MuteOutcome: ...

    def resume(self, target: RecordingTarget) -> MuteOutcome: ...


class LineDirectory(Protocol):
    """With Webex: the lines an extension or number names, and why a line cannot pause. Neither raises;
    None means Webex cannot tell (now)."""

    def line_names(self, extension: str) -> LineNames | None: ...

    def pause_blocker(self, extension: str) -> PauseBlocker | None: ...


@dataclass(frozen=True)
class PauseSettings:
    approval_timeout: timedelta
    limits: PauseLimits = field(default_factory=lambda: PauseLimits(default_seconds=600, max_seconds=1800))
    clock: Clock = utc_now
    # Written on every request this instance holds in flight, so another can take over if it dies.
    instance_id: str = ""


class Lifecycle:
    """The collaborators and the state machine, shared by asking, deciding, the upstream call, resuming and
    the schedule."""

    def __init__(
        self,
        *,
        store: PauseRequestStore,
        authorizer: Authorizer,
        audit: AuditTrail,
        notifier: PauseNotifier,
        recording_system: RecordingSystem | None,
        settings: PauseSettings,
    ) -> None:
        self.store = store
        self.authorizer = authorizer
        self.audit = audit
        self.notifier = notifier
        self.recording_system = recording_system
        self.settings = settings
        # Set whenever a new deadline is stored, so the scheduler can wake before its next tick.
        self.schedule_changed = threading.Event()
        self.unwritten = UnwrittenResumes()
        self._card_locks = [threading.Lock() for _ in range(_CARD_LOCKS)]

    @property
    def instance_id(self) -> str:
        return self.settings.instance_id

    @property
    def approval_timeout(self) -> timedelta:
        return self.settings.approval_timeout

    def now(self) -> datetime:
        return self.settings.clock()

    def move(
        self, request_id: int, *, from_states: list[RequestState], to_state: RequestState, **fields: Any
    ) -> PauseRequest | None:
        """One legal state change, if the request is still in one of `from_states`: the request as changed
        for the one caller that wins, None for the others."""
        illegal = [s for s in from_states if to_state not in TRANSITIONS.get(s, frozenset())]
        if illegal:
            raise ValueError(f"no move from {', '.join(illegal)} to {to_state}")
        moved = self.store.transition(request_id, from_states=from_states, to_state=to_state, now=self.now(), **fields)
        if moved is not None:
            if to_state is RequestState.RESUMED:
                count_transition("resumed_automatically" if fields.get("resumed_by") == SYSTEM else "resumed_by_hand")
            elif to_state in _COUNTED:
                count_transition(_COUNTED[to_state])
        return moved

    def get(self, request_id: int) -> PauseRequest:
        request = self.store.get(request_id)
        assert request is not None
        return request

    def in_workspace(self, invocation: Invocation, request_id: int, *, action: str) -> PauseRequest:
        """The request, for someone listed in its workspace; another workspace's looks exactly like a
        missing one (reveal nothing)."""
        self.authorizer.require(invocation.user, Role.REQUESTER, action=action)
        request = self.store.get(request_id)
        if request is None or request.team_id != invocation.team_id:
            raise RequestNotFound(request_id)
        return request

    def already_decided(self, request_id: int) -> AlreadyDecided:
        return AlreadyDecided(self.get(request_id))

    def require_recording_system(self) -> RecordingSystem:
        if self.recording_system is None:
            raise RecordingSystemNotConfigured()
        return self.recording_system

    def update_card(self, request: PauseRequest) -> None:
        """Re-render the request's card from its state as stored now. Two changes close together (a failed
        pause, then its abandon) update the card from two threads, and the first one's update may reach
        Slack last: one at a time per request, each showing the stored state, the card ends on the latest."""
        with self._card_locks[request.id % _CARD_LOCKS]:
            self.notifier.update_card(self._latest(request))

    def _latest(self, request: PauseRequest) -> PauseRequest:
        try:
            return self.store.get(request.id) or request
        except Exception:
            logger.warning("could not read request #%s again before updating its card", request.id, exc_info=True)
            return request

    def changed(self, request: PauseRequest, *, tell_requester: bool = False) -> None:
        """After a change: the card, the requester (if they are to be told), and whatever else shows it."""
        self.update_card(request)
        if tell_requester:
            self.notifier.tell_requester(request)
        self.notifier.request_changed(request)

    def withdraw(self, request: PauseRequest) -> PauseRequest | None:
        """Withdraw a pending or failed request whose requester is no longer on the allow-list: cancelled by
        the system, audited, its card updated. None if it was no longer pending or failed."""
        withdrawn = self.move(
            request.id, from_states=[RequestState.PENDING, RequestState.FAILED], to_state=RequestState.CANCELLED,
            cancelled_by=SYSTEM, error=WITHDRAWN_NOTE,
        )  # fmt: skip
        if withdrawn is not None:
            self.withdrawn(withdrawn, was=request.state)
        return withdrawn

    def withdrawn(self, request: PauseRequest, *, was: RequestState) -> None:
        """After a withdrawal (here, or in the approval's own transaction): the audit row and the card."""
        self.audit.record(
            None, action="request.withdrawn", outcome=Outcome.OK, target=request.target.value,
            group=request.group_name, team_id=request.team_id, user_id=SYSTEM,
            details={"request": request.id, "requester": request.requester_id, "was": was.value,
                     "why": WITHDRAWN_NOTE},
        )  # fmt: skip
        self.changed(request)
