"""SQLite stores: the embedded ``sqlite`` providers for executions, interactions and workers.

The connection, its thread and group commit live in :mod:`tpf.stores.sqlite_db`. Each table
stores the whole record as msgspec JSON in ``data`` plus the columns its queries filter or
order on; partial indexes keep every index query proportional to its result.

``execution_status_counts`` holds the number of ``executions`` rows per status, kept by
triggers on ``executions`` in the transaction of every insert, delete (lazy expiry included)
and status change, so it is exact by construction, whatever path writes, and a metrics scrape
reads a handful of rows instead of grouping the whole table. A database from before the table
existed is counted once, by one GROUP BY, in the transaction that creates it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
from msgspec.structs import replace

from tpf.core.errors import Conflict
from tpf.core.records import AwaitInteraction, ExecutionRecord, WorkerEvent, WorkerRecord
from tpf.stores.memory import (
    claimed,
    dead_letter_key,
    fold_worker_event,
    is_expired,
    renewed,
    without_dead_letter,
)
from tpf.stores.sqlite_db import GroupCommitDatabase

_CLAIMABLE_SQL = "('QUEUED', 'RUNNING', 'WAIT_RETRY')"  # mirrors records.CLAIMABLE_STATUSES
_PENDING_SQL = "pending = 1"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS executions (
        tenant_id TEXT NOT NULL, execution_id TEXT NOT NULL, execution_key TEXT NOT NULL,
        version INTEGER NOT NULL, status TEXT NOT NULL, next_due_epoch_ms INTEGER NOT NULL,
        ttl_epoch_s INTEGER NOT NULL, dead_letter_key TEXT, data BLOB NOT NULL,
        PRIMARY KEY (tenant_id, execution_id))""",
    """CREATE UNIQUE INDEX IF NOT EXISTS executions_by_key
        ON executions (tenant_id, execution_key)""",
    f"""CREATE INDEX IF NOT EXISTS executions_due
        ON executions (next_due_epoch_ms, tenant_id, execution_id)
        WHERE status IN {_CLAIMABLE_SQL}""",
    """CREATE INDEX IF NOT EXISTS executions_dead_letters
        ON executions (tenant_id, execution_id) WHERE dead_letter_key IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS interactions (
        tenant_id TEXT NOT NULL, interaction_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
        version INTEGER NOT NULL, status TEXT NOT NULL, pending INTEGER NOT NULL,
        deadline_epoch_ms INTEGER NOT NULL, assignee TEXT, grp TEXT, step_id TEXT NOT NULL,
        applied INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (tenant_id, interaction_id))""",
    """CREATE UNIQUE INDEX IF NOT EXISTS interactions_by_correlation
        ON interactions (tenant_id, correlation_id)""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending
        ON interactions (tenant_id, deadline_epoch_ms, interaction_id) WHERE {_PENDING_SQL}""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending_by_assignee
        ON interactions (tenant_id, assignee, deadline_epoch_ms, interaction_id)
        WHERE {_PENDING_SQL} AND assignee IS NOT NULL""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending_by_group
        ON interactions (tenant_id, grp, deadline_epoch_ms, interaction_id)
        WHERE {_PENDING_SQL} AND grp IS NOT NULL""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending_by_step
        ON interactions (tenant_id, step_id, deadline_epoch_ms, interaction_id)
        WHERE {_PENDING_SQL}""",
    f"""CREATE INDEX IF NOT EXISTS interactions_overdue
        ON interactions (deadline_epoch_ms, tenant_id, interaction_id) WHERE {_PENDING_SQL}""",
    """CREATE INDEX IF NOT EXISTS interactions_unapplied
        ON interactions (tenant_id, interaction_id) WHERE pending = 0 AND applied = 0""",
    """CREATE TABLE IF NOT EXISTS worker_events (
        tenant_id TEXT NOT NULL, pipeline_id TEXT NOT NULL, worker_id TEXT NOT NULL,
        seq INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (tenant_id, pipeline_id, worker_id, seq))""",
    # The fold of each worker's events, updated in the same transaction as the append, so reads
    # don't replay the (never compacted) event log.
    """CREATE TABLE IF NOT EXISTS workers (
        tenant_id TEXT NOT NULL, pipeline_id TEXT NOT NULL, worker_id TEXT NOT NULL,
        seq INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (tenant_id, pipeline_id, worker_id))""",
)


