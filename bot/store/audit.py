"""The audit table: one row per command, click, decision, state change and upstream call. Rows are only added.

Each row carries a hash chain per workspace: `chain_seq` counts the workspace's rows (1, 2, 3 …),
`prev_hash` is the previous row's `row_hash`, and `row_hash` is SHA-256 over the sequence number, the
previous hash and the row's content. A row changed, inserted or deleted afterwards breaks the chain at that
point, and `verify_chain` says where.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bot.models import AuditEntry, AuditQuery, ChainProblem, ChainReport, ChainVerification
from bot.store.database import Database, Row

_COLUMNS = "id, at, request_id, team_id, user_id, channel_id, action, command, target, outcome, details"
_CONTENT = ("at", "request_id", "team_id", "user_id", "channel_id", "action", "command", "target", "outcome", "details")
GENESIS_HASH = "0" * 64
_PAGE = 2000


def chain_hash(seq: int, prev_hash: str, content: dict[str, Any]) -> str:
    """The row hash: SHA-256 over the sequence number, the previous hash and the content, as compact JSON.
    The group joins the content only when there is one, so rows written before groups existed still verify."""
    payload = [seq, prev_hash, *(content.get(name) or "" for name in _CONTENT)]
    if content.get("group_name"):
        payload.append(content["group_name"])
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


class AuditStore:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    def record(
        self,
        *,
        action: str,
        outcome: str,
        request_id: str = "",
        team_id: str = "",
        user_id: str = "",
        channel_id: str = "",
        command: str = "",
        target: str = "",
        details: str | dict[str, Any] = "",
        group_name: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """Append one row to its workspace's chain. `at`: when it happened, if it is written late."""
        content: dict[str, Any] = {
            "at": (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "team_id": team_id,
            "user_id": user_id,
            "channel_id": channel_id,
            "action": action,
            "command": command,
            "target": target,
            "outcome": outcome,
            "details": details if isinstance(details, str) else json.dumps(details, sort_keys=True, default=str),
            "group_name": group_name or None,
        }
        # The workspace's chain grows by one link at a time, on every instance: its writers take turns.
        with self._database.transaction() as tx:
            tx.lock(f"audit-chain:{team_id}")
            last = tx.one(
                "SELECT chain_seq, row_hash FROM audit WHERE team_id = ? AND chain_seq IS NOT NULL "
                "ORDER BY chain_seq DESC LIMIT 1",
                [team_id],
            )
            seq = int(last["chain_seq"]) + 1 if last else 1
            prev_hash = str(last["row_hash"]) if last else GENESIS_HASH
            row = tx.one(
                f"INSERT INTO audit ({', '.join(_CONTENT)}, group_name, chain_seq, prev_hash, row_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [
                    *(content[name] for name in _CONTENT), content["group_name"], seq, prev_hash,
                    chain_hash(seq, prev_hash, content),
                ],
            )  # fmt: skip
        return int(row["id"]) if row else 0

    def recent(self, limit: int) -> list[AuditEntry]:
        """The newest `limit` entries, newest first."""
        return self.query(AuditQuery(limit=limit), newest_first=True)

    def query(self, filters: AuditQuery, *, newest_first: bool = False) -> list[AuditEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.since is not None:
            clauses.append("at >= ?")
            params.append(_utc_text(filters.since))
        if filters.until is not None:
            clauses.append("at < ?")
            params.append(_utc_text(filters.until))
        if filters.team_id is not None:
            # Even "" (the bot's own rows) filters: a workspace scope must never widen to every workspace.
            clauses.append("team_id = ?")
            params.append(filters.team_id)
        for column, value in (
            ("user_id", filters.user_id), ("target", filters.target), ("group_name", filters.group_name),
            ("action", filters.action),
        ):  # fmt: skip
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT {_COLUMNS} FROM audit"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if filters.limit is not None:
            sql += " LIMIT ?"
            params.append(filters.limit)
        return [_entry(row) for row in self._database.all(sql, params)]

    def count(self) -> int:
        row = self._database.one("SELECT count(*) AS n FROM audit")
        return int(row["n"]) if row else 0

    # -- the chain -------------------------------------------------------------------------------

    def verify_chain(self) -> ChainReport:
        """Walk every workspace's chain in order; report the first row that was changed, inserted or deleted."""
        checked = 0
        unchained = 0
        heads: dict[str, tuple[int, str]] = {}
        problems: list[ChainProblem] = []
        teams = [str(r["team_id"] or "") for r in self._database.all("SELECT DISTINCT team_id FROM audit")]
        for team_id in sorted(teams):
            first = self._database.one(
                "SELECT min(id) AS first_id FROM audit WHERE team_id = ? AND chain_seq IS NOT NULL", [team_id]
            )
            first_chained = int(first["first_id"]) if first and first["first_id"] is not None else None
            loose = self._database.all(
                "SELECT id FROM audit WHERE team_id = ? AND chain_seq IS NULL ORDER BY id", [team_id]
            )
            for row in loose:
                if first_chained is not None and int(row["id"]) > first_chained:
                    problems.append(
                        ChainProblem(team_id, int(row["id"]), "inserted", "a row without a hash among chained rows")
                    )
                    break
                unchained += 1
            team_checked, problem, head = self._walk(team_id)
            checked += team_checked
            if problem is not None:
                problems.append(problem)
            if head is not None:
                heads[team_id] = head
        first_problem = min(problems, key=lambda p: p.audit_id) if problems else None
        return ChainReport(rows_checked=checked, unchained_rows=unchained, problem=first_problem, heads=heads)

    def _walk(self, team_id: str) -> tuple[int, ChainProblem | None, tuple[int, str] | None]:
        expected_seq, prev_hash, prev_id = 1, GENESIS_HASH, 0
        checked = 0
        for row in self._chained_rows(team_id):
            checked += 1
            seq, row_id = int(row["chain_seq"]), int(row["id"])
            if seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
                return checked, ChainProblem(
                    team_id, row_id, "deleted", f"row(s) {missing} of the chain are missing before this one"
                ), None
            if seq < expected_seq or row["prev_hash"] != prev_hash:
                return checked, ChainProblem(
                    team_id, row_id, "inserted",
                    f"this row does not follow row {prev_id}: a row was inserted, deleted or changed here",
                ), None  # fmt: skip
            if chain_hash(seq, prev_hash, row) != row["row_hash"]:
                return checked, ChainProblem(team_id, row_id, "changed", "its content no longer matches its hash"), None
            expected_seq, prev_hash, prev_id = seq + 1, str(row["row_hash"]), row_id
        head = (expected_seq - 1, prev_hash) if checked else None
        return checked, None, head

    def _chained_rows(self, team_id: str) -> Iterator[Row]:
        after = 0
        while True:
            page = self._database.all(
                f"SELECT {_COLUMNS}, group_name, chain_seq, prev_hash, row_hash FROM audit WHERE team_id = ? "
                "AND chain_seq IS NOT NULL AND chain_seq > ? ORDER BY chain_seq LIMIT ?",
                [team_id, after, _PAGE],
            )
            yield from page
            if len(page) < _PAGE:
                return
            after = int(page[-1]["chain_seq"])

    def record_verification(self, report: ChainReport, *, at: datetime, lost_heads: list[str] | None = None) -> None:
        """Keep the outcome of a verification run (`lost_heads`: kept heads the chain no longer holds)."""
        problem = report.problem
        found = f"audit row {problem.audit_id} was {problem.kind}: {problem.description}" if problem else ""
        if lost_heads and not found:
            found = f"the kept head {lost_heads[0]} is no longer in the chain: the table was rewritten"
        self._database.run(
            "INSERT INTO audit_verifications (at, rows_checked, intact, first_problem, head) VALUES (?, ?, ?, ?, ?)",
            [
                at.astimezone(UTC).isoformat(timespec="seconds"),
                report.rows_checked,
                0 if found else 1,
                found,
                json.dumps(report.heads, sort_keys=True),
            ],
        )

    def last_verification(self) -> ChainVerification | None:
        row = self._database.one(
            "SELECT at, rows_checked, intact, first_problem FROM audit_verifications ORDER BY id DESC LIMIT 1"
        )
        if row is None:
            return None
        return ChainVerification(
            at=datetime.fromisoformat(row["at"]),
            rows_checked=int(row["rows_checked"]),
            intact=bool(row["intact"]),
            first_problem=row["first_problem"] or "",
        )

    def has_link(self, team_id: str, seq: int, row_hash: str) -> bool:
        """Whether the workspace's chain holds this link (a head kept elsewhere earlier)."""
        row = self._database.one(
            "SELECT 1 AS found FROM audit WHERE team_id = ? AND chain_seq = ? AND row_hash = ?",
            [team_id, seq, row_hash],
        )
        return row is not None

    def heads(self) -> dict[str, tuple[int, str]]:
        """Each workspace's newest link: its sequence number and hash."""
        rows = self._database.all(
            "SELECT a.team_id, a.chain_seq, a.row_hash FROM audit a JOIN (SELECT team_id, max(chain_seq) AS seq "
            "FROM audit WHERE chain_seq IS NOT NULL GROUP BY team_id) newest "
            "ON a.team_id = newest.team_id AND a.chain_seq = newest.seq"
        )
        return {str(r["team_id"] or ""): (int(r["chain_seq"]), str(r["row_hash"])) for r in rows}


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=datetime.fromisoformat(row["at"]),
        request_id=row["request_id"] or "",
        team_id=row["team_id"] or "",
        user_id=row["user_id"] or "",
        channel_id=row["channel_id"] or "",
        action=row["action"] or "",
        command=row["command"] or "",
        target=row["target"] or "",
        outcome=row["outcome"] or "",
        details=row["details"] or "",
    )


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
