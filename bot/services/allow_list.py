"""The authorization layer: who is on the allow-list, in which role and approver group, who may decide
which request, and who may change any of it."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cachetools import TTLCache

from bot.clock import Clock, utc_now
from bot.models import (
    Access,
    AllowListEntry,
    ApproverGroup,
    Invocation,
    Outcome,
    PauseRequest,
    Role,
    SlackUser,
)
from bot.models.changes import ChangeRequest
from bot.models.refusals import LastAdmin, NotADecider, NotAllowed
from bot.services.audit import AuditTrail
from bot.services.deciders import decides, may_decide
from bot.store.allow_list import KEEP_GROUP, AllowListStore, GroupChange, Keep

# The refusals raised here, importable from here as before.
__all__ = ["CLI_ACTOR", "Authorizer", "GroupView", "LastAdmin", "NotADecider", "NotAllowed", "RoleChange"]

# Roles are cached so the hot path (every command, every click) rarely does SQL. A change made through
# this service takes effect in this process at once; one made by another process (another instance, the
# `users` command line) is seen once the cached role ages out: within REVOCATION_SECONDS, because a role
# is cached for ROLE_CACHE_SECONDS after a read that took at most the rest (a slower read is not cached).
REVOCATION_SECONDS = 5.0
ROLE_CACHE_SECONDS = 4.0

GROUP_NAME = re.compile(r"^[a-z0-9-]{1,30}$")
# The actor recorded for changes made on the command line (Slack changes record the admin's user ID).
CLI_ACTOR = "cli"

_NOT_LISTED = Access(role=Role.REQUESTER, group_name="\x00not listed")


@dataclass(frozen=True)
class RoleChange:
    user_id: str
    previous: Role | None
    current: Role | None
    previous_group: str | None = None
    group: str | None = None

    @property
    def changed(self) -> bool:
        return (self.previous, self.previous_group) != (self.current, self.group)


@dataclass(frozen=True)
class GroupView:
    group: ApproverGroup
    members: list[AllowListEntry]


class Authorizer:
    def __init__(
        self,
        *,
        allow_list: AllowListStore,
        audit: AuditTrail,
        cache_seconds: float = ROLE_CACHE_SECONDS,
        clock: Clock = utc_now,
    ) -> None:
        self._allow_list = allow_list
        self._audit = audit
        # The cache ages on a monotonic timer (a wall-clock step must not keep a revoked role longer), moved on
        # with the bot's clock where that clock is a test's: `clock() - utc_now()` is 0 in production.
        self._cache: TTLCache[tuple[str, str], Access] = TTLCache(
            maxsize=4096, ttl=cache_seconds, timer=lambda: time.monotonic() + (clock() - utc_now()).total_seconds()
        )
        self._cache_lock = threading.Lock()
        # A read slower than this is used once and not cached: its role may already be older than the cache keeps one.
        self._slowest_cached_read = max(0.0, REVOCATION_SECONDS - cache_seconds)
        # Bumped by every change: a lookup that raced a change must not cache what it read before it.
        self._generation = 0

    # -- checks ----------------------------------------------------------------------------------

    def access_of(self, user: SlackUser) -> Access | None:
        key = (user.team_id, user.user_id)
        with self._cache_lock:
            cached = self._cache.get(key)
            generation = self._generation
        if cached is None:
            started = time.monotonic()
            cached = self._allow_list.access_of(user.team_id, user.user_id) or _NOT_LISTED
            fresh = time.monotonic() - started <= self._slowest_cached_read
            with self._cache_lock:
                if self._generation == generation and fresh:
                    self._cache[key] = cached
        return None if cached is _NOT_LISTED else cached

    def role_of(self, user: SlackUser) -> Role | None:
        access = self.access_of(user)
        return access.role if access else None

    def role_of_user(self, team_id: str, user_id: str) -> Role | None:
        return self.role_of(SlackUser(team_id=team_id, user_id=user_id))

    def group_of(self, user: SlackUser) -> str | None:
        access = self.access_of(user)
        return access.group_name if access else None

    def group_of_user(self, team_id: str, user_id: str) -> str | None:
        return self.group_of(SlackUser(team_id=team_id, user_id=user_id))

    def listed_now(self, team_id: str, user_id: str) -> bool:
        """Whether the user is on the allow-list, read from the database now (not the cache): for what
        must not be carried out for someone just taken off it."""
        return self._allow_list.access_of(team_id, user_id) is not None

    def require(self, user: SlackUser, needed: Role, *, action: str) -> Role:
        """Return the user's role if it is at least `needed`; otherwise raise NotAllowed."""
        role = self.role_of(user)
        if role is not None and role.at_least(needed):
            return role
        raise NotAllowed(action=action, needed=needed, role=role, admins=self.admins(user.team_id))

    def admit(self, user: SlackUser, *, action: str) -> Role:
        """The allow-list gate for what needs no more than being listed (help, a mistyped command)."""
        return self.require(user, Role.REQUESTER, action=action)

    def require_decider(self, user: SlackUser, request: PauseRequest | ChangeRequest, *, action: str) -> Access:
        """The user is listed (else NotAllowed) and may decide this request (deciders.may_decide, else
        NotADecider)."""
        self.require(user, Role.REQUESTER, action=action)
        access = self.access_of(user)
        assert access is not None
        return may_decide(request, user.user_id, access, action=action)

    def deciders(self, request: PauseRequest | ChangeRequest) -> list[str]:
        """Everyone who may decide this request (its requester excluded), in allow-list order."""
        return [
            entry.user_id
            for entry in self._allow_list.entries(request.team_id)
            if decides(request, entry.user_id, Access(role=entry.role, group_name=entry.group_name))
        ]

    def admins(self, team_id: str) -> list[str]:
        return self._allow_list.admins(team_id)

    def entries(self, team_id: str) -> list[AllowListEntry]:
        """The workspace's allow-list (operators and tests; no role check)."""
        return self._allow_list.entries(team_id)

    def entries_for(self, invocation: Invocation) -> list[AllowListEntry]:
        """The allow-list, for an admin asking in Slack."""
        self.require(invocation.user, Role.ADMIN, action="users")
        return self._allow_list.entries(invocation.team_id)

    def group(self, team_id: str, name: str) -> ApproverGroup | None:
        return self._allow_list.group(team_id, name)

    # -- groups ----------------------------------------------------------------------------------

    def group_view(self, invocation: Invocation, name: str) -> GroupView | None:
        self.require(invocation.user, Role.ADMIN, action="group")
        group = self._allow_list.group(invocation.team_id, name)
        if group is None:
            return None
        members = [e for e in self._allow_list.entries(invocation.team_id) if e.group_name == name]
        return GroupView(group=group, members=members)

    def groups_view(self, invocation: Invocation) -> list[GroupView]:
        self.require(invocation.user, Role.ADMIN, action="groups")
        entries = self._allow_list.entries(invocation.team_id)
        return [
            GroupView(group=group, members=[e for e in entries if e.group_name == group.name])
            for group in self._allow_list.groups(invocation.team_id)
        ]

    def configure_group(
        self,
        invocation: Invocation,
        name: str,
        *,
        channel_id: str | Literal[Keep.GROUP] | None = KEEP_GROUP,
        approvals: int | None = None,
    ) -> ApproverGroup:
        self.require(invocation.user, Role.ADMIN, action="group")
        before, after = self._allow_list.configure_group(
            invocation.team_id, name, by=invocation.user_id, channel_id=channel_id, approvals=approvals
        )
        if before != after:
            self._audit.record(
                invocation, action="group.changed", outcome=Outcome.OK, target=name, group=name,
                details={"channel": after.channel_id, "approvals": after.approvals,
                         "previous": {"channel": before.channel_id, "approvals": before.approvals} if before else None},
            )  # fmt: skip
        return after

    # -- changes ---------------------------------------------------------------------------------

    def grant(self, invocation: Invocation, user_id: str, role: Role, group: GroupChange = KEEP_GROUP) -> RoleChange:
        self.require(invocation.user, Role.ADMIN, action="allow")
        return self._put(invocation.team_id, user_id, role, group, actor=invocation.user_id, invocation=invocation)

    def revoke(self, invocation: Invocation, user_id: str) -> RoleChange:
        self.require(invocation.user, Role.ADMIN, action="revoke")
        return self._remove(invocation.team_id, user_id, actor=invocation.user_id, invocation=invocation)

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
                None, action="allow_list.changed", outcome=Outcome.OK, target=user_id, user_id=source, team_id=team_id,
                details={"role": Role.ADMIN.value, "previous": None, "by": source, "team_id": team_id},
            )  # fmt: skip
        return added

    def set_role(
        self, team_id: str, user_id: str, role: Role, *, source: str = CLI_ACTOR, group: GroupChange = KEEP_GROUP
    ) -> RoleChange:
        """An operator's change from the command line (no Slack user behind it)."""
        return self._put(team_id, user_id, role, group, actor=source, invocation=None)

    def remove(self, team_id: str, user_id: str, *, source: str = CLI_ACTOR) -> RoleChange:
        return self._remove(team_id, user_id, actor=source, invocation=None)

    def forget(self, team_id: str, user_id: str) -> None:
        with self._cache_lock:
            self._generation += 1
            self._cache.pop((team_id, user_id), None)

    def _put(
        self, team_id: str, user_id: str, role: Role, group: GroupChange, *, actor: str, invocation: Invocation | None
    ) -> RoleChange:
        # The store refuses (LastAdmin) a change that would leave no admin.
        previous = self._allow_list.put(team_id, user_id, role, added_by=actor, group=group)
        self.forget(team_id, user_id)
        previous_group = previous.group_name if previous else None
        change = RoleChange(
            user_id=user_id,
            previous=previous.role if previous else None,
            current=role,
            previous_group=previous_group,
            group=previous_group if group is KEEP_GROUP else group,
        )
        if change.changed:
            self._audit.record(
                invocation, action="allow_list.changed", outcome=Outcome.OK, target=user_id, user_id=actor,
                group=change.group or change.previous_group, team_id=team_id,
                details={"role": role.value, "previous": change.previous.value if change.previous else None,
                         "group": change.group, "previous_group": previous_group, "by": actor, "team_id": team_id},
            )  # fmt: skip
        return change

    def _remove(self, team_id: str, user_id: str, *, actor: str, invocation: Invocation | None) -> RoleChange:
        previous = self._allow_list.remove(team_id, user_id)
        self.forget(team_id, user_id)
        change = RoleChange(
            user_id=user_id,
            previous=previous.role if previous else None,
            current=None,
            previous_group=previous.group_name if previous else None,
        )
        if previous is not None:
            self._audit.record(
                invocation, action="allow_list.changed", outcome=Outcome.OK, target=user_id, user_id=actor,
                group=previous.group_name, team_id=team_id,
                details={"role": None, "previous": previous.role.value, "group": None,
                         "previous_group": previous.group_name, "by": actor, "team_id": team_id},
            )  # fmt: skip
        return change