_COUNT_UP = """INSERT INTO execution_status_counts (status, n) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET n = n + 1;"""
_COUNT_DOWN = "UPDATE execution_status_counts SET n = n - 1 WHERE status = OLD.status;"
STATUS_COUNTS_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS execution_status_counts (
        status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID""",
    f"""CREATE TRIGGER IF NOT EXISTS executions_count_insert AFTER INSERT ON executions
        BEGIN {_COUNT_UP} END""",
    f"""CREATE TRIGGER IF NOT EXISTS executions_count_delete AFTER DELETE ON executions
        BEGIN {_COUNT_DOWN} END""",
    f"""CREATE TRIGGER IF NOT EXISTS executions_count_status AFTER UPDATE OF status ON executions
        WHEN OLD.status IS NOT NEW.status BEGIN {_COUNT_DOWN} {_COUNT_UP} END""",
)


class SqliteDatabase(GroupCommitDatabase):
    """The coordinator's SQLite database: the group-commit engine with our schema."""

    schema = SCHEMA

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        super()._create_schema(conn)
        counted = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'execution_status_counts'"
        ).fetchone()
        for statement in STATUS_COUNTS_SCHEMA:
            conn.execute(statement)
        if counted is None:  # first open since the counts exist: count what is there once
            conn.execute(
                """INSERT INTO execution_status_counts (status, n)
                SELECT status, COUNT(*) FROM executions GROUP BY status"""
            )


# --------------------------------------------------------------------------- executions

_encode = msgspec.json.Encoder().encode
_decode_execution = msgspec.json.Decoder(ExecutionRecord).decode
_decode_interaction = msgspec.json.Decoder(AwaitInteraction).decode
_decode_worker = msgspec.json.Decoder(WorkerRecord).decode


def _execution_row(r: ExecutionRecord) -> tuple[Any, ...]:
    return (
        r.execution_key,
        r.version,
        r.status.value,
        r.next_due_epoch_ms,
        r.ttl_epoch_s,
        dead_letter_key(r),
        _encode(r),
        r.tenant_id,
        r.execution_id,
    )


