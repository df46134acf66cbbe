"""Why something a person asked for is not done: one hierarchy, raised by the services (and by listeners
for what no service sees), worded in one place (`blocks/refusals.py`). A refusal carries the facts, never
a sentence; `outcome` is what its audit row says.

    Refusal
    ├── NotAllowed                 the person lacks the role (or is not listed)
    ├── NotADecider                the person may not decide this request
    │   ├── NotAnApprover
    │   ├── OwnRequest
    │   └── OtherGroup
    ├── LastAdmin                  the change would leave no admin
    ├── ExtensionTaken             the extension is linked to someone else
    ├── NotConfigured              an upstream the bot needs has no credentials (outcome: error)
    │   ├── RecordingSystemNotConfigured
    │   └── WebexNotConfigured
    ├── LinkRefused                `me` cannot be linked now (outcome: error)
    │   ├── NoLinkedExtension
    │   ├── ExtensionLookupFailed
    │   └── SeveralWebexPeople
    ├── PauseRefused               a request cannot go ahead
    │   ├── RequestNotFound        (not in this workspace: reveals nothing)
    │   ├── NoSuchRequest          (to cancel)
    │   ├── MalformedButton
    │   ├── AlreadyDecided         someone else changed the request first
    │   ├── RequestExpired
    │   ├── AlreadyApprovedByYou
    │   ├── RetryTooLate
    │   ├── NotYourRequest
    │   ├── NotCancellable
    │   ├── RequesterWithdrawn     its requester is no longer on the allow-list
    │   ├── TargetBusy             the target already has an open request
    │   ├── BreakGlassBlocked
    │   ├── MeNeedsLink
    │   ├── NoSuchPause
    │   ├── PauseNotActive
    │   ├── NoActivePause
    │   ├── PauseAlreadyEnded
    │   ├── ExtensionTooLong
    │   ├── ExtensionWaiting
    │   ├── ExtensionOutlived
    │   ├── ApprovalCardNotPosted  (outcome: error)
    │   ├── FormNeedsSlack
    │   └── PauseFormNotOpened
    ├── ChangeRefused              a settings change cannot go ahead
    │   ├── NoSuchChange           (not in this workspace: reveals nothing)
    │   ├── LineNotFoundForChange
    │   ├── SeveralLinesForChange
    │   ├── NothingToChange        every setting already has the value asked for
    │   ├── ChangeWaiting          the line already has an open change
    │   ├── ChangeDecided          someone else changed the request first
    │   ├── ChangeExpired
    │   ├── ChangeApprovedByYou
    │   ├── NotUndoable
    │   ├── ChangeWithdrawn        its requester is no longer on the allow-list
    │   └── ChangeCardNotPosted    (outcome: error)
    └── DigestRefused              a digest cannot be posted now
        ├── DigestNotEnded         its 24 hours have not ended
        └── DigestNotPosted        Slack did not take it (outcome: error)
"""

from __future__ import annotations

from datetime import date, datetime

from bot.models.allow_list import Access, Role
from bot.models.audit import Outcome
from bot.models.changes import ChangeRequest
from bot.models.lines import LineKind
from bot.models.pauses import PauseRequest, RecordingTarget


class Refusal(Exception):
    outcome: str = Outcome.REFUSED


# -- who may do what -------------------------------------------------------------------------------


class NotAllowed(Refusal):
    """`action` needs the `needed` role; the person's is `role` (None: not on the allow-list)."""

    def __init__(self, *, action: str, needed: Role, role: Role | None, admins: list[str]) -> None:
        super().__init__(action)
        self.action = action
        self.needed = needed
        self.role = role
        self.admins = admins


class NotADecider(Refusal):
    """The person (`access`) may not `action` this request."""

    def __init__(self, request: PauseRequest | ChangeRequest, access: Access, *, action: str) -> None:
        super().__init__(request.id)
        self.request = request
        self.access = access
        self.action = action


class NotAnApprover(NotADecider):
    """Only approvers and admins decide requests."""


class OwnRequest(NotADecider):
    """Nobody decides their own request."""


class OtherGroup(NotADecider):
    """The request belongs to another approver group than the person's."""


class LastAdmin(Refusal):
    """The change would leave the workspace without an admin."""

    def __init__(self, team_id: str) -> None:
        super().__init__(team_id)
        self.team_id = team_id


class ExtensionTaken(Refusal):
    """`extension` is linked to `holder_id`: one person per extension (an admin may give it to another)."""

    def __init__(self, extension: str, holder_id: str) -> None:
        super().__init__(extension)
        self.extension = extension
        self.holder_id = holder_id


# -- what is not set up ----------------------------------------------------------------------------


class NotConfigured(Refusal):
    outcome = Outcome.ERROR


class RecordingSystemNotConfigured(NotConfigured):
    pass


class WebexNotConfigured(NotConfigured):
    pass


class LinkRefused(Refusal):
    outcome = Outcome.ERROR


class NoLinkedExtension(LinkRefused):
    """`me` names no extension: none is linked, and none could be found."""


class ExtensionLookupFailed(LinkRefused):
    """Webex could not be asked for the person's extension (`reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SeveralWebexPeople(LinkRefused):
    """Webex has `count` people with the asker's e-mail address: none of them is taken to be the asker."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


# -- pause requests --------------------------------------------------------------------------------


class PauseRefused(Refusal):
    """The request cannot go ahead."""


class RequestNotFound(PauseRefused):
    def __init__(self, request_id: int) -> None:
        super().__init__(request_id)
        self.request_id = request_id


class NoSuchRequest(RequestNotFound):
    """Asked to cancel a request this workspace does not have."""


class MalformedButton(PauseRefused):
    """A button whose value names no request."""


