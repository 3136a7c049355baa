"""``SqliteItemStore``: an expanded execution's items in the ``stream_items`` table.

One row per ``(tenant_id, execution_id, item_index)`` (the primary key), with the ``status``
and ``version`` columns the queries and compare-and-set use and the whole
:class:`~tpf.core.items.StreamItem` as msgspec JSON in ``data``. Pages are range reads in index
order: the primary key for unfiltered pages, ``stream_items_by_status`` for a status filter and
for :meth:`SqliteItemStore.counts`. Items of an execution deleted by lazy expiry go with it (a
trigger, :mod:`.schema`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from tpf.core.items import ItemStatus, StreamItem
from tpf.stores.sqlite.schema import SqliteDatabase

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(StreamItem).decode

_INSERT = """INSERT INTO stream_items (tenant_id, execution_id, item_index, status, version, data)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, execution_id, item_index) DO NOTHING"""
_UPDATE = """UPDATE stream_items SET status = ?, version = ?, data = ?
    WHERE tenant_id = ? AND execution_id = ? AND item_index = ? AND version = ?"""
_SELECT = "SELECT data FROM stream_items WHERE tenant_id = ? AND execution_id = ?"


def _row(item: StreamItem) -> tuple[Any, ...]:
    return (
        item.tenant_id,
        item.execution_id,
        item.item_index,
        item.status.value,
        item.version,
        _encode(item),
    )


def update_params(item: StreamItem, expected_version: int) -> tuple[Any, ...]:
    """The parameters of :func:`replace_if_version`'s update."""
    return (
        item.status.value,
        item.version,
        _encode(item),
        item.tenant_id,
        item.execution_id,
        item.item_index,
        expected_version,
    )


def replace_if_version(conn: sqlite3.Connection, params: tuple[Any, ...]) -> bool:
    """Write the item of ``params`` (:func:`update_params`) over the stored one if that is at
    the expected version; whether it did."""
    return conn.execute(_UPDATE, params).rowcount == 1


class SqliteItemStore:
    """Stream items in the ``stream_items`` table."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def insert_missing(self, items: Sequence[StreamItem]) -> int:
        if not items:
            return 0
        rows = [_row(item) for item in items]  # encoded here, off the database thread

        def op(conn: sqlite3.Connection) -> int:
            # One prepared statement run per row; rowcount sums the rows it inserted (a key
            # already stored is DO NOTHING, not counted).
            return conn.executemany(_INSERT, rows).rowcount

        # Not ``atomic``: executemany is many statements, so it gets its own savepoint and an
        # error part-way leaves none of this page behind (two statements per page of ~1000).
        return await self._db.run(op)

    async def get(self, tenant_id: str, execution_id: str, item_index: int) -> StreamItem | None:
        def op(conn: sqlite3.Connection) -> StreamItem | None:
            row = conn.execute(
                _SELECT + " AND item_index = ?", (tenant_id, execution_id, item_index)
            ).fetchone()
            return None if row is None else _decode(row[0])

        return await self._db.run(op, atomic=True)

    async def page(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        start: int,
        limit: int,
        status: ItemStatus | None = None,
    ) -> list[StreamItem]:
        if limit <= 0:
            return []
        if status is None:
            sql = _SELECT + " AND item_index >= ? ORDER BY item_index LIMIT ?"
            params: tuple[Any, ...] = (tenant_id, execution_id, start, limit)
        else:
            # An equality prefix of stream_items_by_status, then its item_index range: one
            # ordered range read, however many items of other statuses lie in between.
            sql = (
                "SELECT data FROM stream_items INDEXED BY stream_items_by_status "
                "WHERE tenant_id = ? AND execution_id = ? AND status = ? AND item_index >= ? "
                "ORDER BY item_index LIMIT ?"
            )
            params = (tenant_id, execution_id, status.value, start, limit)

        def op(conn: sqlite3.Connection) -> list[StreamItem]:
            return [_decode(data) for (data,) in conn.execute(sql, params).fetchall()]

        return await self._db.run(op, atomic=True)

    async def compare_and_set(self, item: StreamItem, expected_version: int) -> StreamItem | None:
        params = update_params(item, expected_version)  # encoded here, off the database thread

        def op(conn: sqlite3.Connection) -> StreamItem | None:
            return item if conn.execute(_UPDATE, params).rowcount == 1 else None

        return await self._db.run(op, atomic=True)

    async def counts(self, tenant_id: str, execution_id: str) -> dict[ItemStatus, int]:
        def op(conn: sqlite3.Connection) -> dict[ItemStatus, int]:
            # Index-only: stream_items_by_status holds (tenant, execution, status) in order.
            rows = conn.execute(
                "SELECT status, COUNT(*) FROM stream_items INDEXED BY stream_items_by_status "
                "WHERE tenant_id = ? AND execution_id = ? GROUP BY status",
                (tenant_id, execution_id),
            ).fetchall()
            return {ItemStatus(status): n for status, n in rows}

        return await self._db.run(op, atomic=True)

    async def delete_for_execution(self, tenant_id: str, execution_id: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM stream_items WHERE tenant_id = ? AND execution_id = ?",
                (tenant_id, execution_id),
            )
            return cursor.rowcount

        return await self._db.run(op, atomic=True)
