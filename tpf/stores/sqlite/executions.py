"""``SqliteExecutionStore``: executions in the ``executions`` table (see :mod:`.schema`).

The connection, its thread and group commit live in :mod:`tpf.stores.sqlite.db`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
from msgspec.structs import replace

from tpf.core.errors import Conflict
from tpf.core.records import ExecutionRecord
from tpf.core.search import ExecutionPage, ExecutionQuery, SearchKey, decode_cursor
from tpf.stores.rules import (
    claimed,
    dead_letter_key,
    is_expired,
    renewed,
    without_dead_letter,
)
from tpf.stores.sqlite.schema import CLAIMABLE_SQL as _CLAIMABLE_SQL
from tpf.stores.sqlite.schema import SqliteDatabase
from tpf.stores.sqlite.search import search_page

_encode = msgspec.json.Encoder().encode
_decode_execution = msgspec.json.Decoder(ExecutionRecord).decode


def _execution_row(r: ExecutionRecord) -> tuple[Any, ...]:
    return (
        r.execution_key,
        r.version,
        r.status.value,
        r.next_due_epoch_ms,
        r.ttl_epoch_s,
        dead_letter_key(r),
        _encode(r),
        r.pipeline_id,
        r.release_version,
        r.current_step_id,
        r.error_code,
        r.updated_at_epoch_ms,
        r.tenant_id,
        r.execution_id,
    )


_INSERT_EXECUTION = """INSERT INTO executions (execution_key, version, status,
    next_due_epoch_ms, ttl_epoch_s, dead_letter_key, data, pipeline_id, release_version,
    current_step_id, error_code, updated_at_epoch_ms, tenant_id, execution_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# An execution's key and pipeline never change, so an update leaves them (and the unique key
# index) alone: SQLite rewrites every index holding a column the SET names, changed or not.
_UPDATE_EXECUTION = """UPDATE executions SET version = ?, status = ?,
    next_due_epoch_ms = ?, ttl_epoch_s = ?, dead_letter_key = ?, data = ?,
    release_version = ?, current_step_id = ?, error_code = ?, updated_at_epoch_ms = ?
    WHERE tenant_id = ? AND execution_id = ?"""


def _update_row(r: ExecutionRecord) -> tuple[Any, ...]:
    """:data:`_UPDATE_EXECUTION`'s parameters: the insert's row without the key and pipeline."""
    row = _execution_row(r)
    return row[1:7] + row[8:]


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


def store_if_version(
    conn: sqlite3.Connection, record: ExecutionRecord, expected_version: int
) -> ExecutionRecord | None:
    cursor = conn.execute(
        _UPDATE_EXECUTION + " AND version = ?", (*_update_row(record), expected_version)
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
            lambda conn: store_if_version(conn, record, expected_version), atomic=True
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
            return store_if_version(conn, record, stored.version)

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
            return None if record is None else store_if_version(conn, record, version)

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
            return store_if_version(conn, cleared, stored.version) is not None

        return await self._db.run(op, atomic=True)

    async def count_by_status(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT status, n FROM execution_status_counts WHERE n > 0")
            return {status: count for status, count in rows}

        return await self._db.run(op, atomic=True)

    async def search(
        self, query: ExecutionQuery, limit: int, cursor: str | None, now_ms: int
    ) -> ExecutionPage:
        after = decode_cursor(cursor, SearchKey)  # a bad one fails here, before the queue
        return await self._db.run(
            lambda conn: search_page(conn, query, limit, after, now_ms), atomic=True
        )

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
                expired += store_if_version(conn, due, record.version) is not None
            return expired

        return await self._db.run(op)
