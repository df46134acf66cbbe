"""Which extension is whose: `/recording link`, and what `me` means in a command ("pause my call").

`me` is the asker's linked extension. Without a link, and with Webex configured, the bot looks the asker
up itself: their e-mail address from Slack, that person in Webex (People API), their extension — and
keeps the link it found (audited), so the next `me` needs no lookup.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.clients.errors import UpstreamError
from bot.clients.webex import WebexClient
from bot.models import Invocation, Outcome, RecordingTarget, Role, TargetKind
from bot.models.refusals import (
    ExtensionLookupFailed,
    ExtensionTaken,
    LinkRefused,
    NoLinkedExtension,
    SeveralWebexPeople,
)
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditTrail
from bot.store.links import ExtensionHeld, Linked, LinkStore, UserLink

logger = logging.getLogger(__name__)

SOURCE_COMMAND = "command"
SOURCE_WEBEX = "webex"


class Directory(Protocol):
    """Where the bot learns a Slack user's e-mail address (Slack's users.info, in production)."""

    def email_of(self, team_id: str, user_id: str) -> str | None: ...


# Raised here, importable from here as before.
__all__ = ["Directory", "LinkRefused", "LinkService"]


class LinkService:
    def __init__(
        self,
        *,
        store: LinkStore,
        authorizer: Authorizer,
        audit: AuditTrail,
        webex: WebexClient | None = None,
        directory: Directory | None = None,
    ) -> None:
        self._store = store
        self._authorizer = authorizer
        self._audit = audit
        self._webex = webex
        self._directory = directory

    def use_directory(self, directory: Directory) -> None:
        """Slack's directory, known once the Slack client is (after the services are built)."""
        self._directory = directory

    # -- commands --------------------------------------------------------------------------------

    def link(
        self, invocation: Invocation, extension: str, *, user_id: str | None = None
    ) -> tuple[UserLink | None, str]:
        """Link a user (yourself, or anyone if you are an admin) to an extension; (the link replaced, user).

        An extension is one person's: one linked to someone else is refused (ExtensionTaken), unless an admin
        links it; then the old holder's link goes, and both audit rows name them."""
        whose = user_id or invocation.user_id
        role = self._authorizer.require(
            invocation.user, Role.ADMIN if whose != invocation.user_id else Role.REQUESTER, action="link"
        )
        linked = self._put(
            invocation, whose, extension, source=SOURCE_COMMAND, linked_by=invocation.user_id, take=role is Role.ADMIN
        )
        previous, taken = linked.previous, linked.taken_from
        self._audit.record(
            invocation, action="link.changed", outcome=Outcome.OK, target=whose,
            details={"extension": extension, "previous": previous.extension if previous else None,
                     "source": SOURCE_COMMAND, **({"taken_from": taken.user_id} if taken else {})},
        )  # fmt: skip
        if taken is not None:
            self._audit.record(
                invocation, action="link.changed", outcome=Outcome.OK, target=taken.user_id,
                details={"extension": None, "previous": taken.extension, "taken_by": whose},
            )  # fmt: skip
        return previous, whose

    def _put(
        self, invocation: Invocation, whose: str, extension: str, *, source: str, linked_by: str, take: bool
    ) -> Linked:
        try:
            return self._store.put(invocation.team_id, whose, extension, source=source, linked_by=linked_by, take=take)
        except ExtensionHeld as held:
            raise ExtensionTaken(extension, held.holder.user_id) from None

    def unlink(self, invocation: Invocation, *, user_id: str | None = None) -> UserLink | None:
        whose = user_id or invocation.user_id
        self._authorizer.require(
            invocation.user, Role.ADMIN if whose != invocation.user_id else Role.REQUESTER, action="unlink"
        )
        removed = self._store.remove(invocation.team_id, whose)
        if removed is not None:
            self._audit.record(
                invocation, action="link.changed", outcome=Outcome.OK, target=whose,
                details={"extension": None, "previous": removed.extension},
            )  # fmt: skip
        return removed

    def links(self, team_id: str) -> list[UserLink]:
        return self._store.all(team_id)

    def owner_of(self, team_id: str, extension: str) -> str | None:
        link = self._store.of_extension(team_id, extension)
        return link.user_id if link else None

    # -- `me` ------------------------------------------------------------------------------------

    def may_resolve_me(self, invocation: Invocation) -> bool:
        """Whether `me` can mean something for this user: a link, or a way to find one (quick: no lookup)."""
        if self._store.of_user(invocation.team_id, invocation.user_id) is not None:
            return True
        return self._webex is not None and self._directory is not None

    def resolve(self, invocation: Invocation, target: RecordingTarget) -> RecordingTarget:
        """`me` → the asker's extension (linking it from Webex if needed); any other target as it is."""
        if not target.is_mine:
            return target
        link = self._store.of_user(invocation.team_id, invocation.user_id)
        if link is not None:
            return RecordingTarget(TargetKind.EXTENSION, link.extension)
        extension = self._look_up(invocation)
        if extension is None:
            raise NoLinkedExtension()
        self._put(invocation, invocation.user_id, extension, source=SOURCE_WEBEX, linked_by="webex", take=False)
        self._audit.record(
            invocation, action="link.changed", outcome=Outcome.OK, target=invocation.user_id,
            details={"extension": extension, "previous": None, "source": SOURCE_WEBEX},
        )  # fmt: skip
        return RecordingTarget(TargetKind.EXTENSION, extension)

    def _look_up(self, invocation: Invocation) -> str | None:
        if self._webex is None or self._directory is None:
            return None
        email = self._directory.email_of(invocation.team_id, invocation.user_id)
        if not email:
            logger.info("no e-mail address in Slack for %s: cannot find their Webex extension", invocation.user_id)
            return None
        try:
            people = self._webex.extensions_of_people_with(email)
        except UpstreamError as error:
            raise ExtensionLookupFailed(error.reason()) from None
        if len(people) > 1:
            # Two people with one address: guessing could pause someone else's call.
            raise SeveralWebexPeople(len(people))
        return people[0] if people else None
