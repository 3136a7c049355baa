"""An execution's commit, or a stream item's write, and its interaction's write in one SQLite
operation (see ``tpf.stores.joint_writes.AwaitCommits``).

On SQLite every store call is a hop to the database thread and back (about 0.1 ms unloaded,
:mod:`tpf.stores.sqlite.db`), so the general path's park (create the interaction, commit the
park, read the interaction back) costs three, its resume (commit, then mark the interaction
applied) two, and a stream item's dispatch (create its interaction, mark the item AWAITING) and
finish (the item DONE, its interaction applied) two each. Here each is one operation inside its
own savepoint of the batch's transaction:
either both rows are written or, when a condition fails, neither is, and the caller takes the
general path, which tells the cases apart (an interaction that already exists on a re-run, a
taken correlation id, a lost lease, an interaction someone else already changed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from tpf.core.items import StreamItem
from tpf.core.records import AwaitInteraction, ExecutionRecord
from tpf.stores.sqlite import items
from tpf.stores.sqlite.awaits import insert_interaction, replace_if_version
from tpf.stores.sqlite.executions import store_if_version
from tpf.stores.sqlite.schema import SqliteDatabase

T = TypeVar("T")


class _Refused(Exception):
    """A condition failed: rolls the operation's savepoint back, so nothing of it is written."""


def _create(conn: sqlite3.Connection, interaction: AwaitInteraction) -> None:
    try:
        insert_interaction(conn, interaction)
    except sqlite3.IntegrityError:  # it exists (a re-run), or its correlation id does
        raise _Refused from None


def _mark_applied(conn: sqlite3.Connection, applied: AwaitInteraction, version: int) -> None:
    try:
        replaced = replace_if_version(conn, applied, version)
    except sqlite3.IntegrityError:  # cannot happen: marking applied keeps the correlation id
        raise _Refused from None
    if not replaced:
        raise _Refused  # someone else changed it: the other record's write goes too


class SqliteAwaitCommits:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def park(
        self, waiting: ExecutionRecord, expected_version: int, interaction: AwaitInteraction
    ) -> ExecutionRecord | None:
        def op(conn: sqlite3.Connection) -> ExecutionRecord:
            _create(conn, interaction)
            if store_if_version(conn, waiting, expected_version) is None:
                raise _Refused  # the lease was lost: the interaction goes too
            return waiting

        return await self._run(op)

    async def resume(
        self,
        running: ExecutionRecord,
        expected_version: int,
        applied: AwaitInteraction,
        interaction_version: int,
    ) -> ExecutionRecord | None:
        def op(conn: sqlite3.Connection) -> ExecutionRecord:
            if store_if_version(conn, running, expected_version) is None:
                raise _Refused
            _mark_applied(conn, applied, interaction_version)
            return running

        return await self._run(op)

    async def dispatch_item(
        self, awaiting: StreamItem, item_version: int, interaction: AwaitInteraction
    ) -> bool:
        params = items.update_params(awaiting, item_version)

        def op(conn: sqlite3.Connection) -> bool:
            _create(conn, interaction)
            if not items.replace_if_version(conn, params):
                raise _Refused  # the item moved on: the interaction goes too
            return True

        return await self._run(op) is not None

    async def finish_item(
        self,
        done: StreamItem,
        item_version: int,
        applied: AwaitInteraction,
        interaction_version: int,
    ) -> bool:
        params = items.update_params(done, item_version)

        def op(conn: sqlite3.Connection) -> bool:
            if not items.replace_if_version(conn, params):
                raise _Refused
            _mark_applied(conn, applied, interaction_version)
            return True

        return await self._run(op) is not None

    async def _run(self, op: Callable[[sqlite3.Connection], T]) -> T | None:
        """``op``'s result, or ``None`` when it refused (its savepoint rolled back: nothing of
        it is written)."""
        try:
            return await self._db.run(op)
        except _Refused:
            return None
