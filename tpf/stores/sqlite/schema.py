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
        pipeline_id TEXT, release_version TEXT, current_step_id TEXT, error_code TEXT,
        updated_at_epoch_ms INTEGER NOT NULL DEFAULT 0,
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
        execution_id TEXT, created_at_epoch_ms INTEGER NOT NULL DEFAULT 0,
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
    # An expanded execution's items (issue 13), read a page at a time in index order: the
    # primary key serves unfiltered pages, the status index status-filtered pages and counts
    # (an index-only range read of the execution). A plain rowid table, not WITHOUT ROWID:
    # an item's JSON (its payload and output) may be large.
    """CREATE TABLE IF NOT EXISTS stream_items (
        tenant_id TEXT NOT NULL, execution_id TEXT NOT NULL, item_index INTEGER NOT NULL,
        status TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (tenant_id, execution_id, item_index))""",
    """CREATE INDEX IF NOT EXISTS stream_items_by_status
        ON stream_items (tenant_id, execution_id, status, item_index)""",
    # An execution's items go with it (lazy expiry of a terminal execution past retention), in
    # the statement that deletes it: one statement, so the expiry stays atomic whatever path
    # deletes the row.
    """CREATE TRIGGER IF NOT EXISTS executions_delete_items AFTER DELETE ON executions
        BEGIN DELETE FROM stream_items
        WHERE tenant_id = OLD.tenant_id AND execution_id = OLD.execution_id; END""",
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


# Columns added after the first release: (table, column, definition, backfill). The default
# describes rows written before the column when it can (every interaction then was dispatched at
# creation); otherwise ``backfill`` computes the value from the row's JSON, once, in the open
# that adds the column. CREATE TABLE above has them all already.
_FROM_JSON = "json_extract(CAST(data AS TEXT), '$.{}')"
ADDED_COLUMNS: tuple[tuple[str, str, str, str | None], ...] = (
    ("interactions", "dispatch_state", "TEXT NOT NULL DEFAULT 'DISPATCHED'", None),
    # Issue 12: what the operator's search filters and orders on, and the execution index.
    ("executions", "pipeline_id", "TEXT", _FROM_JSON.format("pipelineId")),
    ("executions", "release_version", "TEXT", _FROM_JSON.format("releaseVersion")),
    ("executions", "current_step_id", "TEXT", _FROM_JSON.format("currentStepId")),
    ("executions", "error_code", "TEXT", _FROM_JSON.format("errorCode")),
    (
        "executions",
        "updated_at_epoch_ms",
        "INTEGER NOT NULL DEFAULT 0",
        f"COALESCE({_FROM_JSON.format('updatedAtEpochMs')}, 0)",
    ),
    ("interactions", "execution_id", "TEXT", _FROM_JSON.format("executionId")),
    (
        "interactions",
        "created_at_epoch_ms",
        "INTEGER NOT NULL DEFAULT 0",
        f"COALESCE({_FROM_JSON.format('createdAtEpochMs')}, 0)",
    ),
)

# The search indexes (issue 12). Each ends in (updated_at, id), the keyset order, so a page of
# the filters it leads with is one range read from the cursor down, however deep the page:
# none (or just the window), status (the DLQ and FAILED views), pipeline, pipeline + status
# (the console's usual pair), error code (failure fingerprints; partial, as only failed
# executions have one), release and current step. Any other combination walks the most
# selective of these and filters the rest (SEARCH_INDEXES in executions.py picks it).
_SEARCH_SUFFIX = "updated_at_epoch_ms, execution_id)"
SEARCH_INDEX_COLUMNS = {
    "executions_search": "",
    "executions_by_status": "status, ",
    "executions_by_pipeline": "pipeline_id, ",
    "executions_by_pipeline_status": "pipeline_id, status, ",
    "executions_by_error": "error_code, ",
    "executions_by_release": "release_version, ",
    "executions_by_step": "current_step_id, ",
}
ADDED_COLUMN_INDEXES = (
    # The dispatch outbox: only pending interactions not yet published are in it.
    f"""CREATE INDEX IF NOT EXISTS interactions_undispatched
        ON interactions (tenant_id, interaction_id)
        WHERE {PENDING_SQL} AND dispatch_state = 'CREATED'""",
    *(
        f"CREATE INDEX IF NOT EXISTS {name} ON executions (tenant_id, {lead}{_SEARCH_SUFFIX}"
        + (" WHERE error_code IS NOT NULL" if name == "executions_by_error" else "")
        for name, lead in SEARCH_INDEX_COLUMNS.items()
    ),
    # An execution's interactions, oldest first (list_for_execution), and its pending ones by
    # deadline (page_pending with an execution filter).
    """CREATE INDEX IF NOT EXISTS interactions_by_execution
        ON interactions (tenant_id, execution_id, created_at_epoch_ms, interaction_id)""",
    f"""CREATE INDEX IF NOT EXISTS interactions_pending_by_execution
        ON interactions (tenant_id, execution_id, deadline_epoch_ms, interaction_id)
        WHERE {PENDING_SQL}""",
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
        for table, column, definition, backfill in ADDED_COLUMNS:
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
                if backfill is not None:
                    conn.execute(f"UPDATE {table} SET {column} = {backfill}")
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
