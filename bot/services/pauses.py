"""The request lifecycle: ask (routed to a group's approvers), decide (four-eyes where a group says so),
pause, extend, cancel, break glass, resume by hand or by schedule, remind, and recover after a crash.

Every state change is written before the recording system is called, and each is a single conditional
UPDATE: whoever changes the state first wins, everyone else is told who did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.clients.errors import NotFound, UpstreamError, UpstreamUnreachable
from bot.clients.recording_system import MuteOutcome, RecordingSystemClient
from bot.clock import Clock, utc_now
from bot.models import (
    Invocation,
    LineNames,
    Outcome,
    PauseAsk,
    PauseBlocker,
    PauseLimits,
    PauseRequest,
    RecordingTarget,
    RequestKind,
    RequestState,
    Role,
    SameCall,
    TargetKind,
)
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.services.links import LinkService
from bot.services.notifications import CardNotPosted, PauseNotifier
from bot.services.unwritten import UnwrittenResume, UnwrittenResumes
from bot.store.database import DatabaseUnavailable
from bot.store.pauses import ApprovalResult, PauseRequestStore, same_call_json
from bot.words import format_duration

logger = logging.getLogger(__name__)

SYSTEM = "system"
# After a failed automatic resume, try again after this long, doubling up to the cap.
RESUME_RETRY_SECONDS = 15
RESUME_RETRY_CAP_SECONDS = 300
# The requester is reminded this long before an automatic resume (halfway through shorter pauses).
REMIND_BEFORE = timedelta(minutes=1)

NOT_CONFIGURED = (
    "The recording system is not configured: an admin must set MEDIA_REPOSITORY_URL and MEDIA_REPOSITORY_API_KEY."
)

# Message kinds that go out at most once per request and person (request_notices).
NOTICE_DECIDER = "decider"
NOTICE_ENDED = "ended"
NOTICE_BREAKGLASS = "breakglass"


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
        elif request.state is RequestState.CANCELLED:
            message = f"Request #{request.id} was cancelled by {request.cancelled_by}."
        elif request.decided_by and request.state is not RequestState.PENDING:
            verb = "denied" if request.state is RequestState.DENIED else "approved"
            message = f"Request #{request.id} was already {verb} by {request.decided_by}; it is now {request.state}."
        else:
            message = f"Request #{request.id} is {request.state}; there is nothing to decide."
        super().__init__(message)
        self.request = request


@dataclass(frozen=True)
class Asked:
    """A request just made: the request, and a link to its card (None when Slack gave none)."""

    request: PauseRequest
    card_link: str | None = None


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


@dataclass(frozen=True)
class _SameRecording:
    """What is open on one recording, seen from a request about to be made in `team_id` (see
    PauseService._same_recording): each related open pause, and whether it surely is the same call or line."""

    team_id: str
    lines: LineNames | None
    related: tuple[tuple[PauseRequest, bool], ...]

    @property
    def line_id(self) -> str | None:
        return self.lines.line_id if self.lines is not None else None

    @property
    def this_target(self) -> list[PauseRequest]:
        """This workspace's open pauses on the same call or line for sure: the same target."""
        return [other for other, certain in self.related if certain and other.team_id == self.team_id]

    @property
    def clash(self) -> PauseRequest | None:
        return next(iter(self.this_target), None)

    @property
    def elsewhere(self) -> list[tuple[PauseRequest, bool]]:
        """The rest: another workspace's pauses on the same recording, and pauses on a name the line shares."""
        return [(other, certain) for other, certain in self.related if not (certain and other.team_id == self.team_id)]

    @property
    def same_call(self) -> tuple[SameCall, ...]:
        return tuple(
            SameCall(target=other.target.value, request_id=other.id if other.team_id == self.team_id else None,
                     certain=certain)
            for other, certain in self.elsewhere
        )  # fmt: skip


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
        limits: PauseLimits | None = None,
        blocker_for_extension: Callable[[str], PauseBlocker | None] | None = None,
        clock: Clock = utc_now,
        instance_id: str = "",
        links: LinkService | None = None,
        line_names: Callable[[str], LineNames | None] | None = None,
    ) -> None:
        self._links = links
        # With Webex: the line(s) an extension or number names, so that all names of one line are one target.
        self._line_names = line_names
        self._store = store
        self._authorizer = authorizer
        self._audit = audit
        self._recording_system = recording_system
        self._notifier = notifier
        self._approval_timeout = approval_timeout
        self._limits = limits or PauseLimits(default_seconds=600, max_seconds=1800)
        self._blocker_for_extension = blocker_for_extension
        self._clock = clock
        # Written on every request this instance holds in flight, so another can take over if it dies.
        self._instance_id = instance_id
        self._schedule_changed = threading.Event()
        self._unwritten = UnwrittenResumes()
        # The active pauses as last read, to resume from when the database cannot be read at all.
        self._active_copy: list[PauseRequest] = []

    @property
    def schedule_changed(self) -> threading.Event:
        """Set whenever a new deadline is stored, so the scheduler can wake before its next tick."""
        return self._schedule_changed

    # -- asking ----------------------------------------------------------------------------------

    def check_may_ask(self, invocation: Invocation) -> None:
        """Raise what asking for a pause would raise before anything else (a form checks before it opens)."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="pause")
        self._require_recording_system()

    def request_pause(self, invocation: Invocation, command: PauseAsk) -> Asked:
        """Store a pending request, post its card where its approvers see it, and tell each of them.
        Nothing reaches the recording system yet."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="pause")
        self._require_recording_system()
        command = replace(command, target=self._resolve(invocation, command.target))
        # Looked up before the card is posted, so the card shows them from the start.
        recording = self._same_recording(invocation.team_id, command.target)
        if recording.clash is not None:
            raise PauseRefused(_clash_text(command.target, recording.clash))
        blocker = self._line_blocker(command.target, recording.lines)
        group_name, card_channel, approvals = self._routing(invocation)
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
            group_name=group_name,
            approvals_needed=approvals,
            card_channel_id=card_channel,
            target_user_id=self._owner_of(invocation.team_id, command.target, recording.lines),
            line_id=recording.line_id,
            same_call=recording.same_call,
        )
        if request is None:
            raise PauseRefused(self._clash_message(invocation.team_id, command.target))
        self._audit.record(
            invocation, action="request.created", outcome=Outcome.OK, target=command.target.value, group=group_name,
            details={
                "request": request.id, "duration_seconds": command.duration_seconds,
                "channels": command.channels.value, "reason": command.reason, "group": group_name,
                "card_channel": request.card_channel, "approvals_needed": approvals,
                **_same_call_details(request),
            },
        )  # fmt: skip
        self._schedule_changed.set()
        asked = self._publish(invocation, request)
        self._tell_others_on_the_call(asked.request, recording)
        return asked

    def request_extension(
        self, invocation: Invocation, *, target: RecordingTarget | None, request_id: int | None, seconds: int,
        reason: str,
    ) -> Asked:  # fmt: skip
        """Ask for more time on an active pause; approved like a pause, it moves the automatic resume later."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="extend")
        if target is not None:
            target = self._resolve(invocation, target)
        pause = self._active_pause(invocation, target=target, request_id=request_id)
        assert pause.resume_at is not None and pause.paused_at is not None
        now = self._clock()
        total = (pause.resume_at - pause.paused_at).total_seconds() + seconds
        if total > self._limits.max_seconds:
            left = max(0, self._limits.max_seconds - int((pause.resume_at - pause.paused_at).total_seconds()))
            raise PauseRefused(
                f"A pause may last at most {_duration(self._limits.max_seconds)} in all; pause #{pause.id} can be "
                f"extended by at most {_duration(left)} more."
                if left
                else f"Pause #{pause.id} already lasts the longest a pause may "
                f"({_duration(self._limits.max_seconds)})."
            )  # fmt: skip
        group_name, card_channel, approvals = self._routing(invocation)
        request = self._store.create(
            team_id=invocation.team_id,
            channel_id=invocation.channel_id,
            requester_id=invocation.user_id,
            target=pause.target,
            channels=pause.channels,
            duration_seconds=seconds,
            reason=reason,
            created_at=now,
            # Undecided when the pause ends, the extension expires with it.
            expires_at=min(now + self._approval_timeout, pause.resume_at),
            kind=RequestKind.EXTENSION,
            group_name=group_name,
            approvals_needed=approvals,
            card_channel_id=card_channel,
            extends_id=pause.id,
        )
        if request is None:
            waiting = self._store.open_extensions_of(pause.id)
            raise PauseRefused(
                f"Pause #{pause.id} already has extension request #{waiting[0].id} waiting for approval."
                if waiting
                else f"Pause #{pause.id} already has an extension request waiting."
            )
        self._audit.record(
            invocation, action="request.extension_created", outcome=Outcome.OK, target=pause.target.value,
            group=group_name,
            details={"request": request.id, "extends": pause.id, "seconds": seconds, "reason": reason},
        )  # fmt: skip
        self._schedule_changed.set()
        return self._publish(invocation, request)

    def break_glass(self, invocation: Invocation, command: PauseAsk) -> Asked:
        """Pause at once, without approval (approvers and admins, in an emergency): audited as `breakglass`,
        shown on a marked card, told to every admin, and resumed by itself like any pause."""
        self._authorizer.require(invocation.user, Role.APPROVER, action="breakglass")
        self._require_recording_system()
        command = replace(command, target=self._resolve(invocation, command.target))
        recording = self._same_recording(invocation.team_id, command.target)
        if recording.clash is not None:
            raise PauseRefused(_break_glass_clash_text(command.target, recording.clash))
        group_name, card_channel, _ = self._routing(invocation)
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
            expires_at=now,
            kind=RequestKind.BREAKGLASS,
            group_name=group_name,
            card_channel_id=card_channel,
            state=RequestState.APPROVED,
            decided_by=invocation.user_id,
            claimed_by=self._instance_id,
            target_user_id=self._owner_of(invocation.team_id, command.target, recording.lines),
            line_id=recording.line_id,
            same_call=recording.same_call,
        )
        if request is None:
            existing = self._open_on(invocation.team_id, command.target)
            if existing:
                raise PauseRefused(_break_glass_clash_text(command.target, existing[0]))
            raise PauseRefused(
                f"{command.target.value} already has an open request: it must be decided or cancelled before you "
                "break glass (`/recording requests` lists it)."
            )
        self._audit.record(
            invocation, action="breakglass", outcome=Outcome.OK, target=command.target.value, group=group_name,
            details={"request": request.id, "duration_seconds": command.duration_seconds,
                     "channels": command.channels.value, "reason": command.reason, **_same_call_details(request)},
        )  # fmt: skip
        # The recording system first: in an emergency every moment counts; the card follows.
        done = self._execute(invocation, request, from_state=RequestState.APPROVED, notify=False)
        try:
            ts = self._notifier.post_card(done)
        except CardNotPosted as error:
            logger.warning("break-glass card of request #%s not posted: %s", done.id, error.message)
            link = None
        else:
            done = self._store.update_fields(done.id, message_ts=ts) or done
            link = self._notifier.card_link(done)
        for admin in self._authorizer.admins(invocation.team_id):
            if admin != invocation.user_id and self._store.claim_notice(done.id, NOTICE_BREAKGLASS, admin, now):
                self._notifier.tell_admin_breakglass(done, admin, link)
        self._notifier.request_changed(done)
        self._tell_others_on_the_call(done, recording)
        return Asked(request=done, card_link=link)

    def _publish(self, invocation: Invocation, request: PauseRequest) -> Asked:
        """Post the card, tell each approver who may decide (once), and give the requester a link."""
        try:
            ts = self._notifier.post_card(request)
        except CardNotPosted as error:
            self._store.transition(
                request.id, from_states=[RequestState.PENDING], to_state=RequestState.ABANDONED, now=self._clock(),
                error=f"the approval card could not be posted: {error.message}",
            )  # fmt: skip
            self._audit.record(
                invocation, action="request.abandoned", outcome=Outcome.ERROR, target=request.target.value,
                group=request.group_name,
                team_id=request.team_id, details={"request": request.id, "error": error.message},
            )  # fmt: skip
            raise PauseRefused(error.message, outcome=Outcome.ERROR) from None
        request = self._store.update_fields(request.id, message_ts=ts) or request
        if request.state is not RequestState.PENDING:
            # Decided or expired between the post and the card's ts being stored: that change could not
            # update a card it did not know yet, so the card catches up here.
            self._notifier.update_card(request)
        link = self._notifier.card_link(request)
        now = self._clock()
        for decider in self._authorizer.deciders(request):
            if self._store.claim_notice(request.id, NOTICE_DECIDER, decider, now):
                self._notifier.ask_decider(request, decider, link)
        self._notifier.request_changed(request)
        return Asked(request=request, card_link=link)

    def _routing(self, invocation: Invocation) -> tuple[str | None, str | None, int]:
        """(the requester's group, where its cards go, how many approvals its requests need)."""
        group_name = self._authorizer.group_of(invocation.user)
        group = self._authorizer.group(invocation.team_id, group_name) if group_name else None
        if group is None:
            return group_name, None, 1
        return group.name, group.channel_id, max(1, group.approvals)

    def _resolve(self, invocation: Invocation, target: RecordingTarget) -> RecordingTarget:
        """`me` → the asker's extension; any other target as it is."""
        if not target.is_mine:
            return target
        if self._links is None:
            raise PauseRefused("`me` needs a linked extension: `/recording link <extension>`.")
        return self._links.resolve(invocation, target)

    def _owner_of(self, team_id: str, target: RecordingTarget, lines: LineNames | None = None) -> str | None:
        """Whose extension this is: linked by the name given, or by another name of the same line."""
        if self._links is None or target.kind is not TargetKind.EXTENSION:
            return None
        others = sorted(lines.names - {target.value}) if lines is not None and lines.line_id else []
        for name in [target.value, *others]:
            owner = self._links.owner_of(team_id, name)
            if owner:
                return owner
        return None

    def _line_blocker(self, target: RecordingTarget, lines: LineNames | None = None) -> PauseBlocker | None:
        """Why the extension's Webex line cannot pause, for the card; advisory, never blocks the request."""
        if self._blocker_for_extension is None or target.kind is not TargetKind.EXTENSION:
            return None
        if self._line_names is not None and (lines is None or lines.line_id is None):
            # Webex could not be asked just now (asking again would only wait as long again), or the name
            # fits no line or several: either way there is no single line to warn about.
            return None
        try:
            return self._blocker_for_extension(target.value)
        except Exception:
            logger.warning("could not look up the line's recording mode for the card", exc_info=True)
            return None

    def _clash_message(self, team_id: str, target: RecordingTarget) -> str:
        existing = self._open_on(team_id, target)
        if not existing:
            return f"{target.value} already has an open request; see `/recording requests`."
        return _clash_text(target, existing[0])

    # -- one call, several names -----------------------------------------------------------------

    def _lines_named(self, target: RecordingTarget) -> LineNames | None:
        """The Webex line(s) an extension or number names; None without Webex, for a call ID, or when
        Webex cannot tell now (then targets are compared as typed)."""
        if self._line_names is None or target.kind is not TargetKind.EXTENSION:
            return None
        try:
            return self._line_names(target.value)
        except Exception:
            logger.warning("could not look up the other names of %s's line", target.value, exc_info=True)
            return None

    def _same_recording(self, team_id: str, target: RecordingTarget) -> _SameRecording:
        """The open pauses, in every workspace, that act on the call or the Webex line `target` names.

        In the asker's workspace, one on the same call ID, the same extension or number, or another name of
        the same line is this target (`clash`: refused, one target has one open request). The others — in
        another workspace, or on a name that several lines share — are told to the approvers (`same_call`).
        """
        lines = self._lines_named(target)
        names = {target.value} | (set(lines.names) if lines is not None else set())
        related: list[tuple[PauseRequest, bool]] = []
        for other in self._store.open_naming(names, lines.line_ids if lines is not None else ()):
            certain = self._names_the_same_line(target, lines, other)
            if certain is not None:
                related.append((other, certain))
        return _SameRecording(team_id=team_id, lines=lines, related=tuple(related))

    def _names_the_same_line(
        self, target: RecordingTarget, lines: LineNames | None, other: PauseRequest
    ) -> bool | None:
        """True: `other` acts on the same call or line; False: it may (a name several lines share); None: not."""
        if other.target.value == target.value:
            return True
        if lines is None:
            return None
        other_lines = {other.line_id} if other.line_id else set()
        if not other_lines:
            # Stored without its line (Webex could not tell then): look it up now, in the same cached list.
            found = self._lines_named(other.target)
            other_lines = set(found.line_ids) if found is not None else set()
        if not other_lines & set(lines.line_ids):
            return False if other.target.value in lines.names else None
        return lines.line_id is not None and len(other_lines) == 1

    def _open_on(self, team_id: str, target: RecordingTarget, *, quick: bool = False) -> list[PauseRequest]:
        """The workspace's open pauses on this target: by its name, or by another name of its Webex line.
        `quick`: an active pause by the very name given is enough, without asking Webex (a resume must not
        wait for it)."""
        if quick:
            exact = self._store.open_for_target(team_id, target.value)
            if any(r.state is RequestState.ACTIVE for r in exact):
                return exact
        return self._same_recording(team_id, target).this_target

    def _tell_others_on_the_call(self, request: PauseRequest, recording: _SameRecording) -> None:
        """The cards of the other open requests on the same call or line now name this one too."""
        for other, certain in recording.elsewhere:
            mention = SameCall(
                target=request.target.value, request_id=request.id if other.team_id == request.team_id else None,
                certain=certain,
            )  # fmt: skip
            current = self._store.get(other.id) or other
            if mention in current.same_call:
                continue
            updated = self._store.update_fields(other.id, same_call=same_call_json((*current.same_call, mention)))
            if updated is not None:
                self._notifier.update_card(updated)

    def _active_pause(
        self, invocation: Invocation, *, target: RecordingTarget | None, request_id: int | None
    ) -> PauseRequest:
        if request_id is not None:
            pause = self._store.get(request_id)
            if pause is None or pause.team_id != invocation.team_id or pause.kind is RequestKind.EXTENSION:
                raise PauseRefused(f"There is no pause #{request_id}; `/recording requests` lists the active ones.")
            if pause.state is not RequestState.ACTIVE:
                raise PauseRefused(f"Pause #{pause.id} is {pause.state}, not active: only an active pause is extended.")
            return pause
        assert target is not None
        active = [r for r in self._open_on(invocation.team_id, target) if r.state is RequestState.ACTIVE]
        if not active:
            raise PauseRefused(f"No pause is active on {target.value}; `/recording requests` lists the active ones.")
        return active[0]

    # -- deciding --------------------------------------------------------------------------------

    def approve(self, invocation: Invocation, request_id: int) -> PauseRequest:
        request = self._decidable(invocation, request_id, action="approve")
        outcome = self._store.approve(
            request.id, approver_id=invocation.user_id, now=self._clock(), claimed_by=self._instance_id
        )
        current = outcome.request
        if outcome.result is ApprovalResult.NOT_PENDING:
            raise AlreadyDecided(current)
        if outcome.result is ApprovalResult.ALREADY_APPROVED_BY_THEM:
            waiting = current.approvals_needed - len(current.approvals)
            raise PauseRefused(
                f"You already approved request #{current.id}; it needs {waiting} more approval"
                f"{'s' if waiting != 1 else ''}, from another approver."
            )
        if outcome.result is ApprovalResult.COUNTED:
            self._audit.record(
                invocation, action="request.approval_counted", outcome=Outcome.OK, target=current.target.value,
                group=current.group_name, team_id=current.team_id,
                details={
                    "request": current.id, "approvals": len(current.approvals), "needed": current.approvals_needed,
                },
            )  # fmt: skip
            self._notifier.update_card(current)
            self._notifier.request_changed(current)
            return current
        self._audit.record(
            invocation, action="request.approved", outcome=Outcome.OK, target=current.target.value,
            group=current.group_name, team_id=current.team_id,
            details={"request": current.id, "approvers": [a.approver_id for a in current.approvals]},
        )  # fmt: skip
        if current.kind is RequestKind.EXTENSION:
            return self._apply_extension(invocation, current)
        # The recording system first: every moment before the pause is recorded, and the card
        # update (a Slack round trip, maybe rate-limited) can wait for the outcome.
        return self._execute(invocation, current, from_state=RequestState.APPROVED)

    def deny(self, invocation: Invocation, request_id: int) -> PauseRequest:
        request = self._decidable(invocation, request_id, action="deny")
        now = self._clock()
        denied = self._store.transition(
            request.id, from_states=[RequestState.PENDING], to_state=RequestState.DENIED, now=now,
            decided_by=invocation.user_id, decided_at=now,
        )  # fmt: skip
        if denied is None:
            raise self._already_decided(request.id)
        self._audit.record(
            invocation, action="request.denied", outcome=Outcome.OK, target=denied.target.value,
            group=denied.group_name, team_id=denied.team_id, details={"request": denied.id},
        )  # fmt: skip
        self._notifier.update_card(denied)
        self._notifier.tell_requester(denied)
        self._notifier.request_changed(denied)
        return denied

    def retry(self, invocation: Invocation, request_id: int) -> PauseRequest:
        request = self._request_in_workspace(invocation, request_id, action="retry")
        self._authorizer.require_decider(invocation.user, request, action="retry")
        if request.state is not RequestState.FAILED:
            raise self._already_decided(request.id)
        if request.expires_at <= self._clock():
            self._abandon_stale(request)
            raise PauseRefused(
                f"Request #{request.id} can no longer be retried: it failed more than "
                f"{_duration(int(self._approval_timeout.total_seconds()))} ago. Ask for a new pause."
            )
        self._require_recording_system()
        self._audit.record(
            invocation, action="request.retry", outcome=Outcome.OK, target=request.target.value,
            group=request.group_name,
            team_id=request.team_id, details={"request": request.id, "attempt": request.attempts + 1},
        )  # fmt: skip
        return self._execute(invocation, request, from_state=RequestState.FAILED)

    def abandon(self, invocation: Invocation, request_id: int) -> PauseRequest:
        request = self._request_in_workspace(invocation, request_id, action="abandon")
        self._authorizer.require_decider(invocation.user, request, action="abandon")
        abandoned = self._store.transition(
            request.id, from_states=[RequestState.FAILED], to_state=RequestState.ABANDONED, now=self._clock(),
            resumed_by=invocation.user_id,
        )  # fmt: skip
        if abandoned is None:
            raise self._already_decided(request.id)
        self._audit.record(
            invocation, action="request.abandoned", outcome=Outcome.OK, target=request.target.value,
            group=request.group_name, team_id=request.team_id, details={"request": request.id},
        )  # fmt: skip
        self._notifier.update_card(abandoned)
        self._notifier.request_changed(abandoned)
        return abandoned

    def cancel(self, invocation: Invocation, request_id: int) -> PauseRequest:
        """The requester (or an admin) withdraws a pending or failed request; nothing goes upstream."""
        role = self._authorizer.require(invocation.user, Role.REQUESTER, action="cancel")
        request = self._store.get(request_id)
        if request is None or request.team_id != invocation.team_id:
            raise PauseRefused(f"There is no request #{request_id}; `/recording requests` lists the open ones.")
        if request.requester_id != invocation.user_id and role is not Role.ADMIN:
            raise PauseRefused(
                f"Only the requester (<@{request.requester_id}>) or an admin may cancel request #{request.id}."
            )
        cancelled = self._store.transition(
            request.id, from_states=[RequestState.PENDING, RequestState.FAILED], to_state=RequestState.CANCELLED,
            now=self._clock(), cancelled_by=invocation.user_id,
        )  # fmt: skip
        if cancelled is None:
            current = self._get(request.id)
            raise PauseRefused(
                f"Request #{current.id} is {current.state}: only a pending or failed request can be cancelled"
                + (f"; `/recording resume {current.target.value}` ends an active pause." if
                   current.state is RequestState.ACTIVE else ".")
            )  # fmt: skip
        self._audit.record(
            invocation, action="request.cancelled", outcome=Outcome.OK, target=cancelled.target.value,
            group=cancelled.group_name,
            team_id=cancelled.team_id, details={"request": cancelled.id, "was": request.state.value},
        )  # fmt: skip
        self._notifier.update_card(cancelled)
        self._notifier.request_changed(cancelled)
        return cancelled

    def _request_in_workspace(self, invocation: Invocation, request_id: int, *, action: str) -> PauseRequest:
        self._authorizer.require(invocation.user, Role.REQUESTER, action=action)
        request = self._store.get(request_id)
        if request is None or request.team_id != invocation.team_id:
            # Another workspace's request looks exactly like a missing one: reveal nothing.
            raise PauseRefused("That request does not exist (or not in this workspace).")
        return request

    def _decidable(self, invocation: Invocation, request_id: int, *, action: str) -> PauseRequest:
        request = self._request_in_workspace(invocation, request_id, action=action)
        self._authorizer.require_decider(invocation.user, request, action=action)
        if request.state is RequestState.PENDING and request.expires_at <= self._clock():
            self._expire(request)
            raise PauseRefused(f"Request #{request.id} has expired: nobody decided in time. Ask for a new one.")
        if request.state is not RequestState.PENDING:
            raise self._already_decided(request.id)
        return request

    def _already_decided(self, request_id: int) -> AlreadyDecided:
        return AlreadyDecided(self._get(request_id))

    def _require_recording_system(self) -> None:
        if self._recording_system is None:
            raise PauseRefused(NOT_CONFIGURED, outcome=Outcome.ERROR)

    # -- calling the recording system ------------------------------------------------------------

    def _execute(
        self, invocation: Invocation | None, request: PauseRequest, *, from_state: RequestState, notify: bool = True
    ) -> PauseRequest:
        claimed = self._store.transition(
            request.id, from_states=[from_state], to_state=RequestState.EXECUTING, now=self._clock(),
            count_attempt=True, error=None, claimed_by=self._instance_id,
        )  # fmt: skip
        if claimed is None:
            raise self._already_decided(request.id)
        self._require_recording_system()
        assert self._recording_system is not None
        try:
            outcome = self._recording_system.pause(claimed.target, claimed.channels)
        except UpstreamError as error:
            self._audit_upstream(invocation, claimed, "pause", error=error)
            if isinstance(error, UpstreamUnreachable):
                # No answer (timeout, dropped connection, 502/503/504): the pause may have taken effect
                # anyway, and nothing would ever end it. Resume to be safe, as recover_orphaned does.
                self._resume_to_be_safe(invocation, claimed)
            return self._fail(invocation, claimed, error.user_message(), kind=error.kind, notify=notify)
        self._audit_upstream(invocation, claimed, "pause", outcome=outcome)
        now = self._clock()
        resume_at = now + timedelta(seconds=claimed.duration_seconds)
        active = self._store.transition(
            claimed.id, from_states=[RequestState.EXECUTING], to_state=RequestState.ACTIVE, now=now,
            paused_at=now, resume_at=resume_at, remind_at=_remind_at(now, resume_at), reminded_at=None,
        )  # fmt: skip
        assert active is not None
        self._schedule_changed.set()
        self._audit.record(
            invocation, action="request.active", outcome=Outcome.OK, target=active.target.value,
            group=active.group_name,
            team_id=active.team_id, details={"request": active.id, "resume_at": active.resume_at},
        )  # fmt: skip
        if notify:
            self._notifier.update_card(active)
            self._notifier.tell_requester(active)
            self._notifier.request_changed(active)
        return active

    def _fail(
        self, invocation: Invocation | None, request: PauseRequest, error: str, *, kind: str, notify: bool
    ) -> PauseRequest:
        now = self._clock()
        failed = self._store.transition(
            request.id, from_states=[RequestState.EXECUTING], to_state=RequestState.FAILED, now=now, error=error,
            # A failed request may be retried for as long as a request may wait for a decision.
            expires_at=now + self._approval_timeout,
        )  # fmt: skip
        assert failed is not None
        self._schedule_changed.set()
        self._audit.record(
            invocation, action="request.failed", outcome=Outcome.ERROR, target=request.target.value,
            group=request.group_name,
            team_id=request.team_id, details={"request": request.id, "error": error, "kind": kind},
        )  # fmt: skip
        if notify or failed.message_ts:
            self._notifier.update_card(failed)
        self._notifier.tell_requester(failed)
        self._notifier.request_changed(failed)
        return failed

    def _apply_extension(self, invocation: Invocation | None, extension: PauseRequest) -> PauseRequest:
        """An approved extension moves its pause's automatic resume later (if the pause is still active)."""
        assert extension.extends_id is not None
        pause = self._store.get(extension.extends_id)
        now = self._clock()
        extended_pause = None
        if pause is not None and pause.state is RequestState.ACTIVE and pause.resume_at is not None:
            new_end = pause.resume_at + timedelta(seconds=extension.duration_seconds)
            assert pause.paused_at is not None
            extended_pause = self._store.extend(
                pause.id, from_resume_at=pause.resume_at, to_resume_at=new_end,
                remind_at=_remind_at(pause.paused_at, new_end), added_seconds=extension.duration_seconds, now=now,
            )  # fmt: skip
        if extended_pause is None:
            expired = self._store.transition(
                extension.id, from_states=[RequestState.APPROVED], to_state=RequestState.EXPIRED, now=now,
                error="the pause had ended before the extension was approved",
            )  # fmt: skip
            current = expired or self._get(extension.id)
            self._notifier.update_card(current)
            self._notifier.tell_requester(current)
            self._notifier.request_changed(current)
            raise PauseRefused(
                f"Pause #{extension.extends_id} is no longer active, so extension #{extension.id} expired."
            )
        done = self._store.transition(
            extension.id, from_states=[RequestState.APPROVED], to_state=RequestState.EXTENDED, now=now,
            resume_at=extended_pause.resume_at,
        )  # fmt: skip
        assert done is not None
        self._schedule_changed.set()
        self._audit.record(
            invocation, action="request.extended", outcome=Outcome.OK, target=extended_pause.target.value,
            group=extended_pause.group_name, team_id=extended_pause.team_id,
            details={"request": extended_pause.id, "extension": done.id, "seconds": done.duration_seconds,
                     "resume_at": extended_pause.resume_at},
        )  # fmt: skip
        for changed in (done, extended_pause):
            self._notifier.update_card(changed)
            self._notifier.request_changed(changed)
        self._notifier.tell_requester(done)
        return done

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
            group=request.group_name if request else None,
            team_id=request.team_id if request else None,
        )

    # -- resuming --------------------------------------------------------------------------------

    def resume(self, invocation: Invocation, target: RecordingTarget) -> ResumeResult:
        """Resume at once (the safe direction: no approval), cancelling any scheduled automatic resume.
        Requests on the target still waiting for a decision are left as they are.

        When the database cannot be written, the resume is sent all the same and recorded later."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="resume")
        self._require_recording_system()
        assert self._recording_system is not None
        target = self._resolve(invocation, target)
        open_requests = self._open_on(invocation.team_id, target, quick=True)
        pending = [r for r in open_requests if r.state is RequestState.PENDING]
        active = [r for r in open_requests if r.state is RequestState.ACTIVE]
        already = [r for r in active if r.id in self._unwritten]
        if already and len(already) == len(active):
            # Resumed a moment ago while the database could not record it: it is not sent twice.
            entry = next(e for e in self._unwritten.entries() if e.request.id == already[0].id)
            if entry.sent:
                return ResumeResult(
                    target=already[0].target, cancelled=already, pending=pending, unwritten=entry.problem
                )
        claimed: list[PauseRequest] = []
        unclaimed: list[PauseRequest] = []
        problem: str | None = None
        for request in active:
            try:
                won = self._store.transition(
                    request.id, from_states=[RequestState.ACTIVE], to_state=RequestState.RESUMING, now=self._clock(),
                    claimed_by=self._instance_id,
                )  # fmt: skip
            except DatabaseUnavailable as error:
                problem = str(error)
                unclaimed.append(request)
                continue
            if won is not None:
                claimed.append(won)
        ours = claimed + unclaimed
        resume_target = ours[0].target if ours else target
        try:
            outcome = self._recording_system.resume(resume_target)
        except UpstreamError as error:
            self._audit_upstream(invocation, ours[0] if ours else None, "resume", target=resume_target, error=error)
            if isinstance(error, NotFound) and ours:
                # The call has ended: nothing is being recorded any more, so the pause is over too.
                note = "the call had ended"
                finished = self._finish_resumed(claimed, invocation.user_id, note=note)
                self._hold_sent(unclaimed, invocation.user_id, note=note, problem=problem or "")
                return ResumeResult(target=resume_target, cancelled=finished + unclaimed, pending=pending,
                                    unwritten=problem)  # fmt: skip
            for request in claimed:
                self._reactivate(request, resume_at=None, error=None)
            raise
        self._audit_upstream(invocation, ours[0] if ours else None, "resume", target=resume_target, outcome=outcome)
        finished = self._finish_resumed(claimed, invocation.user_id)
        self._hold_sent(unclaimed, invocation.user_id, note=None, problem=problem or "")
        return ResumeResult(
            target=resume_target, cancelled=finished + unclaimed, pending=pending, outcome=outcome, unwritten=problem
        )

    def _hold_sent(self, requests: list[PauseRequest], resumed_by: str, *, note: str | None, problem: str) -> None:
        """Resumes the recording system accepted but the database did not record: written later."""
        for request in requests:
            entry = UnwrittenResume(request=request, problem=problem, sent=True, resumed_by=resumed_by, note=note)
            if self._unwritten.hold(entry):
                logger.warning(
                    "request #%s resumed, but the database could not record it (%s); recording it when it can",
                    request.id, problem,
                )  # fmt: skip
        if requests:
            self._schedule_changed.set()

    def _reactivate(
        self, request: PauseRequest, *, resume_at: datetime | None, error: str | None
    ) -> PauseRequest | None:
        """A resume that did not get through: the pause is active again, due at `resume_at` (or as it was).
        If even that cannot be written, the scheduler keeps trying the resume from memory."""
        fields: dict[str, Any] = {"error": error} if error is not None else {}
        if resume_at is not None:
            fields.update(count_resume_attempt=True, resume_at=resume_at)
        try:
            return self._store.transition(
                request.id, from_states=[RequestState.RESUMING], to_state=RequestState.ACTIVE, now=self._clock(),
                **fields,
            )  # fmt: skip
        except DatabaseUnavailable as unavailable:
            logger.warning(
                "request #%s: its resume failed and the database cannot be written (%s); retrying from memory",
                request.id, unavailable,
            )  # fmt: skip
            self._unwritten.hold(
                UnwrittenResume(request=request, problem=str(unavailable), next_attempt=resume_at or self._clock())
            )
            return None

    def resume_request(self, invocation: Invocation, request_id: int) -> ResumeResult:
        """Resume the pause of one request (a Resume now button)."""
        request = self._request_in_workspace(invocation, request_id, action="resume")
        if request.state not in (RequestState.ACTIVE, RequestState.RESUMING):
            raise (
                AlreadyDecided(request)
                if request.state is not RequestState.RESUMED
                else PauseRefused(f"Pause #{request.id} has already ended.")
            )
        return self.resume(invocation, request.target)

    def _finish_resumed(
        self, claimed: list[PauseRequest], resumed_by: str, *, note: str | None = None
    ) -> list[PauseRequest]:
        finished = []
        for request in claimed:
            now = self._clock()
            try:
                done = self._store.transition(
                    request.id, from_states=[RequestState.RESUMING, RequestState.ACTIVE],
                    to_state=RequestState.RESUMED, now=now, resumed_at=now, resumed_by=resumed_by, error=note,
                )  # fmt: skip
            except DatabaseUnavailable as error:
                self._hold_sent([request], resumed_by, note=note, problem=str(error))
                finished.append(request)
                continue
            self._unwritten.drop(request.id)
            if done is None:
                continue
            self._audit.record(
                None, action="request.resumed", outcome=Outcome.OK, target=done.target.value, group=done.group_name,
                team_id=done.team_id,
                details={"request": done.id, "by": resumed_by, "note": note}, user_id=resumed_by,
            )  # fmt: skip
            self._notifier.update_card(done)
            try:
                self._ended(done)
            except DatabaseUnavailable as error:
                # The pause itself is recorded as over; only its notices and extensions wait for another time.
                logger.warning("request #%s resumed; its follow-ups could not be written: %s", done.id, error)
            finished.append(done)
        return finished

    def _ended(self, pause: PauseRequest) -> None:
        """A pause is over: its undecided extensions expire, and its requester is told (once)."""
        for extension in self._store.open_extensions_of(pause.id):
            expired = self._store.transition(
                extension.id, from_states=[RequestState.PENDING, RequestState.APPROVED],
                to_state=RequestState.EXPIRED, now=self._clock(),
                error="the pause ended before the extension was decided",
            )  # fmt: skip
            if expired is not None:
                self._audit.record(
                    None, action="request.expired", outcome=Outcome.OK, target=expired.target.value,
                    group=expired.group_name, team_id=expired.team_id, user_id=SYSTEM,
                    details={"request": expired.id, "why": "the pause ended first"},
                )  # fmt: skip
                self._notifier.update_card(expired)
                self._notifier.request_changed(expired)
        if self._store.claim_notice(pause.id, NOTICE_ENDED, pause.requester_id, self._clock()):
            self._notifier.tell_pause_ended(pause)
        self._notifier.request_changed(pause)

    # -- the schedule ----------------------------------------------------------------------------

    def expire_due(self) -> list[PauseRequest]:
        """Undecided requests past their deadline expire; failed ones nobody retried in time are abandoned."""
        done = []
        for request in self._store.due_for_expiry(self._clock()):
            settled = self._expire(request) if request.state is RequestState.PENDING else self._abandon_stale(request)
            if settled is not None:
                done.append(settled)
        return done

    def _expire(self, request: PauseRequest) -> PauseRequest | None:
        expired = self._store.transition(
            request.id, from_states=[RequestState.PENDING], to_state=RequestState.EXPIRED, now=self._clock()
        )
        if expired is None:
            return None
        self._audit.record(
            None, action="request.expired", outcome=Outcome.OK, target=expired.target.value,
            group=expired.group_name, team_id=expired.team_id, details={"request": expired.id}, user_id=SYSTEM,
        )  # fmt: skip
        self._notifier.update_card(expired)
        self._notifier.tell_requester(expired)
        self._notifier.request_changed(expired)
        return expired

    def _abandon_stale(self, request: PauseRequest) -> PauseRequest | None:
        note = (
            f"nobody retried it within {_duration(int(self._approval_timeout.total_seconds()))} of the failure "
            f"({request.error or 'unknown error'})"
        )
        abandoned = self._store.transition(
            request.id, from_states=[RequestState.FAILED], to_state=RequestState.ABANDONED, now=self._clock(),
            resumed_by=SYSTEM, error=note,
        )  # fmt: skip
        if abandoned is None:
            return None
        self._audit.record(
            None, action="request.abandoned", outcome=Outcome.OK, target=abandoned.target.value,
            group=abandoned.group_name,
            team_id=abandoned.team_id, details={"request": abandoned.id, "why": "no retry in time"}, user_id=SYSTEM,
        )  # fmt: skip
        self._notifier.update_card(abandoned)
        self._notifier.request_changed(abandoned)
        return abandoned

    def remind_due(self) -> list[PauseRequest]:
        """Tell requesters that their pause ends soon (once each, whichever instance gets there first)."""
        reminded = []
        for request in self._store.due_for_reminder(self._clock()):
            claimed = self._store.claim_reminder(request.id, self._clock())
            if claimed is not None:
                self._notifier.remind_requester(claimed)
                reminded.append(claimed)
        return reminded

    def resume_due(self) -> list[PauseRequest]:
        """Resume every pause whose window has ended; a failure is retried later, never dropped.

        The database's schedule is the truth; when it cannot be read, the last copy read from it is used,
        and when a claim cannot be written, the resume is sent anyway and recorded later."""
        now = self._clock()
        unreadable: str | None = None
        try:
            self._active_copy = self._store.in_states([RequestState.ACTIVE])
        except DatabaseUnavailable as error:
            unreadable = str(error)
        due = sorted(
            (r for r in self._active_copy if r.resume_at is not None and r.resume_at <= now),
            key=lambda r: r.resume_at or now,
        )
        due = [r for r in due if r.id not in self._unwritten]
        if due and unreadable is not None:
            logger.warning("the database cannot be read (%s); resuming from the last schedule read", unreadable)
        resumed: list[PauseRequest] = []
        for request in due:
            try:
                if unreadable is not None:
                    raise DatabaseUnavailable(unreadable)
                claimed = self._store.transition(
                    request.id, from_states=[RequestState.ACTIVE], to_state=RequestState.RESUMING, now=self._clock(),
                    claimed_by=self._instance_id,
                )  # fmt: skip
            except DatabaseUnavailable as error:
                # Sent below with the others the database owes, and recorded once it takes writes.
                self._unwritten.hold(UnwrittenResume(request=request, problem=str(error), next_attempt=now))
                continue
            if claimed is None:
                continue  # resumed by hand, or by another instance, in the meantime
            resumed.extend(self._auto_resume(claimed))
        return resumed + self.write_unwritten()

    def write_unwritten(self) -> list[PauseRequest]:
        """Send the resumes still owed to the recording system, and record those sent; the pauses recorded
        as resumed now."""
        recorded: list[PauseRequest] = []
        for entry in self._unwritten.entries():
            if not entry.sent:
                if entry.next_attempt is not None and entry.next_attempt > self._clock():
                    continue
                if not self._send_unwritten(entry):
                    continue
                entry = replace(entry, sent=True, resumed_by=SYSTEM)
            recorded.extend(self._finish_resumed([entry.request], entry.resumed_by or SYSTEM, note=entry.note))
        return [r for r in recorded if r.id not in self._unwritten]

    def _send_unwritten(self, entry: UnwrittenResume) -> bool:
        """Resume a pause whose state cannot be written; whether the recording system accepted it."""
        request = entry.request
        if self._recording_system is None:
            return False
        try:
            outcome = self._recording_system.resume(request.target)
        except NotFound as error:
            self._audit_upstream(None, request, "resume", error=error)
            self._unwritten.update(request.id, sent=True, resumed_by=SYSTEM, note="the call had ended")
            return True
        except UpstreamError as error:
            self._audit_upstream(None, request, "resume", error=error)
            delay = _retry_delay(entry.attempts)
            self._unwritten.update(
                request.id, attempts=entry.attempts + 1, next_attempt=self._clock() + timedelta(seconds=delay)
            )
            logger.warning(
                "automatic resume of request #%s failed (%s); retrying in %ss", request.id, error.user_message(), delay
            )
            return False
        self._audit_upstream(None, request, "resume", outcome=outcome)
        self._unwritten.update(request.id, sent=True, resumed_by=SYSTEM)
        logger.warning(
            "request #%s resumed on time, but the database could not record it (%s); recording it when it can",
            request.id, entry.problem,
        )  # fmt: skip
        return True

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
        delay = _retry_delay(request.resume_attempts)
        again = self._reactivate(request, resume_at=self._clock() + timedelta(seconds=delay), error=error)
        logger.warning("automatic resume of request #%s failed (%s); retrying in %ss", request.id, error, delay)
        self._audit.record(
            None, action="request.resume_failed", outcome=Outcome.ERROR, target=request.target.value,
            group=request.group_name, team_id=request.team_id, user_id=SYSTEM,
            details={"request": request.id, "error": error, "retry_in_seconds": delay},
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
            if request.kind is RequestKind.EXTENSION:
                self._recover_extension(request)
                continue
            # We cannot know whether the pause reached the recording system. Resume to be safe (a
            # recording must never stay paused unseen), and let an approver retry from the card.
            note = "the bot restarted while pausing; the recording was resumed to be safe. Retry if still needed."
            now = self._clock()
            failed = self._store.transition(
                request.id, from_states=in_flight, to_state=RequestState.FAILED, now=now, error=note,
                expect_claim=request.claimed_by or "", claimed_by=self._instance_id,
                expires_at=now + self._approval_timeout,
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
                group=failed.group_name,
                team_id=failed.team_id, details={"request": failed.id, "error": note}, user_id=SYSTEM,
            )  # fmt: skip
            self._notifier.update_card(failed)
            self._notifier.request_changed(failed)

    def _recover_extension(self, extension: PauseRequest) -> None:
        """An extension approved by an instance that died before applying it: apply it now."""
        claimed = self._store.transition(
            extension.id, from_states=[RequestState.APPROVED], to_state=RequestState.APPROVED, now=self._clock(),
            expect_claim=extension.claimed_by or "", claimed_by=self._instance_id,
        )  # fmt: skip
        if claimed is not None:
            try:
                self._apply_extension(None, claimed)
            except PauseRefused as refused:
                logger.info("extension #%s taken over and not applied: %s", claimed.id, refused.message)

    def next_due(self) -> datetime | None:
        return self._store.next_due()

    @property
    def has_unwritten(self) -> bool:
        """Whether resumes wait for the database to record them (or to be sent again)."""
        return len(self._unwritten) > 0

    # -- reading ---------------------------------------------------------------------------------

    def open_requests(self, team_id: str) -> list[PauseRequest]:
        """The workspace's open requests (operators and tests; no role check)."""
        return self._store.in_states([s for s in RequestState if s.is_open], team_id=team_id)

    def open_requests_for(self, invocation: Invocation) -> list[PauseRequest]:
        """Pending requests, active pauses and failed requests awaiting Retry/Abandon, for anyone listed."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="requests")
        states = [s for s in RequestState if s.is_open] + [RequestState.FAILED]
        return self._store.in_states(states, team_id=invocation.team_id)

    def get(self, request_id: int) -> PauseRequest | None:
        return self._store.get(request_id)

    def now(self) -> datetime:
        return self._clock()

    def _get(self, request_id: int) -> PauseRequest:
        request = self._store.get(request_id)
        assert request is not None
        return request


def _clash_text(target: RecordingTarget, other: PauseRequest) -> str:
    """Why a second request on one target is refused, naming the other name when it came by another."""
    alias = "" if other.target.value == target.value else f" (the same Webex line as {other.target.value})"
    if other.state is RequestState.PENDING:
        return f"{target.value}{alias} already has pause request #{other.id} waiting for approval."
    return (
        f"{target.value}{alias} is already paused (request #{other.id}); "
        f"`/recording resume {other.target.value}` ends it."
    )


def _break_glass_clash_text(target: RecordingTarget, other: PauseRequest) -> str:
    alias = "" if other.target.value == target.value else f" (the same Webex line as {other.target.value})"
    return (
        f"{target.value}{alias} already has an open request (request #{other.id}, {other.state}): it must be "
        f"decided or cancelled before you break glass (`/recording cancel {other.id}`)."
    )


def _same_call_details(request: PauseRequest) -> dict[str, Any]:
    """For the audit row: the other open requests on the same call or line that the approvers were shown."""
    if not request.same_call:
        return {}
    return {"same_call": [{"target": s.target, "request": s.request_id, "certain": s.certain}
                          for s in request.same_call]}  # fmt: skip


def _retry_delay(attempts: int) -> int:
    """Seconds before the next try of a failed automatic resume: doubling, up to a cap."""
    return min(RESUME_RETRY_CAP_SECONDS, RESUME_RETRY_SECONDS * (1 << min(attempts, 8)))


def _remind_at(paused_at: datetime, resume_at: datetime) -> datetime:
    """One minute before the end; halfway through a pause shorter than two minutes."""
    length = resume_at - paused_at
    if length < 2 * REMIND_BEFORE:
        return paused_at + length / 2
    return resume_at - REMIND_BEFORE


def _duration(seconds: int) -> str:
    return format_duration(seconds)
