"""The authorization layer: who is on the allow-list, in which role, and who may change the list."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from cachetools import TTLCache

from bot.models import AllowListEntry, Invocation, Outcome, Role, SlackUser
from bot.services.audit import AuditTrail
from bot.store.allow_list import AllowListStore, LastAdminError

# Roles are cached so the hot path (every command, every click) rarely does SQL. A change made through
# this service takes effect in this process at once; one made by another process (another instance, the
# `users` command line) is seen once the cached role ages out, within this many seconds.
ROLE_CACHE_SECONDS = 4.0

_NOT_LISTED = "none"


class NotAllowed(Exception):
    """The user lacks the role for what they asked; `message` is safe to show them."""

    def __init__(self, message: str, *, admins: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.admins = admins


class LastAdmin(Exception):
    """Refused: the change would leave no admin."""


@dataclass(frozen=True)
class RoleChange:
    user_id: str
    previous: Role | None
    current: Role | None


class Authorizer:
    def __init__(
        self,
        *,
        allow_list: AllowListStore,
        audit: AuditTrail,
        cache_seconds: float = ROLE_CACHE_SECONDS,
    ) -> None:
        self._allow_list = allow_list
        self._audit = audit
        self._cache: TTLCache[tuple[str, str], str] = TTLCache(maxsize=4096, ttl=cache_seconds)
        self._cache_lock = threading.Lock()
        # Bumped by every change: a lookup that raced a change must not cache what it read before it.
        self._generation = 0

    # -- checks ----------------------------------------------------------------------------------

    def role_of(self, user: SlackUser) -> Role | None:
        key = (user.team_id, user.user_id)
        with self._cache_lock:
            cached = self._cache.get(key)
            generation = self._generation
        if cached is None:
            role = self._allow_list.role_of(user.team_id, user.user_id)
            cached = role.value if role else _NOT_LISTED
            with self._cache_lock:
                if self._generation == generation:
                    self._cache[key] = cached
        return None if cached == _NOT_LISTED else Role(cached)

    def role_of_user(self, team_id: str, user_id: str) -> Role | None:
        return self.role_of(SlackUser(team_id=team_id, user_id=user_id))

    def require(self, user: SlackUser, needed: Role, *, action: str) -> Role:
        """Return the user's role if it is at least `needed`; otherwise raise NotAllowed.

        The caller audits the refusal together with the rest of the command's outcome.
        """
        role = self.role_of(user)
        if role is not None and role.at_least(needed):
            return role
        if role is None:
            message = "You are not on recording-bot's allow-list, so it cannot act for you."
        else:
            message = f"`{action}` needs the {needed.value} role; you are a {role.value}."
        raise NotAllowed(message, admins=self.admins(user.team_id))

    def admit(self, user: SlackUser, *, action: str) -> Role:
        """The allow-list gate for what needs no more than being listed (help, a mistyped command)."""
        return self.require(user, Role.REQUESTER, action=action)

    def admins(self, team_id: str) -> list[str]:
        return self._allow_list.admins(team_id)

    def entries(self, team_id: str) -> list[AllowListEntry]:
        """The workspace's allow-list (operators and tests; no role check)."""
        return self._allow_list.entries(team_id)

    def entries_for(self, invocation: Invocation) -> list[AllowListEntry]:
        """The allow-list, for an admin asking in Slack."""
        self.require(invocation.user, Role.ADMIN, action="users")
        return self._allow_list.entries(invocation.team_id)

    # -- changes ---------------------------------------------------------------------------------

    def grant(self, invocation: Invocation, user_id: str, role: Role) -> RoleChange:
        self.require(invocation.user, Role.ADMIN, action="allow")
        try:
            previous = self._allow_list.put(invocation.team_id, user_id, role, added_by=invocation.user_id)
        except LastAdminError:
            raise LastAdmin(invocation.team_id) from None
        self.forget(invocation.team_id, user_id)
        self._audit.record(
            invocation,
            action="allow_list.changed",
            outcome=Outcome.OK,
            target=user_id,
            details={"role": role.value, "previous": previous.value if previous else None},
        )
        return RoleChange(user_id=user_id, previous=previous, current=role)

    def revoke(self, invocation: Invocation, user_id: str) -> RoleChange:
        self.require(invocation.user, Role.ADMIN, action="revoke")
        try:
            previous = self._allow_list.remove(invocation.team_id, user_id)
        except LastAdminError:
            raise LastAdmin(invocation.team_id) from None
        self.forget(invocation.team_id, user_id)
        self._audit.record(
            invocation,
            action="allow_list.changed",
            outcome=Outcome.OK,
            target=user_id,
            details={"previous": previous.value if previous else None},
        )
        return RoleChange(user_id=user_id, previous=previous, current=None)

    def bootstrap(self, team_id: str, user_ids: Iterable[str], *, source: str) -> list[str]:
        """Make these users admins unless they are already listed; return the ones added."""
        added = [
            user_id
            for user_id in user_ids
            if self._allow_list.add_if_absent(team_id, user_id, Role.ADMIN, added_by=source)
        ]
        for user_id in added:
            self.forget(team_id, user_id)
            self._audit.record(
                None, action="allow_list.changed", outcome=Outcome.OK, target=user_id,
                details={"role": Role.ADMIN.value, "source": source, "team_id": team_id},
            )  # fmt: skip
        return added

    def set_role(self, team_id: str, user_id: str, role: Role, *, source: str) -> RoleChange:
        """An operator's change from the command line (no Slack user behind it)."""
        try:
            previous = self._allow_list.put(team_id, user_id, role, added_by=source)
        except LastAdminError:
            raise LastAdmin(team_id) from None
        self.forget(team_id, user_id)
        self._audit.record(
            None, action="allow_list.changed", outcome=Outcome.OK, target=user_id,
            details={"role": role.value, "source": source, "team_id": team_id},
        )  # fmt: skip
        return RoleChange(user_id=user_id, previous=previous, current=role)

    def remove(self, team_id: str, user_id: str, *, source: str) -> RoleChange:
        try:
            previous = self._allow_list.remove(team_id, user_id)
        except LastAdminError:
            raise LastAdmin(team_id) from None
        self.forget(team_id, user_id)
        self._audit.record(
            None, action="allow_list.changed", outcome=Outcome.OK, target=user_id,
            details={"source": source, "team_id": team_id},
        )  # fmt: skip
        return RoleChange(user_id=user_id, previous=previous, current=None)

    def forget(self, team_id: str, user_id: str) -> None:
        with self._cache_lock:
            self._generation += 1
            self._cache.pop((team_id, user_id), None)
