"""What recording a target names: `me` resolved, the extension's owner, the Webex line behind it (with all
its names, so that one call or line is one target whatever name it is asked by), and the open requests on
the same recording."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.models import (
    Invocation,
    LineNames,
    PauseBlocker,
    PauseRequest,
    RecordingTarget,
    RequestState,
    SameCall,
    TargetKind,
)
from bot.models.refusals import MeNeedsLink
from bot.services.pauses.lifecycle import Lifecycle, LineDirectory
from bot.store.pauses import same_call_json

logger = logging.getLogger(__name__)


class Links(Protocol):
    """Who is which extension (services/links.py)."""

    def resolve(self, invocation: Invocation, target: RecordingTarget) -> RecordingTarget: ...

    def owner_of(self, team_id: str, extension: str) -> str | None: ...


@dataclass(frozen=True)
class SameRecording:
    """What is open on one recording, seen from a request about to be made in `team_id` (see
    Targets.same_recording): each related open pause, and whether it surely is the same call or line."""

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


class Targets:
    def __init__(self, core: Lifecycle, *, links: Links | None, lines: LineDirectory | None) -> None:
        self._core = core
        self._links = links
        # With Webex: the line(s) an extension or number names, so that all names of one line are one target.
        self._lines = lines

    def resolve(self, invocation: Invocation, target: RecordingTarget) -> RecordingTarget:
        """`me` → the asker's extension; any other target as it is."""
        if not target.is_mine:
            return target
        if self._links is None:
            raise MeNeedsLink()
        return self._links.resolve(invocation, target)

    def owner_of(self, team_id: str, target: RecordingTarget, lines: LineNames | None = None) -> str | None:
        """Whose extension this is: linked by the name given, or by another name of the same line."""
        if self._links is None or target.kind is not TargetKind.EXTENSION:
            return None
        others = sorted(lines.names - {target.value}) if lines is not None and lines.line_id else []
        for name in [target.value, *others]:
            owner = self._links.owner_of(team_id, name)
            if owner:
                return owner
        return None

    def line_blocker(self, target: RecordingTarget, lines: LineNames | None = None) -> PauseBlocker | None:
        """Why the extension's Webex line cannot pause, for the card; advisory, never blocks the request."""
        if self._lines is None or target.kind is not TargetKind.EXTENSION:
            return None
        if lines is None or lines.line_id is None:
            # Webex could not be asked just now (asking again would only wait as long again), or the name
            # fits no line or several: either way there is no single line to warn about.
            return None
        try:
            return self._lines.pause_blocker(target.value)
        except Exception:
            logger.warning("could not look up the line's recording mode for the card", exc_info=True)
            return None

    def lines_named(self, target: RecordingTarget) -> LineNames | None:
        """The Webex line(s) an extension or number names; None without Webex, for a call ID, or when
        Webex cannot tell now (then targets are compared as typed)."""
        if self._lines is None or target.kind is not TargetKind.EXTENSION:
            return None
        try:
            return self._lines.line_names(target.value)
        except Exception:
            logger.warning("could not look up the other names of %s's line", target.value, exc_info=True)
            return None

    def same_recording(self, team_id: str, target: RecordingTarget) -> SameRecording:
        """The open pauses, in every workspace, that act on the call or the Webex line `target` names.

        In the asker's workspace, one on the same call ID, the same extension or number, or another name of
        the same line is this target (`clash`: refused, one target has one open request). The others — in
        another workspace, or on a name that several lines share — are told to the approvers (`same_call`).
        """
        lines = self.lines_named(target)
        names = {target.value} | (set(lines.names) if lines is not None else set())
        related: list[tuple[PauseRequest, bool]] = []
        for other in self._core.store.open_naming(names, lines.line_ids if lines is not None else ()):
            certain = self._names_the_same_line(target, lines, other)
            if certain is not None:
                related.append((other, certain))
        return SameRecording(team_id=team_id, lines=lines, related=tuple(related))

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
            found = self.lines_named(other.target)
            other_lines = set(found.line_ids) if found is not None else set()
        if not other_lines & set(lines.line_ids):
            return False if other.target.value in lines.names else None
        return lines.line_id is not None and len(other_lines) == 1

    def open_on(self, team_id: str, target: RecordingTarget, *, quick: bool = False) -> list[PauseRequest]:
        """The workspace's open pauses on this target: by its name, or by another name of its Webex line.
        `quick`: an active pause by the very name given is enough, without asking Webex (a resume must not
        wait for it)."""
        if quick:
            exact = self._core.store.open_for_target(team_id, target.value)
            if any(r.state is RequestState.ACTIVE for r in exact):
                return exact
        return self.same_recording(team_id, target).this_target

    def tell_others_on_the_call(self, request: PauseRequest, recording: SameRecording) -> None:
        """The cards of the other open requests on the same call or line now name this one too."""
        store = self._core.store
        for other, certain in recording.elsewhere:
            mention = SameCall(
                target=request.target.value, request_id=request.id if other.team_id == request.team_id else None,
                certain=certain,
            )  # fmt: skip
            current = store.get(other.id) or other
            if mention in current.same_call:
                continue
            updated = store.update_fields(other.id, same_call=same_call_json((*current.same_call, mention)))
            if updated is not None:
                self._core.update_card(updated)
