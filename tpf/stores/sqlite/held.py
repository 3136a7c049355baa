"""``SqliteHeldCompletionStore``: held channel completions in the ``held_completions`` table.

One row per :func:`~tpf.stores.rules.hold_key` (the primary key, also the listing order), the
record as msgspec JSON. Committed before the channel acknowledges its message, it survives a
restart of the coordinator.
"""

from __future__ import annotations

import sqlite3

import msgspec

from tpf.core.records import HeldCompletion
from tpf.stores.rules import hold_key
from tpf.stores.sqlite.schema import SqliteDatabase

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(HeldCompletion).decode


class SqliteHeldCompletionStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def hold(self, held: HeldCompletion) -> bool:
        key = hold_key(held.tenant_id, held.handle_kind, held.handle)

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO held_completions (hold_key, data) VALUES (?, ?) "
                "ON CONFLICT (hold_key) DO NOTHING",
                (key, _encode(held)),
            )
            return cursor.rowcount == 1

        return await self._db.run(op, atomic=True)

    async def list(self, limit: int) -> list[HeldCompletion]:
        def op(conn: sqlite3.Connection) -> list[HeldCompletion]:
            rows = conn.execute(
                "SELECT data FROM held_completions ORDER BY hold_key LIMIT ?", (max(0, limit),)
            ).fetchall()
            return [_decode(data) for (data,) in rows]

        return await self._db.run(op, atomic=True)

    async def release(self, tenant_id: str, handle_kind: str, handle: str) -> None:
        key = hold_key(tenant_id, handle_kind, handle)
        await self._db.run(
            lambda conn: conn.execute("DELETE FROM held_completions WHERE hold_key = ?", (key,)),
            atomic=True,
        )
