"""The audit table: one row per command, click, decision, state change and upstream call. Rows are only added.

Every row is covered by a hash chain per workspace: `chain_seq` counts the workspace's rows (1, 2, 3 …),
`prev_hash` is the previous row's `row_hash`, and `row_hash` is SHA-256 over the row's id (its place in the
log, which orders every export), its sequence number, the previous hash and its content, each value as stored
(a NULL is not an empty text). A row changed, inserted, deleted or re-numbered afterwards breaks the chain at
that point, and `verify_chain` says where.

Rows written before the chain began (by versions without it) carry no hash. They are fixed when the chain
begins: the first chained row, of whatever workspace, also keeps their number and a SHA-256 over all of them
(`before_rows`, `before_hash`), and its own hash covers both. From then on a row without a hash is either one
of those, and their number and hash still match, or a forgery. A chained row of no workspace (team NULL) is
one the bot never writes, and is reported too.

Databases whose chain began under the previous hash (no id, NULL read as '') are re-anchored by the migration
`m009_audit_chain_covers_every_row` (`upgrade_chain`): it walks each workspace's chain the previous way and
rehashes the new way only the rows that still verified; the first row that did not, and every row after it,
keep their old hashes, so that a tampering made before the upgrade is still reported after it. It fixes the
rows older than the chain in the first chained row only if they passed the previous check too (none after
the chain began, none of an id the database never gives); otherwise they stay unfixed and are reported.
Rehashing rather than starting a new segment keeps every row individually checked and named when it fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.models import Anchor, AnchorProblem, AuditEntry, AuditQuery, ChainProblem, ChainReport, ChainVerification
from bot.store.database import Database, Params, Row, Statements

_COLUMNS = "id, at, request_id, team_id, user_id, channel_id, action, command, target, outcome, details"
_CONTENT = ("at", "request_id", "team_id", "user_id", "channel_id", "action", "command", "target", "outcome", "details")
_CHAINED = f"{_COLUMNS}, group_name, chain_seq, prev_hash, row_hash, before_rows, before_hash"
GENESIS_HASH = "0" * 64
_PAGE = 2000
# Taken by a writer that may be about to begin the chain, so that only one row fixes the older rows.
_START_LOCK = "audit-chain-start"


class _Reads(Protocol):
    """The database itself or one transaction on it: whichever the rows are read through."""

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...


def chain_hash(row_id: int, seq: int, prev_hash: str, row: Row | dict[str, Any]) -> str:
    """The row hash: SHA-256 over the id, the sequence number, the previous hash, the content as stored
    (None stays null) and, for the chain's first row, what it fixes of the rows before the chain."""
    payload = [
        "v2", row_id, seq, prev_hash, *(row.get(name) for name in _CONTENT), row.get("group_name"),
        row.get("before_rows"), row.get("before_hash"),
    ]  # fmt: skip
    return _digest(payload)


def previous_chain_hash(seq: int, prev_hash: str, row: Row | dict[str, Any]) -> str:
    """The hash the previous schema kept (no id; NULL read as ''), for re-anchoring its chains."""
    payload = [seq, prev_hash, *(row.get(name) or "" for name in _CONTENT)]
    if row.get("group_name"):
        payload.append(row["group_name"])
    return _digest(payload)


def _digest(payload: list[Any]) -> str:
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _older_rows(statements: _Reads) -> Iterator[Row]:
    """The rows without a hash, in id order."""
    after: int | None = None
    while True:
        page = statements.all(
            f"SELECT {_COLUMNS}, group_name FROM audit WHERE chain_seq IS NULL"
            + (" AND id > ?" if after is not None else "")
            + " ORDER BY id LIMIT ?",
            [after, _PAGE] if after is not None else [_PAGE],
        )
        yield from page
        if len(page) < _PAGE:
            return
        after = int(page[-1]["id"])


