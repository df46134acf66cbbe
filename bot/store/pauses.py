"""The pause_requests table: every request, its decision and its pause window, changed only atomically.

Also request_approvals (one row per approver and request) and request_notices (one row per message that
must go out once), which belong to a request's lifecycle.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.models import (
    OPEN_STATES,
    Access,
    Approval,
    Channels,
    PauseRequest,
    RecordingTarget,
    RequestKind,
    RequestState,
    Role,
    SameCall,
    TargetKind,
)
from bot.store.database import Database, Row, Statements, moment_text, placeholders

_COLUMNS = (
    "id, team_id, channel_id, requester_id, target_kind, target, channels, duration_seconds, reason, state, "
    "created_at, expires_at, decided_by, decided_at, paused_at, resume_at, resumed_at, resumed_by, message_ts, "
    "error, attempts, resume_attempts, warning, claimed_by, kind, group_name, approvals_needed, approvals, "
    "card_channel_id, extends_id, cancelled_by, remind_at, reminded_at, target_user_id, line_id, same_call, "
    "pause_requester_id"
)

# Columns a state change may set besides `state` (guards against typos reaching SQL).
_SETTABLE = frozenset(
    {
        "decided_by", "decided_at", "paused_at", "resume_at", "resumed_at", "resumed_by", "message_ts",
        "error", "warning", "claimed_by", "expires_at", "cancelled_by", "remind_at", "reminded_at",
        "duration_seconds", "same_call", "resume_owed_since",
    }
)  # fmt: skip

_OPEN = sorted(state.value for state in OPEN_STATES)
_OPEN_EXTENSION = sorted((RequestState.PENDING.value, RequestState.APPROVED.value))


class ApprovalResult(enum.Enum):
    """What one approval did: counted and waiting for more, decided the request, or nothing."""

    COUNTED = "counted"
    APPROVED = "approved"
    ALREADY_APPROVED_BY_THEM = "already approved by them"
    NOT_PENDING = "not pending"
    # Its requester is no longer on the allow-list: withdrawn (cancelled by the system), never carried out.
    WITHDRAWN = "withdrawn"


# Whether a stored vote still counts: (the request, the voter, their allow-list access or None if unlisted).
VoteCheck = Callable[[PauseRequest, str, Access | None], bool]


@dataclass(frozen=True)
class Approved:
    result: ApprovalResult
    request: PauseRequest


class PauseRequestStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def create(
        self,
        *,
        team_id: str,
        channel_id: str,
        requester_id: str,
        target: RecordingTarget,
        channels: Channels,
        duration_seconds: int,
        reason: str,
        created_at: datetime,
        expires_at: datetime,
        warning: str | None = None,
        kind: RequestKind = RequestKind.PAUSE,
        group_name: str | None = None,
        approvals_needed: int = 1,
        card_channel_id: str | None = None,
        extends_id: int | None = None,
        state: RequestState = RequestState.PENDING,
        decided_by: str | None = None,
        claimed_by: str | None = None,
        target_user_id: str | None = None,
        line_id: str | None = None,
        same_call: tuple[SameCall, ...] = (),
        pause_requester_id: str | None = None,
    ) -> PauseRequest | None:
        """Insert a request, unless its target (or the Webex line it names) already has an open one (a pause)
        or its pause already has an open extension (then None).

        Unique indexes on the open requests decide: of two people asking at once for the same extension, or
        for an extension and a number of its line, on one instance or two, exactly one gets a request.
        """
        row = self._database.one(
            "INSERT INTO pause_requests (team_id, channel_id, requester_id, target_kind, target, channels, "
            "duration_seconds, reason, state, created_at, expires_at, updated_at, attempts, resume_attempts, "
            "warning, kind, group_name, approvals_needed, approvals, card_channel_id, extends_id, decided_by, "
            "decided_at, claimed_by, target_user_id, line_id, same_call, pause_requester_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
            [
                team_id, channel_id, requester_id, target.kind.value, target.value, channels.value,
                duration_seconds, reason, state.value, _text(created_at), _text(expires_at), _text(created_at),
                warning, kind.value, group_name, approvals_needed, card_channel_id, extends_id, decided_by,
                _text(created_at) if decided_by else None, claimed_by, target_user_id, line_id,
                same_call_json(same_call), pause_requester_id,
            ],
        )  # fmt: skip
        return _request(row) if row else None

    def get(self, request_id: int) -> PauseRequest | None:
        row = self._database.one(f"SELECT {_COLUMNS} FROM pause_requests WHERE id = ?", [request_id])
        return _request(row) if row else None

    def transition(
        self,
        request_id: int,
        *,
        from_states: Iterable[RequestState],
        to_state: RequestState,
        now: datetime,
        count_attempt: bool = False,
        count_resume_attempt: bool = False,
        expect_claim: str | None = None,
        **fields: Any,
    ) -> PauseRequest | None:
        """Move a request to `to_state` only if it is in one of `from_states` (and, with `expect_claim`, still
        claimed by that instance): one UPDATE, so exactly one of several racing callers wins. Returns the
        updated request for the winner, None for the others."""
        unknown = set(fields) - _SETTABLE
        if unknown:
            raise ValueError(f"not settable: {sorted(unknown)}")
        sources = [s.value for s in from_states]
        assignments = ["state = ?", "updated_at = ?"]
        params: list[Any] = [to_state.value, _text(now)]
        for name, value in fields.items():
            assignments.append(f"{name} = ?")
            params.append(_text(value) if isinstance(value, datetime) else value)
        if count_attempt:
            assignments.append("attempts = attempts + 1")
        if count_resume_attempt:
            assignments.append("resume_attempts = resume_attempts + 1")
        condition = f"id = ? AND state IN ({placeholders(sources)})"
        conditions: list[Any] = [request_id, *sources]
        if expect_claim is not None:
            condition += " AND COALESCE(claimed_by, '') = ?"
            conditions.append(expect_claim)
        row = self._database.one(
            f"UPDATE pause_requests SET {', '.join(assignments)} WHERE {condition} RETURNING {_COLUMNS}",
            [*params, *conditions],
        )
        return _request(row) if row else None

    def update_fields(self, request_id: int, **fields: Any) -> PauseRequest | None:
        """Set bookkeeping fields (the card's timestamp) without a state change; the request as it is now."""
        unknown = set(fields) - _SETTABLE
        if unknown or not fields:
            raise ValueError(f"not settable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [_text(v) if isinstance(v, datetime) else v for v in fields.values()]
        row = self._database.one(
            f"UPDATE pause_requests SET {assignments} WHERE id = ? RETURNING {_COLUMNS}", [*values, request_id]
        )
        return _request(row) if row else None

    # -- resumes owed ----------------------------------------------------------------------------

    def owe_resume(self, request_id: int, since: datetime) -> None:
        """A resume sent to be safe was not taken: it is owed (kept as first owed) until `resume_paid`."""
        self._database.run(
            "UPDATE pause_requests SET resume_owed_since = COALESCE(resume_owed_since, ?) WHERE id = ?",
            [_text(since), request_id],
        )

    def resume_paid(self, request_id: int) -> None:
        self._database.run("UPDATE pause_requests SET resume_owed_since = NULL WHERE id = ?", [request_id])

    def owed_resumes(self) -> list[PauseRequest]:
        """The requests whose resume, sent to be safe, the recording system has not yet taken."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE resume_owed_since IS NOT NULL ORDER BY id"
        )
        return [_request(row) for row in rows]

    # -- approvals -------------------------------------------------------------------------------

    def approve(
        self, request_id: int, *, approver_id: str, now: datetime, claimed_by: str, counts: VoteCheck,
        withdrawn_by: str, withdrawn_note: str, claim: bool = False,
    ) -> Approved:  # fmt: skip
        """Count one approver's approval; when it is the last one needed, decide the request (pending →
        approved). One transaction under the request's lock, so racing approvals are counted in turn and
        exactly one of them decides.

        When the count would complete, every stored vote is checked again with `counts` (given the request
        and the voter's role and group as the allow-list holds them in this same transaction): a vote of
        someone who may no longer decide is kept as dropped, not counted, and the request waits for another.
        A dropped voter's new click checks their vote again. A request whose requester is no longer on the
        allow-list is withdrawn instead (cancelled by `withdrawn_by`, `withdrawn_note` as its error).

        `claim`: the deciding approval also claims the request for its call upstream (approved → executing, an
        attempt counted, in the same UPDATE): one write before the MuteRecording instead of two."""
        with self._database.transaction() as tx:
            tx.lock(f"request:{request_id}")
            row = tx.one(f"SELECT {_COLUMNS} FROM pause_requests WHERE id = ?", [request_id])
            if row is None:
                raise LookupError(request_id)
            current = _request(row)
            if current.state is not RequestState.PENDING:
                return Approved(ApprovalResult.NOT_PENDING, current)
            if not _accesses_in(tx, current.team_id, [current.requester_id]):
                withdrawn = tx.one(
                    "UPDATE pause_requests SET state = ?, updated_at = ?, cancelled_by = ?, error = ? "
                    f"WHERE id = ? AND state = ? RETURNING {_COLUMNS}",
                    [RequestState.CANCELLED.value, _text(now), withdrawn_by, withdrawn_note, request_id,
                     RequestState.PENDING.value],
                )  # fmt: skip
                assert withdrawn is not None
                return Approved(ApprovalResult.WITHDRAWN, _request(withdrawn))
            added = tx.run(
                "INSERT INTO request_approvals (request_id, approver_id, approved_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [request_id, approver_id, _text(now)],
            )
            dropped_before = {a.approver_id for a in current.dropped_approvals}
            if not added and approver_id not in dropped_before:
                return Approved(ApprovalResult.ALREADY_APPROVED_BY_THEM, current)
            votes = _approvals_in(tx, request_id)
            if len(votes) < current.approvals_needed:
                counted = [v for v in votes if v.approver_id not in dropped_before]
                dropped = [v for v in votes if v.approver_id in dropped_before]
            else:
                access = _accesses_in(tx, current.team_id, [v.approver_id for v in votes])
                counted = [v for v in votes if counts(current, v.approver_id, access.get(v.approver_id))]
                dropped = [v for v in votes if v not in counted]
            if len(counted) >= current.approvals_needed:
                state = RequestState.EXECUTING if claim else RequestState.APPROVED
                claiming = ", attempts = attempts + 1, error = NULL" if claim else ""
                decided = tx.one(
                    "UPDATE pause_requests SET state = ?, updated_at = ?, decided_by = ?, decided_at = ?, "
                    f"claimed_by = ?, approvals = ?{claiming} WHERE id = ? AND state = ? RETURNING {_COLUMNS}",
                    [
                        state.value, _text(now), approver_id, _text(now), claimed_by,
                        _approvals_json(counted, dropped), request_id, RequestState.PENDING.value,
                    ],
                )  # fmt: skip
                assert decided is not None
                return Approved(ApprovalResult.APPROVED, _request(decided))
            waiting = tx.one(
                f"UPDATE pause_requests SET approvals = ?, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}",
                [_approvals_json(counted, dropped), _text(now), request_id],
            )
            assert waiting is not None
            return Approved(ApprovalResult.COUNTED, _request(waiting))

    # -- notices ---------------------------------------------------------------------------------

    def claim_notice(self, request_id: int, kind: str, user_id: str, now: datetime) -> bool:
        """True the first time this message is claimed (on any instance); False ever after."""
        return (
            self._database.run(
                "INSERT INTO request_notices (request_id, kind, user_id, sent_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [request_id, kind, user_id, _text(now)],
            )
            > 0
        )

    # -- reading ---------------------------------------------------------------------------------

    def in_states(
        self, states: Iterable[RequestState], *, team_id: str | None = None, kinds: Iterable[RequestKind] | None = None
    ) -> list[PauseRequest]:
        values = [s.value for s in states]
        sql = f"SELECT {_COLUMNS} FROM pause_requests WHERE state IN ({placeholders(values)})"
        params: list[Any] = list(values)
        if team_id is not None:
            sql += " AND team_id = ?"
            params.append(team_id)
        if kinds is not None:
            kind_values = [k.value for k in kinds]
            sql += f" AND COALESCE(kind, 'pause') IN ({placeholders(kind_values)})"
            params.extend(kind_values)
        return [_request(row) for row in self._database.all(sql + " ORDER BY id", params)]

    def of_unlisted_requesters(self) -> list[PauseRequest]:
        """Pending and failed requests (of every workspace) whose requester is no longer on the allow-list."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state IN (?, ?) AND NOT EXISTS (SELECT 1 FROM allow_list "
            "WHERE allow_list.team_id = pause_requests.team_id AND allow_list.user_id = pause_requests.requester_id) "
            "ORDER BY id",
            [RequestState.PENDING.value, RequestState.FAILED.value],
        )
        return [_request(row) for row in rows]

    def recent_of(self, team_id: str, requester_id: str, limit: int) -> list[PauseRequest]:
        """A requester's newest requests, newest first."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE team_id = ? AND requester_id = ? ORDER BY id DESC LIMIT ?",
            [team_id, requester_id, limit],
        )
        return [_request(row) for row in rows]

    def due_for_expiry(self, now: datetime) -> list[PauseRequest]:
        """Undecided requests past their deadline, and failed ones nobody retried in time."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state IN (?, ?) AND expires_at <= ? ORDER BY id",
            [RequestState.PENDING.value, RequestState.FAILED.value, _text(now)],
        )
        return [_request(row) for row in rows]

    def due_for_reminder(self, now: datetime) -> list[PauseRequest]:
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state = ? AND remind_at <= ? AND reminded_at IS NULL "
            "ORDER BY remind_at",
            [RequestState.ACTIVE.value, _text(now)],
        )
        return [_request(row) for row in rows]

    def claim_reminder(self, request_id: int, now: datetime) -> PauseRequest | None:
        """Mark the reminder sent; only the first caller (on any instance) gets the request back."""
        row = self._database.one(
            f"UPDATE pause_requests SET reminded_at = ? WHERE id = ? AND state = ? AND reminded_at IS NULL "
            f"RETURNING {_COLUMNS}",
            [_text(now), request_id, RequestState.ACTIVE.value],
        )
        return _request(row) if row else None

    def extend(self, pause_id: int, *, from_resume_at: datetime, to_resume_at: datetime, remind_at: datetime,
               added_seconds: int, now: datetime) -> PauseRequest | None:  # fmt: skip
        """Move an active pause's automatic resume later, if it is still active and still ends when it did."""
        row = self._database.one(
            "UPDATE pause_requests SET resume_at = ?, duration_seconds = duration_seconds + ?, remind_at = ?, "
            "reminded_at = NULL, updated_at = ? WHERE id = ? AND state = ? AND resume_at = ? "
            f"RETURNING {_COLUMNS}",
            [
                _text(to_resume_at), added_seconds, _text(remind_at), _text(now), pause_id,
                RequestState.ACTIVE.value, _text(from_resume_at),
            ],
        )  # fmt: skip
        return _request(row) if row else None

    def open_extensions_of(self, pause_id: int) -> list[PauseRequest]:
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE kind = ? AND extends_id = ? AND state IN "
            f"({placeholders(_OPEN_EXTENSION)}) ORDER BY id",
            [RequestKind.EXTENSION.value, pause_id, *_OPEN_EXTENSION],
        )
        return [_request(row) for row in rows]

    def next_due(self) -> datetime | None:
        """The earliest moment the scheduler has something to do (an expiry, a resume or a reminder)."""
        row = self._database.one(
            "SELECT min(due) AS due FROM ("
            "SELECT min(expires_at) AS due FROM pause_requests WHERE state IN (?, ?) "
            "UNION ALL SELECT min(resume_at) AS due FROM pause_requests WHERE state = ? "
            "UNION ALL SELECT min(remind_at) AS due FROM pause_requests WHERE state = ? AND reminded_at IS NULL"
            ") AS deadlines",
            [RequestState.PENDING.value, RequestState.FAILED.value, RequestState.ACTIVE.value,
             RequestState.ACTIVE.value],
        )  # fmt: skip
        return datetime.fromisoformat(row["due"]) if row and row["due"] else None

    def orphaned(self, states: Iterable[RequestState], *, live_instances: list[str]) -> list[PauseRequest]:
        """Requests in these (in-flight) states whose claiming instance is not among the live ones."""
        values = [s.value for s in states]
        live = live_instances or ["(no live instance)"]
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE state IN ({placeholders(values)}) "
            f"AND COALESCE(claimed_by, '') NOT IN ({placeholders(live)}) ORDER BY id",
            [*values, *live],
        )
        return [_request(row) for row in rows]

    def open_naming(self, targets: Iterable[str], line_ids: Iterable[str]) -> list[PauseRequest]:
        """Open pauses (not extensions) of every workspace whose target is one of `targets` or that name one
        of the Webex lines `line_ids`: the requests that may act on the same recording."""
        names, lines = sorted(set(targets)), sorted(set(line_ids))
        matches = [f"target IN ({placeholders(names)})"] if names else []
        if lines:
            matches.append(f"line_id IN ({placeholders(lines)})")
        if not matches:
            return []
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE ({' OR '.join(matches)}) AND state IN "
            f"({placeholders(_OPEN)}) AND COALESCE(kind, 'pause') <> ? ORDER BY id",
            [*names, *lines, *_OPEN, RequestKind.EXTENSION.value],
        )
        return [_request(row) for row in rows]

    def open_for_target(self, team_id: str, target: str) -> list[PauseRequest]:
        """Open pauses (not extensions) on this target."""
        rows = self._database.all(
            f"SELECT {_COLUMNS} FROM pause_requests WHERE team_id = ? AND target = ? AND state IN "
            f"({placeholders(_OPEN)}) AND COALESCE(kind, 'pause') <> ? ORDER BY id",
            [team_id, target, *_OPEN, RequestKind.EXTENSION.value],
        )
        return [_request(row) for row in rows]

    def touching(self, start: datetime, end: datetime) -> list[tuple[PauseRequest, datetime | None]]:
        """Requests that did something between `start` and `end` (made, decided, changed, or paused then),
        each with when it last changed: what the daily digest reads."""
        rows = self._database.all(
            f"SELECT {_COLUMNS}, updated_at FROM pause_requests WHERE created_at < ? AND (created_at >= ? "
            "OR updated_at >= ? OR decided_at >= ? OR resumed_at >= ? "
            "OR (paused_at IS NOT NULL AND resumed_at IS NULL AND state IN (?, ?))) ORDER BY id",
            [_text(end), _text(start), _text(start), _text(start), _text(start),
             RequestState.ACTIVE.value, RequestState.RESUMING.value],
        )  # fmt: skip
        return [(_request(row), _moment(row["updated_at"])) for row in rows]


