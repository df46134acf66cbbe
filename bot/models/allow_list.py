"""Who someone is to the bot: their Slack identity, their allow-list role, and one invocation of theirs."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Role(enum.StrEnum):
    """Allow-list roles, each including the powers of the ones before it."""

    REQUESTER = "requester"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.REQUESTER: 1, Role.APPROVER: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class SlackUser:
    """A Slack identity: authorization always uses scope + user ID, never a display name.

    `team_id` is the scope the person's allow-list, groups, audit and requests are kept in: the workspace's
    team ID, or the organisation's enterprise ID on an org-wide (Enterprise Grid) install, whose user IDs
    are global across its workspaces. `workspace_id` is the workspace the person acted in ("": the scope
    itself); `enterprise_id` their organisation ("": none)."""

    team_id: str
    user_id: str
    workspace_id: str = ""
    enterprise_id: str = ""

    @property
    def workspace(self) -> str:
        """The workspace the person acted in."""
        return self.workspace_id or self.team_id

    @property
    def org_wide(self) -> bool:
        """Whether the scope is an organisation (an org-wide install) rather than one workspace."""
        return bool(self.enterprise_id) and self.team_id == self.enterprise_id


@dataclass(frozen=True)
class AllowListEntry:
    team_id: str
    user_id: str
    role: Role
    added_by: str
    added_at: datetime
    group_name: str | None = None
    # The person's workspace, where the scope is an organisation (None: not known, or the scope itself).
    workspace_id: str | None = None


@dataclass(frozen=True)
class Access:
    """A user's role and approver group (None: in no group)."""

    role: Role
    group_name: str | None = None
    # Where the scope is an organisation: the workspace the person last used the bot from (None: not yet).
    workspace_id: str | None = None


@dataclass(frozen=True)
class ApproverGroup:
    """An approver group: where its requests' cards go and how many approvals they need."""

    team_id: str
    name: str
    channel_id: str | None = None
    approvals: int = 1


@dataclass(frozen=True)
class Invocation:
    """Who asked for something, where, and the request ID that ties logs, audit rows and upstream calls."""

    user: SlackUser
    channel_id: str
    request_id: str
    text: str = ""

    @property
    def team_id(self) -> str:
        return self.user.team_id

    @property
    def user_id(self) -> str:
        return self.user.user_id