def _older_line(row: Row) -> bytes:
    values = [int(row["id"]), *(row[name] for name in _CONTENT), row["group_name"]]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _fingerprint(rows: Iterator[Row]) -> tuple[int, str]:
    """How many rows, and one SHA-256 over all of them in id order (id and content as stored)."""
    digest = hashlib.sha256()
    count = 0
    for row in rows:
        count += 1
        digest.update(_older_line(row))
    return count, digest.hexdigest()


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
            "before_rows": None,
            "before_hash": None,
        }
        # The workspace's chain grows by one link at a time, on every instance: its writers take turns.
        with self._database.transaction() as tx:
            tx.lock(f"audit-chain:{team_id}")
            last = tx.one(
                "SELECT chain_seq, row_hash FROM audit WHERE team_id = ? AND chain_seq IS NOT NULL "
                "ORDER BY chain_seq DESC LIMIT 1",
                [team_id],
            )
            if last is None:
                # This workspace's first row may be the chain's first row: if so, it fixes the older rows.
                tx.lock(_START_LOCK)
                if tx.one("SELECT id FROM audit WHERE chain_seq IS NOT NULL LIMIT 1") is None:
                    count, digest = _fingerprint(_older_rows(tx))
                    if count:
                        content["before_rows"], content["before_hash"] = count, digest
            seq = int(last["chain_seq"]) + 1 if last else 1
            prev_hash = str(last["row_hash"]) if last else GENESIS_HASH
            names = [*_CONTENT, "group_name", "before_rows", "before_hash"]
            row = tx.one(
                f"INSERT INTO audit ({', '.join(names)}, chain_seq, prev_hash) "
                f"VALUES ({', '.join('?' for _ in names)}, ?, ?) RETURNING id",
                [*(content[name] for name in names), seq, prev_hash],
            )
            if row is None:
                return 0
            # The id is the row's place in the log, so the hash that covers it is known only now.
            row_id = int(row["id"])
            tx.run("UPDATE audit SET row_hash = ? WHERE id = ?", [chain_hash(row_id, seq, prev_hash, content), row_id])
        return row_id

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
        if filters.action_prefix:
            clauses.append("substr(action, 1, ?) = ?")
            params += [len(filters.action_prefix), filters.action_prefix]
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
        """Check every row: the older rows against what the chain's first row fixed of them, then every
        workspace's chain in order; report the first row that was changed, inserted, deleted or re-numbered."""
        problems: list[ChainProblem] = []
        anchors = self._database.all(
            "SELECT id, team_id, before_rows, before_hash FROM audit "
            "WHERE before_rows IS NOT NULL OR before_hash IS NOT NULL ORDER BY id"
        )
        for extra in anchors[1:]:
            problems.append(
                ChainProblem(extra["team_id"], int(extra["id"]), "inserted", "a second row claims to begin the chain")
            )
        first = self._database.one("SELECT min(id) AS first_id FROM audit WHERE chain_seq IS NOT NULL")
        first_chained = int(first["first_id"]) if first and first["first_id"] is not None else None
        older, problem = self._check_older(anchors[0] if anchors else None, first_chained)
        if problem is not None:
            problems.append(problem)
        stray = self._database.one(
            "SELECT min(id) AS stray_id FROM audit WHERE team_id IS NULL AND chain_seq IS NOT NULL"
        )
        if stray and stray["stray_id"] is not None:
            problems.append(
                ChainProblem(
                    None, int(stray["stray_id"]), "inserted",
                    "a chained row of no workspace: the bot writes its own rows under an empty workspace, never NULL",
                )
            )  # fmt: skip
        checked = 0
        heads: dict[str, tuple[int, str]] = {}
        teams = [
            str(row["team_id"])
            for row in self._database.all(
                "SELECT DISTINCT team_id FROM audit WHERE chain_seq IS NOT NULL AND team_id IS NOT NULL"
            )
        ]
        for team_id in sorted(teams):
            team_checked, problem, head = self._walk(team_id)
            checked += team_checked
            if problem is not None:
                problems.append(problem)
            if head is not None:
                heads[team_id] = head
        first_problem = min(problems, key=lambda p: p.audit_id) if problems else None
        return ChainReport(
            rows_checked=checked, unchained_rows=older, problem=first_problem, heads=heads, workspaces=len(teams)
        )

    def _check_older(self, anchor: Row | None, first_chained: int | None) -> tuple[int, ChainProblem | None]:
        """The rows without a hash: how many, and the first problem with them."""
        limit = int(anchor["id"]) if anchor is not None else first_chained
        problem: ChainProblem | None = None
        seen = 0
        digest = hashlib.sha256()
        for row in _older_rows(self._database):
            seen += 1
            row_id = int(row["id"])
            if problem is not None:
                continue  # counted only
            if row_id < 1:
                problem = ChainProblem(row["team_id"], row_id, "inserted", "the database numbers its rows from 1")
            elif limit is not None and row_id >= limit:
                why = "after the chain began" if anchor is not None else "among chained rows, none of which fixes it"
                problem = ChainProblem(row["team_id"], row_id, "inserted", f"a row without a hash {why}")
            digest.update(_older_line(row))
        if problem is not None:
            return seen, problem
        if anchor is not None and (seen, digest.hexdigest()) != (anchor["before_rows"], anchor["before_hash"]):
            problem = ChainProblem(
                anchor["team_id"], int(anchor["id"]), "changed",
                f"the {anchor['before_rows']} row(s) written before the chain began, which this row fixes, no longer "
                f"match ({seen} now): one of them was changed, inserted, deleted or re-numbered",
            )  # fmt: skip
        return seen, problem

    def _walk(self, team_id: str) -> tuple[int, ChainProblem | None, tuple[int, str] | None]:
        expected_seq, prev_hash, prev_id = 1, GENESIS_HASH, 0
        checked = 0
        for row in _chained_rows(self._database, team_id):
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
            if chain_hash(row_id, seq, prev_hash, row) != row["row_hash"]:
                return checked, ChainProblem(
                    team_id, row_id, "changed", "its content or its place in the log no longer match its hash"
                ), None
            expected_seq, prev_hash, prev_id = seq + 1, str(row["row_hash"]), row_id
        head = (expected_seq - 1, prev_hash) if checked else None
        return checked, None, head

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
            "FROM audit WHERE chain_seq IS NOT NULL AND team_id IS NOT NULL GROUP BY team_id) newest "
            "ON a.team_id = newest.team_id AND a.chain_seq = newest.seq"
        )
        return {str(r["team_id"]): (int(r["chain_seq"]), str(r["row_hash"])) for r in rows}


    def heads_before(self, until: datetime) -> dict[str, tuple[int, str]]:
        """Each workspace's newest link written before `until` (the chain's head at that moment)."""
        rows = self._database.all(
            "SELECT a.team_id, a.chain_seq, a.row_hash FROM audit a JOIN (SELECT team_id, max(chain_seq) AS seq "
            "FROM audit WHERE chain_seq IS NOT NULL AND team_id IS NOT NULL AND at < ? GROUP BY team_id) newest "
            "ON a.team_id = newest.team_id AND a.chain_seq = newest.seq",
            [_utc_text(until)],
        )
        return {str(r["team_id"]): (int(r["chain_seq"]), str(r["row_hash"])) for r in rows}

    def link_at(self, team_id: str, seq: int) -> tuple[int, str | None] | None:
        """The row holding link `seq` of the workspace's chain: its id and stored hash; None when it is gone."""
        row = self._database.one(
            "SELECT id, row_hash FROM audit WHERE team_id = ? AND chain_seq = ? ORDER BY id LIMIT 1", [team_id, seq]
        )
        return (int(row["id"]), row["row_hash"]) if row else None

    def check_anchors(self, anchors: list[Anchor]) -> list[AnchorProblem]:
        """Each anchored head the chain no longer holds: cut off (its link is gone) or altered (its link has
        another hash, so a row at or before it was changed and the hashes after it recomputed — which
        `verify_chain` alone cannot see). An altered chain is narrowed by the anchors that still hold: the
        change lies after the newest of them."""
        problems: list[AnchorProblem] = []
        for anchor in sorted(anchors, key=lambda a: (a.team_id, a.seq)):
            link = self.link_at(anchor.team_id, anchor.seq)
            if link is None:
                last = self.last_link(anchor.team_id)
                first = last[0] + 1 if last is not None and last[0] < anchor.seq else anchor.seq
                problems.append(AnchorProblem(anchor, "missing", first, last[1] if last is not None else None))
                continue
            if link[1] == anchor.row_hash:
                continue
            held = [
                other.seq for other in anchors
                if other.team_id == anchor.team_id and other.seq < anchor.seq and self.has_link(*_parts(other))
            ]  # fmt: skip
            first = max(held) + 1 if held else 1
            first_row = self.link_at(anchor.team_id, first)
            problems.append(AnchorProblem(anchor, "altered", first, first_row[0] if first_row else link[0]))
        return problems

    def last_link(self, team_id: str) -> tuple[int, int] | None:
        """The workspace's newest link now: its sequence number and row id; None when it has none."""
        row = self._database.one(
            "SELECT chain_seq, id FROM audit WHERE team_id = ? AND chain_seq IS NOT NULL ORDER BY chain_seq DESC "
            "LIMIT 1",
            [team_id],
        )
        return (int(row["chain_seq"]), int(row["id"])) if row else None