_INSERT_EXECUTION = """INSERT INTO executions (execution_key, version, status,
    next_due_epoch_ms, ttl_epoch_s, dead_letter_key, data, tenant_id, execution_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_UPDATE_EXECUTION = """UPDATE executions SET execution_key = ?, version = ?, status = ?,
    next_due_epoch_ms = ?, ttl_epoch_s = ?, dead_letter_key = ?, data = ?
    WHERE tenant_id = ? AND execution_id = ?"""


def _load_execution(
    conn: sqlite3.Connection, tenant_id: str, execution_id: str
) -> ExecutionRecord | None:
    row = conn.execute(
        "SELECT data FROM executions WHERE tenant_id = ? AND execution_id = ?",
        (tenant_id, execution_id),
    ).fetchone()
    return None if row is None else _decode_execution(row[0])


def _load_live(
    conn: sqlite3.Connection, tenant_id: str, execution_id: str, now_ms: int
) -> ExecutionRecord | None:
    record = _load_execution(conn, tenant_id, execution_id)
    if record is not None and is_expired(record, now_ms):
        _delete_execution(conn, record)  # lazy expiry, as the original does on read
        return None
    return record


def _delete_execution(conn: sqlite3.Connection, record: ExecutionRecord) -> None:
    conn.execute(
        "DELETE FROM executions WHERE tenant_id = ? AND execution_id = ?",
        (record.tenant_id, record.execution_id),
    )


def _store_if_version(
    conn: sqlite3.Connection, record: ExecutionRecord, expected_version: int
) -> ExecutionRecord | None:
    cursor = conn.execute(
        _UPDATE_EXECUTION + " AND version = ?", (*_execution_row(record), expected_version)
    )
    return record if cursor.rowcount == 1 else None


class SqliteExecutionStore:
    """Executions in the ``executions`` table."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def create_or_get(
        self, record: ExecutionRecord, now_ms: int
    ) -> tuple[ExecutionRecord, bool]:
        def op(conn: sqlite3.Connection) -> tuple[ExecutionRecord, bool]:
            row = conn.execute(
                "SELECT data FROM executions WHERE tenant_id = ? AND execution_key = ?",
                (record.tenant_id, record.execution_key),
            ).fetchone()
            if row is not None:
                existing = _decode_execution(row[0])
                if not is_expired(existing, now_ms):
                    return existing, True
                _delete_execution(conn, existing)  # an expired execution frees its key
            if _load_live(conn, record.tenant_id, record.execution_id, now_ms) is not None:
                raise Conflict(f"execution id {record.execution_id} already exists")
            conn.execute(_INSERT_EXECUTION, _execution_row(record))
            return record, False

        return await self._db.run(op)

    async def get(self, tenant_id: str, execution_id: str, now_ms: int) -> ExecutionRecord | None:
        return await self._db.run(
            lambda conn: _load_live(conn, tenant_id, execution_id, now_ms), atomic=True
        )

    async def compare_and_set(
        self, record: ExecutionRecord, expected_version: int
    ) -> ExecutionRecord | None:
        return await self._db.run(
            lambda conn: _store_if_version(conn, record, expected_version), atomic=True
        )

    async def claim_lease(
        self, tenant_id: str, execution_id: str, owner: str, now_ms: int, lease_ms: int
    ) -> ExecutionRecord | None:
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")

        def op(conn: sqlite3.Connection) -> ExecutionRecord | None:
            stored = _load_execution(conn, tenant_id, execution_id)
            record = claimed(stored, owner, now_ms, lease_ms)
            if stored is None or record is None:
                return None
            return _store_if_version(conn, record, stored.version)

        return await self._db.run(op, atomic=True)

    async def renew_lease(
        self,
        tenant_id: str,
        execution_id: str,
        owner: str,
        version: int,
        now_ms: int,
        lease_ms: int,
    ) -> ExecutionRecord | None:
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")

        def op(conn: sqlite3.Connection) -> ExecutionRecord | None:
            stored = _load_execution(conn, tenant_id, execution_id)
            record = renewed(stored, owner, version, now_ms, lease_ms)
            return None if record is None else _store_if_version(conn, record, version)

        return await self._db.run(op, atomic=True)

    async def find_due(self, now_ms: int, limit: int) -> list[ExecutionRecord]:
        def op(conn: sqlite3.Connection) -> list[ExecutionRecord]:
            found: list[ExecutionRecord] = []
            # Expired rows found on the way are deleted, so the loop ends and later calls don't
            # walk them again.
            while len(found) < limit:
                rows = conn.execute(
                    f"""SELECT data FROM executions INDEXED BY executions_due
                    WHERE status IN {_CLAIMABLE_SQL} AND next_due_epoch_ms <= ?
                    ORDER BY next_due_epoch_ms, tenant_id, execution_id LIMIT ? OFFSET ?""",
                    (now_ms, limit - len(found), len(found)),
                ).fetchall()
                expired = 0
                for (data,) in rows:
                    record = _decode_execution(data)
                    if is_expired(record, now_ms):
                        _delete_execution(conn, record)
                        expired += 1
                    else:
                        found.append(record)
                if not expired:
                    break
            return found

        return await self._db.run(op)

    async def find_dead_letters(self, limit: int) -> list[ExecutionRecord]:
        def op(conn: sqlite3.Connection) -> list[ExecutionRecord]:
            rows = conn.execute(
                """SELECT data FROM executions INDEXED BY executions_dead_letters
                WHERE dead_letter_key IS NOT NULL ORDER BY tenant_id, execution_id LIMIT ?""",
                (limit,),
            ).fetchall()
            return [_decode_execution(data) for (data,) in rows]

        return await self._db.run(op)

    async def clear_dead_letter(
        self, tenant_id: str, execution_id: str, transition_key: str
    ) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            stored = _load_execution(conn, tenant_id, execution_id)
            cleared = None if stored is None else without_dead_letter(stored, transition_key)
            if stored is None or cleared is None:
                return False
            return _store_if_version(conn, cleared, stored.version) is not None

        return await self._db.run(op, atomic=True)

    async def count_by_status(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT status, n FROM execution_status_counts WHERE n > 0")
            return {status: count for status, count in rows}

        return await self._db.run(op, atomic=True)

    async def expire_leases(self, keep_owner: str, now_ms: int) -> int:
        """Let every lease not held by ``keep_owner`` expire at ``now_ms``; how many did.

        Only for a database this process holds locked (:mod:`tpf.stores.state_lock`): the
        other holders are then known to be dead, and their executions, mid-transition when
        they died, need not wait out their leases. The lease expiry and due time become
        ``now_ms``, so the due index finds them and the next claim takes them over (bumping
        ``version``, which fences as any takeover does). Like ``renew_lease`` this is lease
        bookkeeping: ``version`` is not bumped here.
        """

        def op(conn: sqlite3.Connection) -> int:
            # A live lease's due time is its expiry, in the future: the due index finds them.
            rows = conn.execute(
                f"""SELECT data FROM executions INDEXED BY executions_due
                WHERE status IN {_CLAIMABLE_SQL} AND status = 'RUNNING'
                AND next_due_epoch_ms > ?""",
                (now_ms,),
            ).fetchall()
            expired = 0
            for (data,) in rows:
                record = _decode_execution(data)
                if record.lease_owner == keep_owner:
                    continue
                due = replace(record, lease_expires_epoch_ms=now_ms, next_due_epoch_ms=now_ms)
                expired += _store_if_version(conn, due, record.version) is not None
            return expired

        return await self._db.run(op)


# --------------------------------------------------------------------------- awaits


def _interaction_row(i: AwaitInteraction) -> tuple[Any, ...]:
    return (
        i.correlation_id,
        i.version,
        i.status.value,
        int(i.pending),
        i.deadline_epoch_ms,
        i.assignee,
        i.group,
        i.step_id,
        int(i.applied),
        _encode(i),
        i.tenant_id,
        i.interaction_id,
    )


def _load_interactions(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...]
) -> list[AwaitInteraction]:
    rows = conn.execute(f"SELECT data FROM interactions {where}", params).fetchall()
    return [_decode_interaction(data) for (data,) in rows]


