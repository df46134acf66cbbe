"""Where the bot serves: the rule that refuses a person acting from a workspace or organisation no
installation of the bot covers — another organisation, a workspace of the org that its org-wide install
leaves out, a workspace the bot was never installed in.

It generalises what the allow-list always did for another workspace's clicker (their workspace's allow-list
is not this one's): the Authorizer asks it before anything else, so every command, click, form and Home a
person reaches is checked once, here. With one `SLACK_BOT_TOKEN` (single-workspace mode) there is no
coverage to check and the allow-list alone decides, as before.

An org-wide install serves the workspaces its org admin chose; Slack lists them (`auth.teams.list`, read
by the notifier's side through `OrgWorkspaces`). The list is kept for `cache_seconds` and read again when
someone acts from a workspace it does not hold (at most every `retry_seconds`, so forged requests cannot
make the bot ask Slack without end).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.clock import utc_now
from bot.models import SlackUser
from bot.models.refusals import NotCovered
from bot.store.installations import InstallationStore

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
RETRY_SECONDS = 30.0
# How long "installed" is believed before the installations are read again (an uninstall deletes tokens at once;
# Bolt then finds no token either).
INSTALLED_SECONDS = 5.0


class Installations(Protocol):
    """Whether an installation of the bot exists for (enterprise, team, org-wide)."""

    def installed(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> bool: ...


class OrgWorkspaces(Protocol):
    """The workspaces an organisation's org-wide install covers, as Slack lists them (raises when Slack
    cannot say)."""

    def workspaces_of(self, enterprise_id: str) -> frozenset[str]: ...


@dataclass
class _Known:
    workspaces: frozenset[str]
    read_at: datetime | None  # None: never read successfully
    tried_at: datetime


class Coverage:
    def __init__(
        self,
        *,
        installations: Installations,
        org_workspaces: OrgWorkspaces,
        clock: Callable[[], datetime] = utc_now,
        cache_seconds: float = CACHE_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._installations = installations
        self._org_workspaces = org_workspaces
        self._clock = clock
        self._cache = timedelta(seconds=cache_seconds)
        self._retry = timedelta(seconds=retry_seconds)
        self._installed_for = timedelta(seconds=INSTALLED_SECONDS)
        self._lock = threading.Lock()
        self._known: dict[str, _Known] = {}
        self._installed: dict[tuple[str, str, bool], datetime] = {}

    def check(self, user: SlackUser) -> None:
        """Nothing if an installation serves the workspace `user` acted in; NotCovered if none does."""
        if user.org_wide:
            if not self._is_installed(user.enterprise_id, None, org_wide=True):
                raise NotCovered(workspace_id=user.workspace, enterprise_id=user.enterprise_id, org_installed=False)
            if user.workspace not in self._workspaces(user.enterprise_id, wanted=user.workspace):
                raise NotCovered(workspace_id=user.workspace, enterprise_id=user.enterprise_id, org_installed=True)
            return
        if not self._is_installed(user.enterprise_id or None, user.team_id, org_wide=False):
            raise NotCovered(workspace_id=user.workspace, enterprise_id=user.enterprise_id, org_installed=False)

    def forget(self, enterprise_id: str | None = None) -> None:
        """Read the installations (and an organisation's workspaces) again at the next check."""
        with self._lock:
            self._installed.clear()
            if enterprise_id is None:
                self._known.clear()
            else:
                self._known.pop(enterprise_id, None)

    def _is_installed(self, enterprise_id: str | None, team_id: str | None, *, org_wide: bool) -> bool:
        key = (enterprise_id or "", team_id or "", org_wide)
        now = self._clock()
        with self._lock:
            seen = self._installed.get(key)
        if seen is not None and now - seen < self._installed_for:
            return True
        installed = self._installations.installed(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide
        )
        if installed:
            with self._lock:
                self._installed[key] = now
        return installed

    def _workspaces(self, enterprise_id: str, *, wanted: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            known = self._known.get(enterprise_id)
            fresh = known is not None and known.read_at is not None and now - known.read_at < self._cache
            if known is not None and ((fresh and wanted in known.workspaces) or now - known.tried_at < self._retry):
                return known.workspaces
            # Claimed under the lock: concurrent checks of one organisation ask Slack once.
            self._known[enterprise_id] = _Known(
                workspaces=known.workspaces if known else frozenset(), read_at=known.read_at if known else None,
                tried_at=now,
            )  # fmt: skip
        try:
            workspaces = self._org_workspaces.workspaces_of(enterprise_id)
        except Exception as error:
            # Nobody is let in on a list Slack could not give: the last one read stands (or none).
            logger.warning("the workspaces of organisation %s could not be read from Slack: %s", enterprise_id, error)
            with self._lock:
                return self._known[enterprise_id].workspaces
        with self._lock:
            self._known[enterprise_id] = _Known(workspaces=workspaces, read_at=now, tried_at=now)
        return workspaces


@dataclass(frozen=True)
class OneInstallation:
    """The one installation a single `SLACK_BOT_TOKEN` is (as auth.test describes it): an organisation's
    org-wide token, or one workspace's."""

    enterprise_id: str | None
    team_id: str | None
    is_enterprise_install: bool

    def installed(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> bool:
        if is_enterprise_install:
            return self.is_enterprise_install and enterprise_id == self.enterprise_id
        return not self.is_enterprise_install and team_id == self.team_id


class StoredInstallations:
    """Installable mode: the installations in the bot's database (those with a token: an uninstall deletes it)."""

    def __init__(self, *, store: InstallationStore) -> None:
        self._store = store

    def installed(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> bool:
        found = self._store.find(enterprise_id or "", "" if is_enterprise_install else team_id or "")
        if found is None or not found.has_token:
            return False
        if is_enterprise_install:
            return found.is_enterprise_install
        # A workspace of an organisation is served here only by its own installation (Slack says which).
        return not found.is_enterprise_install and found.team_id == team_id