def _parts(anchor: Anchor) -> tuple[str, int, str]:
    return anchor.team_id, anchor.seq, anchor.row_hash


def _chained_rows(statements: _Reads, team_id: str) -> Iterator[Row]:
    """One workspace's chained rows in chain order."""
    after = 0
    while True:
        page = statements.all(
            f"SELECT {_CHAINED} FROM audit WHERE team_id = ? AND chain_seq IS NOT NULL AND chain_seq > ? "
            "ORDER BY chain_seq LIMIT ?",
            [team_id, after, _PAGE],
        )
        yield from page
        if len(page) < _PAGE:
            return
        after = int(page[-1]["chain_seq"])


def upgrade_chain(tx: Statements) -> None:
    """Re-anchor a chain begun under the previous hash (see the module's docstring); inside the migration."""
    first = tx.one("SELECT min(id) AS first_id FROM audit WHERE chain_seq IS NOT NULL")
    if first is None or first["first_id"] is None:
        return  # the chain has not begun: its first row will fix the older rows
    first_chained = int(first["first_id"])
    # The previous check let older rows through only before their workspace's chain; a stricter rule (before
    # every chain) is what every database it accepted meets, since the chain began everywhere at one migration.
    doubtful = tx.one(
        "SELECT count(*) AS n FROM audit WHERE chain_seq IS NULL AND (id < 1 OR id > ?)", [first_chained]
    )
    count, digest = _fingerprint(_older_rows(tx))
    fixes = count > 0 and doubtful is not None and int(doubtful["n"]) == 0
    teams = tx.all("SELECT DISTINCT team_id FROM audit WHERE chain_seq IS NOT NULL AND team_id IS NOT NULL")
    for team in teams:
        team_id = str(team["team_id"])
        expected_seq, old_prev, new_prev = 1, GENESIS_HASH, GENESIS_HASH
        for row in _chained_rows(tx, team_id):
            seq, row_id = int(row["chain_seq"]), int(row["id"])
            if seq != expected_seq or row["prev_hash"] != old_prev:
                break  # a row deleted or inserted here: left as it is, to be reported
            if previous_chain_hash(seq, old_prev, row) != row["row_hash"]:
                # Changed here: linked to the new chain, its old hash kept, so that it is reported as changed.
                tx.run("UPDATE audit SET prev_hash = ? WHERE id = ?", [new_prev, row_id])
                break
            content = dict(row)
            if fixes and row_id == first_chained:
                content["before_rows"], content["before_hash"] = count, digest
            new_hash = chain_hash(row_id, seq, new_prev, content)
            tx.run(
                "UPDATE audit SET prev_hash = ?, row_hash = ?, before_rows = ?, before_hash = ? WHERE id = ?",
                [new_prev, new_hash, content["before_rows"], content["before_hash"], row_id],
            )
            expected_seq, old_prev, new_prev = seq + 1, str(row["row_hash"]), new_hash


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
