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

from tpf.core.items import StreamItem
from tpf.core.records import AwaitInteraction, ExecutionRecord
from tpf.stores.sqlite import items
from tpf.stores.sqlite.awaits import insert_interaction, replace_if_version
from tpf.stores.sqlite.executions import store_if_version
from tpf.stores.sqlite.schema import SqliteDatabase


class _Refused(Exception):
    """A condition failed: rolls the operation's savepoint back, so nothing of it is written."""


class SqliteAwaitCommits:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def park(
        self, waiting: ExecutionRecord, expected_version: int, interaction: AwaitInteraction
    ) -> ExecutionRecord | None:
        def op(conn: sqlite3.Connection) -> ExecutionRecord:
            try:
                insert_interaction(conn, interaction)
            except sqlite3.IntegrityError:  # it exists (a re-run), or its correlation id does
                raise _Refused from None
            if store_if_version(conn, waiting, expected_version) is None:
                raise _Refused  # the lease was lost: the interaction goes too
            return waiting

        try:
            return await self._db.run(op)
        except _Refused:
            return None

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
            try:
                replaced = replace_if_version(conn, applied, interaction_version)
            except sqlite3.IntegrityError:  # cannot happen: marking applied keeps the id
                raise _Refused from None
            if not replaced:
                raise _Refused  # someone else changed it: the execution's write goes too
            return running

        try:
            return await self._db.run(op)
        except _Refused:
            return None

    async def dispatch_item(
        self, awaiting: StreamItem, item_version: int, interaction: AwaitInteraction
    ) -> bool:
        params = items.update_params(awaiting, item_version)

        def op(conn: sqlite3.Connection) -> bool:
            try:
                insert_interaction(conn, interaction)
            except sqlite3.IntegrityError:  # it exists (a re-run), or its correlation id does
                raise _Refused from None
            if not items.replace_if_version(conn, params):
                raise _Refused  # the item moved on: the interaction goes too
            return True

        return await self._all_or_nothing(op)

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
            try:
                replaced = replace_if_version(conn, applied, interaction_version)
            except sqlite3.IntegrityError:  # cannot happen: marking applied keeps the id
                raise _Refused from None
            if not replaced:
                raise _Refused  # someone else changed it: the item's write goes too
            return True

        return await self._all_or_nothing(op)

    async def _all_or_nothing(self, op: Callable[[sqlite3.Connection], bool]) -> bool:
        try:
            return await self._db.run(op)
        except _Refused:
            return False