class _AboutRequest(PauseRefused):
    def __init__(self, request: PauseRequest) -> None:
        super().__init__(request.id)
        self.request = request


class AlreadyDecided(_AboutRequest):
    """Someone else changed the request first; `request` is its state now, to tell the loser who."""


class RequestExpired(_AboutRequest):
    """Nobody decided in time."""


class AlreadyApprovedByYou(_AboutRequest):
    """A four-eyes request this person approved already."""


class RetryTooLate(_AboutRequest):
    """The request failed longer ago than `window_seconds`."""

    def __init__(self, request: PauseRequest, *, window_seconds: int) -> None:
        super().__init__(request)
        self.window_seconds = window_seconds


class NotYourRequest(_AboutRequest):
    """Only the requester (or an admin) cancels a request."""


class NotCancellable(_AboutRequest):
    """Neither pending nor failed."""


class RequesterWithdrawn(_AboutRequest):
    """The request's requester is no longer on the allow-list: it was withdrawn, not carried out."""


class PauseAlreadyEnded(_AboutRequest):
    pass


class PauseNotActive(_AboutRequest):
    """Only an active pause is extended."""


class TargetBusy(PauseRefused):
    """`target` already has an open request: `other` (None when it could not be read again)."""

    def __init__(self, target: RecordingTarget, other: PauseRequest | None) -> None:
        super().__init__(target.value)
        self.target = target
        self.other = other


class BreakGlassBlocked(TargetBusy):
    """Break glass on a target with an open request: it must be decided or cancelled first."""


class MeNeedsLink(PauseRefused):
    """`me` without any way to link an extension."""


class NoSuchPause(PauseRefused):
    def __init__(self, request_id: int) -> None:
        super().__init__(request_id)
        self.request_id = request_id


class NoActivePause(PauseRefused):
    def __init__(self, target: RecordingTarget) -> None:
        super().__init__(target.value)
        self.target = target


class ExtensionTooLong(PauseRefused):
    """The pause with the extension would last longer than `max_seconds`; `left_seconds` may still be added."""

    def __init__(self, pause: PauseRequest, *, max_seconds: int, left_seconds: int) -> None:
        super().__init__(pause.id)
        self.pause = pause
        self.max_seconds = max_seconds
        self.left_seconds = left_seconds


class ExtensionWaiting(PauseRefused):
    """The pause already has an extension request waiting (`waiting_id`, when it could be read)."""

    def __init__(self, pause_id: int, waiting_id: int | None) -> None:
        super().__init__(pause_id)
        self.pause_id = pause_id
        self.waiting_id = waiting_id


class ExtensionOutlived(PauseRefused):
    """The pause ended before its extension was approved: the extension expired."""

    def __init__(self, pause_id: int, extension_id: int) -> None:
        super().__init__(pause_id)
        self.pause_id = pause_id
        self.extension_id = extension_id


class ApprovalCardNotPosted(PauseRefused):
    """Slack did not take the card; `why` is the notifier's account of it, already in the requester's words."""

    outcome = Outcome.ERROR

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class FormNeedsSlack(PauseRefused):
    """The pause form was asked for where no form can open (no trigger)."""


class PauseFormNotOpened(PauseRefused):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# -- the daily digest ------------------------------------------------------------------------------


class DigestRefused(Refusal):
    """A digest cannot be posted now."""


class DigestNotEnded(DigestRefused):
    """The digest of `day` covers 24 hours that end at `ends_at`, which has not come yet."""

    def __init__(self, day: date, ends_at: datetime) -> None:
        super().__init__(day)
        self.day = day
        self.ends_at = ends_at


class DigestNotPosted(DigestRefused):
    """Slack did not take the digest's message (`why`)."""

    outcome = Outcome.ERROR

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


# -- settings changes ------------------------------------------------------------------------------


class ChangeRefused(Refusal):
    """A change of a line's call-recording settings cannot go ahead."""


class NoSuchChange(ChangeRefused):
    def __init__(self, request_id: int) -> None:
        super().__init__(request_id)
        self.request_id = request_id


class LineNotFoundForChange(ChangeRefused):
    def __init__(self, query: str) -> None:
        super().__init__(query)
        self.query = query


class SeveralLinesForChange(ChangeRefused):
    """`query` names several lines: (kind, name, ID) of each, to be named by its ID."""

    def __init__(self, query: str, lines: list[tuple[LineKind, str, str]]) -> None:
        super().__init__(query)
        self.query = query
        self.lines = lines


class NothingToChange(ChangeRefused):
    """Every setting asked for already has that value on the line (`line_label`)."""

    def __init__(self, line_label: str, settings: list[tuple[str, str]]) -> None:
        super().__init__(line_label)
        self.line_label = line_label
        self.settings = settings


class ChangeWaiting(ChangeRefused):
    """The line already has an open change (pending, being written, or failed awaiting Retry/Abandon)."""

    def __init__(self, line_label: str, other: ChangeRequest | None) -> None:
        super().__init__(line_label)
        self.line_label = line_label
        self.other = other


class _AboutChange(ChangeRefused):
    def __init__(self, request: ChangeRequest) -> None:
        super().__init__(request.id)
        self.request = request


class ChangeDecided(_AboutChange):
    """Someone else changed the request first; `request` is its state now."""


class ChangeExpired(_AboutChange):
    """Nobody decided in time."""


class ChangeApprovedByYou(_AboutChange):
    """A two-approval change this person approved already."""


class NotUndoable(_AboutChange):
    """Only a change that was written, and not undone already, can be undone."""


class ChangeWithdrawn(_AboutChange):
    """The change's requester is no longer on the allow-list: it was withdrawn, not carried out."""


class ChangeCardNotPosted(ChangeRefused):
    outcome = Outcome.ERROR

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why
