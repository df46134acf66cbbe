"""The audit trail as the services see it: every command, click, decision and upstream call is written here."""

from __future__ import annotations

import logging
from typing import Any

from bot.logs import request_id_var
from bot.models import AuditEntry, AuditQuery, Invocation
from bot.redaction import SecretRedactor, redactor
from bot.store.audit import AuditStore

logger = logging.getLogger(__name__)


class AuditTrail:
    """Writes audit rows. Every service holds one; it checks nobody's role (recording is never refused)."""

    def __init__(self, *, store: AuditStore, secrets: SecretRedactor = redactor) -> None:
        self._store = store
        self._secrets = secrets

    def record(
        self,
        invocation: Invocation | None,
        *,
        action: str,
        outcome: str,
        target: str = "",
        details: str | dict[str, Any] = "",
        user_id: str | None = None,
        group: str | None = None,
    ) -> None:
        """Write one audit row. Secrets are masked first: the audit log is read by people."""
        if isinstance(details, dict):
            details = {k: self._secrets(v) if isinstance(v, str) else v for k, v in details.items()}
        else:
            details = self._secrets(details)
        self._store.record(
            action=action,
            outcome=outcome,
            # Work without an invocation (the scheduler) still runs under a request ID of its own.
            request_id=invocation.request_id if invocation else _current_request_id(),
            team_id=invocation.team_id if invocation else "",
            user_id=user_id if user_id is not None else (invocation.user_id if invocation else "system"),
            channel_id=invocation.channel_id if invocation else "",
            command=self._secrets(invocation.text) if invocation else "",
            target=target,
            details=details,
            group_name=group,
        )
        # DEBUG: the row itself is the record; listeners already log one INFO line per request.
        logger.debug("audit action=%s outcome=%s target=%s", action, outcome, target or "-")

    def log_heads(self) -> None:
        """Log each workspace's chain head, so that logs kept elsewhere can later prove the table whole."""
        for team_id, (seq, row_hash) in sorted(self._store.heads().items()):
            logger.info(
                "audit chain head %s:%s:%s (check later with: recording-bot audit --verify --head %s:%s:%s)",
                team_id, seq, row_hash, team_id, seq, row_hash,
            )  # fmt: skip

    def recent(self, limit: int) -> list[AuditEntry]:
        """The newest entries of every workspace, newest first (operators and tests; no role check)."""
        return self._store.recent(limit)

    def query(self, filters: AuditQuery) -> list[AuditEntry]:
        return self._store.query(filters)


def _current_request_id() -> str:
    request_id = request_id_var.get()
    return "" if request_id == "-" else request_id