class SqliteAwaitStore:
    """Await interactions in the ``interactions`` table."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def create_or_get(self, interaction: AwaitInteraction) -> tuple[AwaitInteraction, bool]:
        def op(conn: sqlite3.Connection) -> tuple[AwaitInteraction, bool]:
            key = (interaction.tenant_id, interaction.interaction_id)
            existing = _load_interactions(conn, "WHERE tenant_id = ? AND interaction_id = ?", key)
            if existing:
                return existing[0], False
            try:
                conn.execute(
                    """INSERT INTO interactions (correlation_id, version, status, pending,
                    deadline_epoch_ms, assignee, grp, step_id, applied, data, tenant_id,
                    interaction_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    _interaction_row(interaction),
                )
            except sqlite3.IntegrityError as exc:  # only the correlation index can collide
                raise Conflict(
                    f"correlation id {interaction.correlation_id} is already in use"
                ) from exc
            return interaction, True

        return await self._db.run(op)

    async def get(self, tenant_id: str, interaction_id: str) -> AwaitInteraction | None:
        found = await self._db.run(
            lambda conn: _load_interactions(
                conn, "WHERE tenant_id = ? AND interaction_id = ?", (tenant_id, interaction_id)
            ),
            atomic=True,
        )
        return found[0] if found else None

    async def get_by_correlation(
        self, tenant_id: str, correlation_id: str
    ) -> AwaitInteraction | None:
        found = await self._db.run(
            lambda conn: _load_interactions(
                conn, "WHERE tenant_id = ? AND correlation_id = ?", (tenant_id, correlation_id)
            ),
            atomic=True,
        )
        return found[0] if found else None

    async def compare_and_set(
        self, interaction: AwaitInteraction, expected_version: int
    ) -> AwaitInteraction | None:
        def op(conn: sqlite3.Connection) -> AwaitInteraction | None:
            try:
                cursor = conn.execute(
                    """UPDATE interactions SET correlation_id = ?, version = ?, status = ?,
                    pending = ?, deadline_epoch_ms = ?, assignee = ?, grp = ?, step_id = ?,
                    applied = ?, data = ? WHERE tenant_id = ? AND interaction_id = ?
                    AND version = ?""",
                    (*_interaction_row(interaction), expected_version),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(
                    f"correlation id {interaction.correlation_id} is already in use"
                ) from exc
            return interaction if cursor.rowcount == 1 else None

        return await self._db.run(op, atomic=True)

    async def query_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        clauses = ["tenant_id = ?", _PENDING_SQL]
        params: list[Any] = [tenant_id]
        for column, value in (("assignee", assignee), ("grp", group), ("step_id", step_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " AND ".join(clauses)
        sql = f"WHERE {where} ORDER BY deadline_epoch_ms, interaction_id LIMIT ?"
        return await self._db.run(
            lambda conn: _load_interactions(conn, sql, (*params, limit)), atomic=True
        )

    async def find_overdue(self, now_ms: int, limit: int) -> list[AwaitInteraction]:
        sql = (
            f"INDEXED BY interactions_overdue WHERE {_PENDING_SQL} AND deadline_epoch_ms <= ? "
            "ORDER BY deadline_epoch_ms, tenant_id, interaction_id LIMIT ?"
        )
        return await self._db.run(
            lambda conn: _load_interactions(conn, sql, (now_ms, limit)), atomic=True
        )

    async def find_unapplied(self, limit: int) -> list[AwaitInteraction]:
        sql = (
            "INDEXED BY interactions_unapplied WHERE pending = 0 AND applied = 0 "
            "ORDER BY tenant_id, interaction_id LIMIT ?"
        )
        return await self._db.run(
            lambda conn: _load_interactions(conn, sql, (limit,)), atomic=True
        )


# --------------------------------------------------------------------------- workers


class SqliteWorkerStore:
    """Append-only ``worker_events`` plus the folded ``workers`` row, written together."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def append(self, event: WorkerEvent) -> WorkerRecord | None:
        key = (event.tenant_id, event.pipeline_id, event.worker_id)

        def op(conn: sqlite3.Connection) -> WorkerRecord | None:
            row = conn.execute(
                """SELECT seq, data FROM workers
                WHERE tenant_id = ? AND pipeline_id = ? AND worker_id = ?""",
                key,
            ).fetchone()
            previous = None if row is None else _decode_worker(row[1])
            record = fold_worker_event(previous, event)
            if record is None:
                return None
            seq = 1 if row is None else row[0] + 1
            conn.execute(
                "INSERT INTO worker_events VALUES (?, ?, ?, ?, ?)", (*key, seq, _encode(event))
            )
            conn.execute(
                "INSERT OR REPLACE INTO workers VALUES (?, ?, ?, ?, ?)",
                (*key, seq, _encode(record)),
            )
            return record

        return await self._db.run(op)

    async def get(self, tenant_id: str, pipeline_id: str, worker_id: str) -> WorkerRecord | None:
        def op(conn: sqlite3.Connection) -> WorkerRecord | None:
            row = conn.execute(
                """SELECT data FROM workers
                WHERE tenant_id = ? AND pipeline_id = ? AND worker_id = ?""",
                (tenant_id, pipeline_id, worker_id),
            ).fetchone()
            return None if row is None else _decode_worker(row[0])

        return await self._db.run(op, atomic=True)

    async def list(self, tenant_id: str, pipeline_id: str) -> list[WorkerRecord]:
        def op(conn: sqlite3.Connection) -> list[WorkerRecord]:
            rows = conn.execute(
                """SELECT data FROM workers WHERE tenant_id = ? AND pipeline_id = ?
                ORDER BY worker_id""",
                (tenant_id, pipeline_id),
            ).fetchall()
            return [_decode_worker(data) for (data,) in rows]

        return await self._db.run(op, atomic=True)
