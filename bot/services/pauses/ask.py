"""Asking: a pause (routed to the requester's group's approvers), an extension of an active pause, and
break glass (paused at once, told to every admin). Nothing reaches the recording system before a
decision, except in an emergency."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.metrics.registry import count_transition
from bot.models import Invocation, Outcome, PauseAsk, PauseRequest, RecordingTarget, RequestKind, RequestState, Role
from bot.models.refusals import (
    ApprovalCardNotPosted,
    BreakGlassBlocked,
    ExtensionTooLong,
    ExtensionWaiting,
    NoActivePause,
    NoSuchPause,
    PauseNotActive,
    TargetBusy,
)
from bot.services.notifications import CardNotPosted
from bot.services.pauses.lifecycle import Lifecycle
from bot.services.pauses.targets import SameRecording, Targets
from bot.services.pauses.upstream import Upstream

logger = logging.getLogger(__name__)

# Message kinds that go out at most once per request and person (request_notices).
NOTICE_DECIDER = "decider"
NOTICE_BREAKGLASS = "breakglass"


@dataclass(frozen=True)
class Asked:
    """A request just made: the request, and a link to its card (None when Slack gave none)."""

    request: PauseRequest
    card_link: str | None = None


@dataclass(frozen=True)
class _Routing:
    """Where a requester's requests go: their group, its card channel, how many approvals it needs."""

    group_name: str | None
    card_channel: str | None
    approvals: int


