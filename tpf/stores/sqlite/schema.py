"""The embedded SQLite database's schema and :class:`SqliteDatabase`, which creates it on open.

Each table stores the whole record as msgspec JSON in ``data`` plus the columns its queries
filter or order on; partial indexes keep every index query proportional to its result.

``execution_status_counts`` holds the number of ``executions`` rows per status, kept by
triggers on ``executions`` in the transaction of every insert, delete (lazy expiry included)
and status change, so it is exact by construction, whatever path writes, and a metrics scrape
reads a handful of rows instead of grouping the whole table. A database from before the table
existed is counted once, by one GROUP BY, in the transaction that creates it.
"""

from __future__ import annotations

import sqlite3

from tpf.stores.sqlite.db import GroupCommitDatabase

CLAIMABLE_SQL = "('QUEUED', 'RUNNING', 'WAIT_RETRY')"  # mirrors records.CLAIMABLE_STATUSES
PENDING_SQL = "pending = 1"

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
        WHERE status IN {CLAIMABLE_SQL}""",
    """CREATE INDEX IF NOT EXISTS executions_dead_letters
        ON executions (tenant_id, execution_id) WHERE dead_letter_key IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS interactions (
        tenant_id TEXT NOT NULL, interaction_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
        version INTEGER NOT NULL, status TEXT NOT NULL, pending INTEGER NOT NULL,
        deadline_epoch_ms INTEGER NOT NULL, assignee TEXT, grp TEXT, step_id TEXT NOT NULL,
        applied INTEGER NOT NULL, data BLOB NOT NULL,
        dispatch_state TEXT NOT NULL DEFAULT 'DISPATCHED',
        PRIMARY KEY (tenant_id, interaction_id))""",
    """CREATE UNIQUE INDEX IF NOT EXISTS interactions_by_correlation
        ON interactions (tenant_id, correlation_id)""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending
        ON interactions (tenant_id, deadline_epoch_ms, interaction_id) WHERE {PENDING_SQL}""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending_by_assignee
        ON interactions (tenant_id, assignee, deadline_epoch_ms, interaction_id)
        WHERE {PENDING_SQL} AND assignee IS NOT NULL""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending_by_group
        ON interactions (tenant_id, grp, deadline_epoch_ms, interaction_id)
        WHERE {PENDING_SQL} AND grp IS NOT NULL""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending_by_step
        ON interactions (tenant_id, step_id, deadline_epoch_ms, interaction_id)
        WHERE {PENDING_SQL}""",
    f"""CREATE INDEX IF NOT EXISTS interactions_overdue
        ON interactions (deadline_epoch_ms, tenant_id, interaction_id) WHERE {PENDING_SQL}""",
    """CREATE INDEX IF NOT EXISTS interactions_unapplied
        ON interactions (tenant_id, interaction_id) WHERE pending = 0 AND applied = 0""",
    # Channel completions that arrived before their interaction (key: rules.hold_key).
    """CREATE TABLE IF NOT EXISTS held_completions (
        hold_key TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID""",
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


# Columns added after the first release, each with the default that describes the rows written
# before it (every interaction then was dispatched at creation), and what indexes them. A
# database file from before gets the column on open; CREATE TABLE above has it already.
ADDED_COLUMNS = (("interactions", "dispatch_state", "TEXT NOT NULL DEFAULT 'DISPATCHED'"),)
ADDED_COLUMN_INDEXES = (
    # The dispatch outbox: only pending interactions not yet published are in it.
    f"""CREATE INDEX IF NOT EXISTS interactions_undispatched
        ON interactions (tenant_id, interaction_id)
        WHERE {PENDING_SQL} AND dispatch_state = 'CREATED'""",
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
        for table, column, definition in ADDED_COLUMNS:
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        for statement in ADDED_COLUMN_INDEXES:
            conn.execute(statement)
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
