"""Reading the audit log back in Slack: who may, and what they see."""

from __future__ import annotations

from bot.models import AuditEntry, AuditQuery, Invocation, Role
from bot.services.allow_list import Authorizer
from bot.store.audit import AuditStore


class AuditReader:
    """The audit log as Slack users may read it: approvers and admins only."""

    def __init__(self, *, store: AuditStore, authorizer: Authorizer) -> None:
        self._store = store
        self._authorizer = authorizer

    def recent(self, invocation: Invocation, limit: int, *, breakglass_only: bool = False) -> list[AuditEntry]:
        """The newest `limit` entries of the caller's workspace, newest first (break-glass pauses alone, if asked)."""
        self._authorizer.require(invocation.user, Role.APPROVER, action="audit")
        query = AuditQuery(team_id=invocation.team_id, limit=limit, action="breakglass" if breakglass_only else None)
        return self._store.query(query, newest_first=True)