_text = moment_text


def _approvals_in(tx: Statements, request_id: int) -> list[Approval]:
    rows = tx.all(
        "SELECT approver_id, approved_at FROM request_approvals WHERE request_id = ? ORDER BY approved_at, approver_id",
        [request_id],
    )
    return [Approval(approver_id=row["approver_id"], at=datetime.fromisoformat(row["approved_at"])) for row in rows]


def _accesses_in(tx: Statements, team_id: str, user_ids: list[str]) -> dict[str, Access]:
    """The allow-list's word on these people, read in the approval's own transaction (absent: not listed)."""
    if not user_ids:
        return {}
    rows = tx.all(
        f"SELECT user_id, role, group_name FROM allow_list WHERE team_id = ? AND user_id IN ({placeholders(user_ids)})",
        [team_id, *user_ids],
    )
    return {row["user_id"]: Access(role=Role(row["role"]), group_name=row["group_name"]) for row in rows}


def _approvals_json(counted: list[Approval], dropped: list[Approval]) -> str:
    items: list[dict[str, Any]] = [{"by": a.approver_id, "at": _text(a.at)} for a in counted]
    items += [{"by": a.approver_id, "at": _text(a.at), "dropped": True} for a in dropped]
    return json.dumps(items)


def _parse_approvals(text: str | None, *, dropped: bool = False) -> tuple[Approval, ...]:
    """The counted votes (or, `dropped`, the votes that no longer count) of the `approvals` column."""
    if not text:
        return ()
    return tuple(
        Approval(approver_id=item["by"], at=datetime.fromisoformat(item["at"]))
        for item in json.loads(text)
        if bool(item.get("dropped", False)) is dropped
    )


