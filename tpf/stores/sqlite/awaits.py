"""``SqliteAwaitStore``: await interactions in the ``interactions`` table (see :mod:`.schema`)."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from tpf.core import interactions as inter
from tpf.core.errors import Conflict
from tpf.core.records import AwaitInteraction
from tpf.core.search import InteractionPage, PendingKey, decode_cursor, encode_cursor, pending_key
from tpf.stores.sqlite.schema import PENDING_SQL as _PENDING_SQL
from tpf.stores.sqlite.schema import SqliteDatabase

_encode = msgspec.json.Encoder().encode
_decode_interaction = msgspec.json.Decoder(AwaitInteraction).decode


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
        i.dispatch_state.value,
        _encode(i),
        i.execution_id,
        i.created_at_epoch_ms,
        i.tenant_id,
        i.interaction_id,
    )


_IDS_PER_QUERY = 500  # ids per IN (...) read of get_many


def _load_interactions(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...]
) -> list[AwaitInteraction]:
    rows = conn.execute(f"SELECT data FROM interactions {where}", params).fetchall()
    return [_decode_interaction(data) for (data,) in rows]


def insert_interaction(conn: sqlite3.Connection, interaction: AwaitInteraction) -> None:
    """Insert ``interaction``; ``sqlite3.IntegrityError`` if its id or correlation id exists."""
    conn.execute(
        """INSERT INTO interactions (correlation_id, version, status, pending,
        deadline_epoch_ms, assignee, grp, step_id, applied, dispatch_state, data,
        execution_id, created_at_epoch_ms, tenant_id, interaction_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        _interaction_row(interaction),
    )


def replace_if_version(
    conn: sqlite3.Connection, interaction: AwaitInteraction, expected_version: int
) -> bool:
    """Write ``interaction`` over the stored one if that is at ``expected_version``; whether it
    did. ``sqlite3.IntegrityError`` if its correlation id is another interaction's."""
    cursor = conn.execute(
        """UPDATE interactions SET correlation_id = ?, version = ?, status = ?,
        pending = ?, deadline_epoch_ms = ?, assignee = ?, grp = ?, step_id = ?,
        applied = ?, dispatch_state = ?, data = ?, execution_id = ?, created_at_epoch_ms = ?
        WHERE tenant_id = ? AND interaction_id = ? AND version = ?""",
        (*_interaction_row(interaction), expected_version),
    )
    return cursor.rowcount == 1


def _store_if_version(
    conn: sqlite3.Connection, interaction: AwaitInteraction, expected_version: int
) -> AwaitInteraction | None:
    try:
        replaced = replace_if_version(conn, interaction, expected_version)
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"correlation id {interaction.correlation_id} is already in use") from exc
    return interaction if replaced else None


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
                insert_interaction(conn, interaction)
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

    async def get_many(self, tenant_id: str, ids: list[str]) -> dict[str, AwaitInteraction]:
        def load(conn: sqlite3.Connection) -> list[AwaitInteraction]:
            found: list[AwaitInteraction] = []
            # Within SQLite's bound on parameters per statement, however large the window.
            for at in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[at : at + _IDS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                where = f"WHERE tenant_id = ? AND interaction_id IN ({marks})"
                found.extend(_load_interactions(conn, where, (tenant_id, *chunk)))
            return found

        if not ids:
            return {}
        return {item.interaction_id: item for item in await self._db.run(load, atomic=True)}

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
        return await self._db.run(
            lambda conn: _store_if_version(conn, interaction, expected_version), atomic=True
        )

    async def query_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        page = await self.page_pending(
            tenant_id, assignee=assignee, group=group, step_id=step_id, limit=limit
        )
        return page.items

    async def page_pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        execution_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InteractionPage:
        after = decode_cursor(cursor, PendingKey)
        clauses = ["tenant_id = ?", _PENDING_SQL]
        params: list[Any] = [tenant_id]
        filters = (
            ("execution_id", execution_id),
            ("assignee", assignee),
            ("grp", group),
            ("step_id", step_id),
        )
        for column, value in filters:
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            clauses.append("(deadline_epoch_ms, interaction_id) > (?, ?)")
            params.extend((after.deadline_epoch_ms, after.interaction_id))
        # Every filter has a pending index keyed (tenant, filter, deadline, id); the planner
        # picks among them (each is an equality prefix, so none needs a sort).
        sql = f"WHERE {' AND '.join(clauses)} ORDER BY deadline_epoch_ms, interaction_id LIMIT ?"
        rows = await self._db.run(
            lambda conn: _load_interactions(conn, sql, (*params, max(0, limit) + 1)),
            atomic=True,
        )
        items = rows[:limit]
        more = len(rows) > limit and bool(items)
        return InteractionPage(items, encode_cursor(pending_key(items[-1])) if more else None)

    async def list_for_execution(
        self, tenant_id: str, execution_id: str, limit: int = 200
    ) -> list[AwaitInteraction]:
        sql = (
            "INDEXED BY interactions_by_execution WHERE tenant_id = ? AND execution_id = ? "
            "ORDER BY created_at_epoch_ms, interaction_id LIMIT ?"
        )
        return await self._db.run(
            lambda conn: _load_interactions(conn, sql, (tenant_id, execution_id, limit)),
            atomic=True,
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
        return await self._db.run(lambda conn: _load_interactions(conn, sql, (limit,)), atomic=True)

    async def find_undispatched(self, limit: int) -> list[AwaitInteraction]:
        sql = (
            f"INDEXED BY interactions_undispatched WHERE {_PENDING_SQL} "
            "AND dispatch_state = 'CREATED' ORDER BY tenant_id, interaction_id LIMIT ?"
        )
        return await self._db.run(lambda conn: _load_interactions(conn, sql, (limit,)), atomic=True)

    async def mark_dispatched(
        self, tenant_id: str, interaction_id: str, now_ms: int, sent: AwaitInteraction | None = None
    ) -> AwaitInteraction | None:
        def op(conn: sqlite3.Connection) -> AwaitInteraction | None:
            key = (tenant_id, interaction_id)
            found = _load_interactions(conn, "WHERE tenant_id = ? AND interaction_id = ?", key)
            if not found:
                return None
            dispatched = inter.mark_dispatched(found[0], now_ms)
            if dispatched is None:
                return found[0]
            # Read and write in one transaction on the one connection: nothing can come between.
            return _store_if_version(conn, dispatched, found[0].version)

        return await self._db.run(op, atomic=True)