class Asking:
    def __init__(self, core: Lifecycle, *, targets: Targets, upstream: Upstream) -> None:
        self._core = core
        self._targets = targets
        self._upstream = upstream

    def check_may_ask(self, invocation: Invocation) -> None:
        """Raise what asking for a pause would raise before anything else (a form checks before it opens)."""
        self._core.authorizer.require(invocation.user, Role.REQUESTER, action="pause")
        self._core.require_recording_system()

    def request_pause(self, invocation: Invocation, command: PauseAsk) -> Asked:
        """Store a pending request, post its card where its approvers see it, and tell each of them.
        Nothing reaches the recording system yet."""
        self.check_may_ask(invocation)
        command = replace(command, target=self._targets.resolve(invocation, command.target))
        # Looked up before the card is posted, so the card shows them from the start.
        recording = self._targets.same_recording(invocation.team_id, command.target)
        if recording.clash is not None:
            raise TargetBusy(command.target, recording.clash)
        blocker = self._targets.line_blocker(command.target, recording.lines)
        routing = self._routing(invocation)
        request = self._create(
            invocation, command, routing, recording, expires_at=self._core.now() + self._core.approval_timeout,
            warning=blocker.value if blocker else None, approvals_needed=routing.approvals,
        )  # fmt: skip
        if request is None:
            existing = self._targets.open_on(invocation.team_id, command.target)
            raise TargetBusy(command.target, existing[0] if existing else None)
        self._core.audit.record(
            invocation, action="request.created", outcome=Outcome.OK, target=command.target.value,
            group=routing.group_name,
            details={
                "request": request.id, "duration_seconds": command.duration_seconds,
                "channels": command.channels.value, "reason": command.reason, "group": routing.group_name,
                "card_channel": request.card_channel, "approvals_needed": routing.approvals,
                **_same_call_details(request),
            },
        )  # fmt: skip
        self._core.schedule_changed.set()
        asked = self._publish(invocation, request)
        self._targets.tell_others_on_the_call(asked.request, recording)
        return asked

    def request_extension(
        self, invocation: Invocation, *, target: RecordingTarget | None, request_id: int | None, seconds: int,
        reason: str,
    ) -> Asked:  # fmt: skip
        """Ask for more time on an active pause; approved like a pause, it moves the automatic resume later."""
        core = self._core
        core.authorizer.require(invocation.user, Role.REQUESTER, action="extend")
        if target is not None:
            target = self._targets.resolve(invocation, target)
        pause = self._active_pause(invocation, target=target, request_id=request_id)
        assert pause.resume_at is not None and pause.paused_at is not None
        lasted = (pause.resume_at - pause.paused_at).total_seconds()
        limit = core.settings.limits.max_seconds
        if lasted + seconds > limit:
            raise ExtensionTooLong(pause, max_seconds=limit, left_seconds=max(0, limit - int(lasted)))
        # An extension belongs to its pause, not to whoever asks for it: the pause's group, its card
        # channel, its number of approvals (and neither requester decides it: deciders.may_decide).
        routing = _Routing(pause.group_name, pause.card_channel_id, max(1, pause.approvals_needed))
        ask = PauseAsk(target=pause.target, duration_seconds=seconds, channels=pause.channels, reason=reason)
        request = self._create(
            invocation, ask, routing, None, kind=RequestKind.EXTENSION, extends_id=pause.id,
            pause_requester_id=pause.requester_id,
            # Undecided when the pause ends, the extension expires with it.
            expires_at=min(core.now() + core.approval_timeout, pause.resume_at), approvals_needed=routing.approvals,
        )  # fmt: skip
        if request is None:
            waiting = core.store.open_extensions_of(pause.id)
            raise ExtensionWaiting(pause.id, waiting[0].id if waiting else None)
        core.audit.record(
            invocation, action="request.extension_created", outcome=Outcome.OK, target=pause.target.value,
            group=routing.group_name,
            details={"request": request.id, "extends": pause.id, "seconds": seconds, "reason": reason},
        )  # fmt: skip
        core.schedule_changed.set()
        return self._publish(invocation, request)

    def break_glass(self, invocation: Invocation, command: PauseAsk) -> Asked:
        """Pause at once, without approval (approvers and admins, in an emergency): audited as `breakglass`,
        shown on a marked card, told to every admin, and resumed by itself like any pause."""
        core = self._core
        core.authorizer.require(invocation.user, Role.APPROVER, action="breakglass")
        core.require_recording_system()
        command = replace(command, target=self._targets.resolve(invocation, command.target))
        recording = self._targets.same_recording(invocation.team_id, command.target)
        if recording.clash is not None:
            raise BreakGlassBlocked(command.target, recording.clash)
        routing = self._routing(invocation)
        now = core.now()
        request = self._create(
            invocation, command, routing, recording, kind=RequestKind.BREAKGLASS, expires_at=now,
            state=RequestState.APPROVED, decided_by=invocation.user_id, claimed_by=core.instance_id,
        )  # fmt: skip
        if request is None:
            existing = self._targets.open_on(invocation.team_id, command.target)
            raise BreakGlassBlocked(command.target, existing[0] if existing else None)
        core.audit.record(
            invocation, action="breakglass", outcome=Outcome.OK, target=command.target.value,
            group=routing.group_name,
            details={"request": request.id, "duration_seconds": command.duration_seconds,
                     "channels": command.channels.value, "reason": command.reason, **_same_call_details(request)},
        )  # fmt: skip
        # The recording system first: in an emergency every moment counts; the card follows.
        done = self._upstream.execute(invocation, request, from_state=RequestState.APPROVED, notify=False)
        done, link = self._post_breakglass_card(done)
        for admin in core.authorizer.admins(invocation.team_id):
            if admin != invocation.user_id and core.store.claim_notice(done.id, NOTICE_BREAKGLASS, admin, now):
                core.notifier.tell_admin_breakglass(done, admin, link)
        core.notifier.request_changed(done)
        self._targets.tell_others_on_the_call(done, recording)
        return Asked(request=done, card_link=link)

    def _post_breakglass_card(self, done: PauseRequest) -> tuple[PauseRequest, str | None]:
        core = self._core
        try:
            ts = core.notifier.post_card(done)
        except CardNotPosted as error:
            logger.warning("break-glass card of request #%s not posted: %s", done.id, error.message)
            return done, None
        done = core.store.update_fields(done.id, message_ts=ts) or done
        return done, core.notifier.card_link(done)

    def _create(
        self,
        invocation: Invocation,
        ask: PauseAsk,
        routing: _Routing,
        recording: SameRecording | None,
        *,
        expires_at: datetime,
        **fields: Any,
    ) -> PauseRequest | None:
        """Store one request asked by `invocation` (None: its target or pause already has an open one)."""
        if recording is not None:
            fields.update(
                target_user_id=self._targets.owner_of(invocation.team_id, ask.target, recording.lines),
                line_id=recording.line_id, same_call=recording.same_call,
            )  # fmt: skip
        request = self._core.store.create(
            team_id=invocation.team_id, channel_id=invocation.channel_id, requester_id=invocation.user_id,
            target=ask.target, channels=ask.channels, duration_seconds=ask.duration_seconds, reason=ask.reason,
            created_at=self._core.now(), expires_at=expires_at, group_name=routing.group_name,
            card_channel_id=routing.card_channel, **fields,
        )  # fmt: skip
        if request is not None:
            count_transition("break_glass" if request.kind is RequestKind.BREAKGLASS else "asked")
        return request

    def _publish(self, invocation: Invocation, request: PauseRequest) -> Asked:
        """Post the card, tell each approver who may decide (once), and give the requester a link."""
        core = self._core
        try:
            ts = core.notifier.post_card(request)
        except CardNotPosted as error:
            core.move(
                request.id, from_states=[RequestState.PENDING], to_state=RequestState.ABANDONED,
                error=f"the approval card could not be posted: {error.message}",
            )  # fmt: skip
            core.audit.record(
                invocation, action="request.abandoned", outcome=Outcome.ERROR, target=request.target.value,
                group=request.group_name,
                team_id=request.team_id, details={"request": request.id, "error": error.message},
            )  # fmt: skip
            raise ApprovalCardNotPosted(error.message) from None
        posted = request
        request = core.store.update_fields(request.id, message_ts=ts) or request
        if _card_facts(request) != _card_facts(posted):
            # Changed between the post and the card's ts being stored (decided, expired, or an approval of
            # several counted): that change could not update a card it did not know yet; it catches up here.
            core.update_card(request)
        link = core.notifier.card_link(request)
        now = core.now()
        for decider in core.authorizer.deciders(request):
            if core.store.claim_notice(request.id, NOTICE_DECIDER, decider, now):
                core.notifier.ask_decider(request, decider, link)
        core.notifier.request_changed(request)
        return Asked(request=request, card_link=link)

    def _routing(self, invocation: Invocation) -> _Routing:
        """A new pause's routing: the requester's group (an extension takes its pause's instead)."""
        authorizer = self._core.authorizer
        group_name = authorizer.group_of(invocation.user)
        group = authorizer.group(invocation.team_id, group_name) if group_name else None
        if group is None:
            return _Routing(group_name, None, 1)
        return _Routing(group.name, group.channel_id, max(1, group.approvals))

    def _active_pause(
        self, invocation: Invocation, *, target: RecordingTarget | None, request_id: int | None
    ) -> PauseRequest:
        if request_id is not None:
            pause = self._core.store.get(request_id)
            if pause is None or pause.team_id != invocation.team_id or pause.kind is RequestKind.EXTENSION:
                raise NoSuchPause(request_id)
            if pause.state is not RequestState.ACTIVE:
                raise PauseNotActive(pause)
            return pause
        assert target is not None
        active = [r for r in self._targets.open_on(invocation.team_id, target) if r.state is RequestState.ACTIVE]
        if not active:
            raise NoActivePause(target)
        return active[0]


def _same_call_details(request: PauseRequest) -> dict[str, Any]:
    """For the audit row: the other open requests on the same call or line that the approvers were shown."""
    if not request.same_call:
        return {}
    return {"same_call": [{"target": s.target, "request": s.request_id, "certain": s.certain}
                          for s in request.same_call]}  # fmt: skip


def _card_facts(request: PauseRequest) -> tuple[object, ...]:
    """What a pending card shows that a click or the scheduler may change."""
    return request.state, request.approvals, request.dropped_approvals, request.warning