def same_call_json(same_call: Iterable[SameCall]) -> str | None:
    """The `same_call` column's text (None for none), also for `update_fields`."""
    items = [{"target": s.target, "request": s.request_id, "certain": s.certain} for s in same_call]
    return json.dumps(items) if items else None


def _parse_same_call(text: str | None) -> tuple[SameCall, ...]:
    if not text:
        return ()
    return tuple(
        SameCall(target=str(item["target"]), request_id=item.get("request"), certain=bool(item.get("certain", True)))
        for item in json.loads(text)
    )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _request(row: Row) -> PauseRequest:
    return PauseRequest(
        id=int(row["id"]),
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        requester_id=row["requester_id"],
        target=RecordingTarget(TargetKind(row["target_kind"]), row["target"]),
        channels=Channels(row["channels"]),
        duration_seconds=int(row["duration_seconds"]),
        reason=row["reason"],
        state=RequestState(row["state"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        decided_by=row["decided_by"],
        decided_at=_moment(row["decided_at"]),
        paused_at=_moment(row["paused_at"]),
        resume_at=_moment(row["resume_at"]),
        resumed_at=_moment(row["resumed_at"]),
        resumed_by=row["resumed_by"],
        message_ts=row["message_ts"],
        error=row["error"],
        attempts=int(row["attempts"] or 0),
        resume_attempts=int(row["resume_attempts"] or 0),
        warning=row["warning"],
        claimed_by=row["claimed_by"],
        kind=RequestKind(row["kind"] or RequestKind.PAUSE.value),
        group_name=row["group_name"],
        approvals_needed=int(row["approvals_needed"] or 1),
        approvals=_parse_approvals(row["approvals"]),
        dropped_approvals=_parse_approvals(row["approvals"], dropped=True),
        card_channel_id=row["card_channel_id"],
        extends_id=int(row["extends_id"]) if row["extends_id"] is not None else None,
        cancelled_by=row["cancelled_by"],
        remind_at=_moment(row["remind_at"]),
        reminded_at=_moment(row["reminded_at"]),
        target_user_id=row["target_user_id"],
        line_id=row["line_id"],
        same_call=_parse_same_call(row["same_call"]),
        pause_requester_id=row["pause_requester_id"],
    )
