"""The schema, as ordered named migrations applied when the database is opened."""

from __future__ import annotations

import sqlite_utils

migrations = sqlite_utils.Migrations("recording_bot")


@migrations()
def m001_allow_list_and_audit(db: sqlite_utils.Database) -> None:
    db.table("allow_list").create(
        {
            "team_id": str,
            "user_id": str,
            "role": str,
            "added_by": str,
            "added_at": str,
        },
        pk=("team_id", "user_id"),
    )
    db.table("audit").create(
        {
            "id": int,
            "at": str,
            "request_id": str,
            "team_id": str,
            "user_id": str,
            "channel_id": str,
            "action": str,
            "command": str,
            "target": str,
            "outcome": str,
            "details": str,
        },
        pk="id",
    )
    db.table("audit").create_index(["at"])
    db.table("audit").create_index(["user_id"])
    db.table("audit").create_index(["target"])


@migrations()
def m002_pause_requests(db: sqlite_utils.Database) -> None:
    db.table("pause_requests").create(
        {
            "id": int,
            "team_id": str,
            "channel_id": str,
            "requester_id": str,
            "target_kind": str,
            "target": str,
            "channels": str,
            "duration_seconds": int,
            "reason": str,
            "state": str,
            "created_at": str,
            "expires_at": str,
            "decided_by": str,
            "decided_at": str,
            "paused_at": str,
            "resume_at": str,
            "resumed_at": str,
            "resumed_by": str,
            "message_ts": str,
            "error": str,
            "attempts": int,
            "resume_attempts": int,
            "warning": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"team_id", "channel_id", "requester_id", "target", "state", "created_at"},
        defaults={"attempts": 0, "resume_attempts": 0},
    )
    db.table("pause_requests").create_index(["state", "expires_at"])
    db.table("pause_requests").create_index(["state", "resume_at"])
    db.table("pause_requests").create_index(["target", "state"])


@migrations()
def m003_webex_tokens(db: sqlite_utils.Database) -> None:
    db.table("webex_tokens").create(
        {"id": int, "access_token": str, "refresh_token": str, "expires_at": str, "updated_at": str},
        pk="id",
    )
