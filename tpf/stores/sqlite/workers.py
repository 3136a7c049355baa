"""``SqliteWorkerStore``: append-only ``worker_events`` plus each worker's folded row."""

from __future__ import annotations

import sqlite3

import msgspec

from tpf.core.records import WorkerEvent, WorkerRecord
from tpf.stores.rules import fold_worker_event
from tpf.stores.sqlite.schema import SqliteDatabase

_encode = msgspec.json.Encoder().encode
_decode_worker = msgspec.json.Decoder(WorkerRecord).decode


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
