"""An execution's commit and its interaction's write in one SQLite operation (see
``tpf.stores.base.AwaitCommits``).

On SQLite every store call is a hop to the database thread and back (about 0.1 ms unloaded,
:mod:`tpf.stores.sqlite.db`), so the general path's park (create the interaction, commit the
park, read the interaction back) costs three and its resume (commit, then mark the interaction
applied) two. Here each is one operation inside its own savepoint of the batch's transaction:
either both rows are written or, when a condition fails, neither is, and the caller takes the
general path, which tells the cases apart (an interaction that already exists on a re-run, a
taken correlation id, a lost lease, an interaction someone else already changed).
"""

from __future__ import annotations

import sqlite3

from tpf.core.records import AwaitInteraction, ExecutionRecord
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
