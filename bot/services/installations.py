"""Installable mode's rules: what follows an install (the installer is the first admin, BOT_ADMINS of that
workspace too, all audited; its daily digest's schedule begins) and what follows leaving a workspace (tokens
deleted at once, pending requests withdrawn, pauses on or being sent resumed at once, audited; the allow-list,
groups and audit stay)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.models import Outcome, PauseRequest
from bot.models.installations import SlackInstallation
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.services.digest import DigestService
from bot.services.pauses import PauseService
from bot.store.installations import InstallationStore

logger = logging.getLogger(__name__)

INSTALLER = "installer"
LEFT_NOTE = "the app was removed from this workspace"


@dataclass(frozen=True)
class Left:
    """What leaving a workspace did."""

    installation: SlackInstallation | None
    withdrawn: list[PauseRequest]
    resumed: list[PauseRequest]


class InstallationService:
    def __init__(
        self,
        *,
        store: InstallationStore,
        authorizer: Authorizer,
        audit: AuditTrail,
        pauses: PauseService,
        admins_for: Callable[[str], tuple[str, ...]],
        clock: Clock,
        forget_token: Callable[[str, str], None] = lambda enterprise_id, team_id: None,
        digests: DigestService | None = None,
    ) -> None:
        self._store = store
        self._authorizer = authorizer
        self._audit = audit
        self._pauses = pauses
        self._admins_for = admins_for
        self._clock = clock
        self._forget_token = forget_token
        self._digests = digests

    def installed(self, installation: SlackInstallation) -> list[str]:
        """After Bolt stored an installation: audited; its installer, and BOT_ADMINS of that workspace, made
        admins of its allow-list unless listed already. The admins added."""
        key = installation.key
        self._audit.record(
            None, action="installation.added", outcome=Outcome.OK, target=installation.name, team_id=key,
            user_id=installation.installer_user_id or INSTALLER,
            details={"enterprise_id": installation.enterprise_id, "team_id": installation.team_id,
                     "org_wide": installation.is_enterprise_install,
                     "rotating": installation.bot_refresh_token is not None},
        )  # fmt: skip
        added = []
        if installation.installer_user_id:
            added += self._authorizer.bootstrap(key, [installation.installer_user_id], source=INSTALLER)
        added += self._authorizer.bootstrap(key, self._admins_for(key), source="BOT_ADMINS")
        if self._digests is not None:
            # Its daily digest begins: the first is the next one due (none is owed for before the install).
            self._digests.begin(key)
        logger.info("installed in %s (%s); %s admin(s) added", installation.name, key, len(added))
        return added

    def bootstrap_admins(self) -> None:
        """At start: BOT_ADMINS of every installed workspace (a `T…:U…` entry added after its install)."""
        for installation in self._store.installed():
            self._authorizer.bootstrap(installation.key, self._admins_for(installation.key), source="BOT_ADMINS")

    def left(self, enterprise_id: str, team_id: str, *, event: str) -> Left:
        """`app_uninstalled` or the bot's `tokens_revoked`: its tokens are deleted at once; then the
        workspace's pending requests are withdrawn and its active pauses resumed (the safe direction)."""
        removed = self._store.remove_tokens(enterprise_id, team_id, now=self._clock())
        self._forget_token(enterprise_id, team_id)
        key = team_id or enterprise_id
        if removed is None:
            logger.info("%s for %s, which has no tokens stored; nothing to delete", event, key)
        else:
            self._audit.record(
                None, action="installation.removed", outcome=Outcome.OK, target=removed.name, team_id=key,
                user_id="slack",
                details={"event": event, "enterprise_id": enterprise_id, "team_id": team_id, "tokens": "deleted"},
            )  # fmt: skip
        withdrawn, resumed = self._pauses.workspace_left(key, LEFT_NOTE)
        if withdrawn or resumed:
            logger.warning("left %s: withdrew %s request(s), resumed %s pause(s)", key, len(withdrawn), len(resumed))
        return Left(installation=removed, withdrawn=withdrawn, resumed=resumed)
