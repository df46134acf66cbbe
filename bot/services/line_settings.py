"""Finding a Webex line (a person, a workspace or a virtual line) from what a person typed, and whether
pause/resume can work on it. One resolution for `/recording settings`, the pick list's Show buttons, and a pause
by extension or by `me` (the card's warning)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clients.errors import NotFound, UpstreamError
from bot.clients.webex import WebexClient
from bot.models import CallRecordingSettings, Invocation, Line, LineNames, PauseBlocker, Role, pause_blocker
from bot.models.refusals import WebexNotConfigured
from bot.services.allow_list import Authorizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineFound:
    """Exactly one line matched; its call-recording settings were read."""

    query: str
    line: Line
    settings: CallRecordingSettings


@dataclass(frozen=True)
class LineAmbiguous:
    """Several lines (of any kinds) matched; the user must pick one."""

    query: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class LineNotFound:
    """No line matched."""

    query: str


LineLookup = LineFound | LineAmbiguous | LineNotFound


# Raised here, importable from here as before.
__all__ = ["LineAmbiguous", "LineFound", "LineLookup", "LineNotFound", "LineSettingsService", "WebexNotConfigured"]


class LineSettingsService:
    """Answers `/recording settings …` and warns before a pause that cannot work."""

    def __init__(self, *, webex: WebexClient | None, authorizer: Authorizer) -> None:
        self._webex = webex
        self._authorizer = authorizer

    @property
    def configured(self) -> bool:
        return self._webex is not None

    def lookup(self, invocation: Invocation, query: str) -> LineLookup:
        """Resolve `query` (extension, +E.164, e-mail address, a person's, workspace's or virtual line's name, a
        Webex ID of any kind); UpstreamError propagates to the caller."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="settings")
        if self._webex is None:
            raise WebexNotConfigured()
        lines = self._webex.find_lines(query)
        if not lines:
            return LineNotFound(query=query)
        if len(lines) > 1:
            return LineAmbiguous(query=query, lines=tuple(lines))
        line = lines[0]
        return LineFound(query=query, line=line, settings=self._webex.get_line_recording(line))

    def show_line(self, invocation: Invocation, line_id: str) -> LineFound:
        """One line picked by its Webex ID (a Show button): the line and its settings."""
        self._authorizer.require(invocation.user, Role.REQUESTER, action="settings")
        if self._webex is None:
            raise WebexNotConfigured()
        lines = [line for line in self._webex.find_lines(line_id) if line.id == line_id]
        if not lines:
            raise NotFound("no such line (it may have been removed in Control Hub)", system="Webex")
        return LineFound(query=line_id, line=lines[0], settings=self._webex.get_line_recording(lines[0]))

    def line_names(self, extension: str) -> LineNames | None:
        """The line(s) an extension or number belongs to, with all their names, so that a pause through one
        name meets a pause through another. None when Webex is not configured or cannot answer now (then
        names are compared as typed); never raises, so a Webex outage never blocks a pause request."""
        if self._webex is None:
            return None
        try:
            lines = self._webex.find_lines(extension)
        except UpstreamError as exc:
            logger.warning("the names of %r's line are unknown now: %s", extension, exc.user_message())
            return None
        except Exception:
            logger.exception("the names of %r's line are unknown now: unexpected failure", extension)
            return None
        names = {name for line in lines for name in line.names}
        return LineNames(line_ids=tuple(line.id for line in lines), names=frozenset(names | {extension}))

    def pause_blocker(self, extension: str) -> PauseBlocker | None:
        """Why a pause on this extension's line cannot work, or None (also when Webex cannot tell us).

        Advisory only: it never raises, so a Webex outage never blocks a pause request.
        """
        if self._webex is None:
            return None
        try:
            lines = self._webex.find_lines(extension)
            if len(lines) != 1:
                return None
            return pause_blocker(self._webex.get_line_recording(lines[0]))
        except UpstreamError as exc:
            logger.warning("no pause warning for %r: %s", extension, exc.user_message())
            return None
        except Exception:
            logger.exception("no pause warning for %r: unexpected failure", extension)
            return None
