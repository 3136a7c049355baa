"""The SQLite engine under the embedded stores: one connection, one thread, group commit.

:class:`SqliteDatabase` owns one connection on one background thread. Every store operation is
a plain ``(conn) -> result`` function queued to that thread; the thread drains everything queued,
runs the whole batch in ONE transaction (each write inside its own SAVEPOINT, so a failing op
rolls back only itself), commits once and hands all results back to asyncio with one
``call_soon_threadsafe``. That group commit is what lets one coordinator persist thousands of
writes per second with WAL durability: a commit per batch survives SIGKILL of the process.

The same thread checkpoints the WAL into the main file. SQLite's own auto-checkpoint waits for
1000 WAL pages (4 MB), so a small database otherwise lives entirely in ``-wal`` beside an empty
main file and a copy of ``tpf.sqlite3`` holds nothing. Here a PASSIVE checkpoint (it never waits
for readers, it copies what it can) runs once writes pause for ``checkpoint_idle_s`` and after
every ``checkpoint_every`` write commits when they never pause, always after the batch's callers
have their answers; :meth:`close` ends with a TRUNCATE checkpoint, so a cleanly stopped
database is one self-contained file even if a reader (``tpf state check``) was open meanwhile.

Store faults (SQLite's result codes for a full disk, an I/O error, a read-only, locked or
corrupted database: :func:`tpf.stores.sqlite.faults.is_store_fault`) reach callers as
:class:`~tpf.errors.StoreUnavailable`, recorded in :attr:`GroupCommitDatabase.health` (one log
line, readiness DOWN) until a write commits again. SQLite rolls a whole transaction back on
some of them (``SQLITE_FULL``, ``SQLITE_IOERR``...): then the batch stops there and every one of
its callers fails, since nothing of it is durable, and the next batch starts a fresh
transaction. :meth:`GroupCommitDatabase.open` refuses, with
:class:`~tpf.errors.StoreUnusable` naming the file and the problem, a database that fails
``PRAGMA quick_check`` or cannot commit a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar

from tpf.config.settings import SQLITE_SYNCHRONOUS
from tpf.core.errors import StoreUnavailable, StoreUnusable
from tpf.stores.health import StoreHealth
from tpf.stores.sqlite.faults import REMEDY, describe, is_store_fault, refusal

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
# (operation, its future, the loop to answer on, atomic?)
_Item = tuple[Op, "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]

_MAX_BATCH = 1024  # bounds one transaction's size (and the latency of the first op in it)
CACHE_KIB = 65_536  # the connection's page cache, in KiB (see _connect)
CHECKPOINT_IDLE_S = 1.0  # a pause in writes this long checkpoints the WAL
CHECKPOINT_EVERY = 256  # write commits between checkpoints when writes never pause
BUSY_TIMEOUT_MS = 5000  # how long a statement waits for another connection's lock

LOG = logging.getLogger(__name__)

# The table of the readiness write probe (and of the startup writability check).
_PROBE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS store_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"
)
_PROBE_WRITE = (
    "INSERT INTO store_probe (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1"
)


def _enter_wal(conn: sqlite3.Connection, path: str) -> None:
    """Switch ``conn``'s database to WAL, waiting for another connection that holds a lock.

    Switching a rollback-journal file (a new one) to WAL takes a read lock, then the write
    lock. When another process holds the write lock meanwhile (replicas opening one shared
    file at once, the other already writing its schema), SQLite refuses at once with
    SQLITE_BUSY instead of calling the busy handler, since waiting while holding the read
    lock could deadlock. So this retries, with the read lock released in between, for as long
    as the busy timeout would have waited.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            busy = code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
            LOG.debug("SQLite database %s is locked by another connection; retrying WAL", path)
        time.sleep(pause)  # on the database thread, before it serves anything
        pause = min(pause * 2, 0.1)


class GroupCommitDatabase:
    """One SQLite connection on one thread, with group commit. Use :meth:`open`.

    Subclasses name their tables and indexes in ``schema``; :meth:`open` creates them.
    """

    schema: tuple[str, ...] = ()

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        checkpoint_idle_s: float = CHECKPOINT_IDLE_S,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        synchronous = synchronous.upper()
        if synchronous not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite synchronous must be one of {SQLITE_SYNCHRONOUS}")
        self.path = path
        self._synchronous = synchronous
        self._checkpoint_idle_s = checkpoint_idle_s
        self._checkpoint_every = max(1, checkpoint_every)
        self.checkpoints = 0  # completed checkpoints (read by tests and benchmarks)
        self.health = StoreHealth(f"state store (SQLite {path})", self.probe)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        # Makes "check closed + enqueue" atomic against close(), so nothing lands behind the
        # stop marker and waits forever.
        self._lock = threading.Lock()
        self._closed = False
        self._opened = False  # set once open() has checked the database
        self._thread = threading.Thread(target=self._serve, name="tpf-sqlite", daemon=True)
        self._thread.start()

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        synchronous: str = "NORMAL",
        checkpoint_idle_s: float = CHECKPOINT_IDLE_S,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> Self:
        """Open (creating the file, its directory and the schema) and return the database."""
        db = cls(
            path,
            synchronous=synchronous,
            checkpoint_idle_s=checkpoint_idle_s,
            checkpoint_every=checkpoint_every,
        )
        try:
            await db.run(db._create_schema)
            problems = await db.run(_quick_check, atomic=True)
            if problems:
                shown = "; ".join(problems[:3])
                if len(problems) > 3:
                    shown += f" and {len(problems) - 3} more"
                raise StoreUnusable(
                    f"the SQLite database {path} fails PRAGMA quick_check ({shown}); "
                    + REMEDY[sqlite3.SQLITE_CORRUPT]
                )
            await db.run(_probe_write, atomic=True)  # it can commit a write
            db._opened = True
        except StoreUnavailable as exc:
            await db.close()
            raise refusal(path, exc.__cause__ or exc) from exc
        except BaseException:
            await db.close()
            raise
        return db

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        for statement in (*self.schema, _PROBE_SCHEMA):
            conn.execute(statement)

    async def probe(self, write: bool) -> None:
        """Readiness: commit a one-row write (``write``, what a failing store must do again)
        or read one row; raises :class:`StoreUnavailable` if the database fails."""
        await self.run(_probe_write if write else _probe_read, atomic=True)

    async def run(self, op: Callable[[sqlite3.Connection], T], *, atomic: bool = False) -> T:
        """Run ``op`` on the database thread inside the next batch's transaction.

        ``atomic`` ops only read, or write once as their last statement: a failure can never
        leave half their change behind, so they skip their savepoint, which saves two
        statements per operation on the hot path.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"the SQLite database {self.path} is closed")
            self._queue.put((op, future, loop, atomic))
        return await future

    async def close(self) -> None:
        """Finish every queued operation, checkpoint the WAL into the main file, then close."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # ----------------------------------------------------------------- database thread

    def _connect(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        try:
            _enter_wal(conn, self.path)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            # SQLite's default page cache (2 MB) holds no more than the top of the indexes
            # once a store holds ~100k parked executions (~750 MB): every commit then re-reads
            # index pages with a system call each. 64 MB keeps them cached (bench parked: 0.79
            # -> 0.99 of the 1k throughput at 100k parked); it fills only with pages touched.
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _serve(self) -> None:
        conn: sqlite3.Connection | None = None
        failure: Exception | None = None
        try:
            conn = self._connect()
        except Exception as exc:  # reported to every caller instead of killing the thread
            failure = exc
        stop = False
        dirty = 0  # write commits since the last checkpoint
        while not stop:
            batch: list[_Item] = []
            try:
                # Wait for work; with uncheckpointed writes, only until writes have paused.
                item = self._queue.get(timeout=self._checkpoint_idle_s if dirty else None)
            except queue.Empty:
                assert conn is not None  # only a working connection has dirty commits
                self._checkpoint(conn, "PASSIVE")
                dirty = 0
                continue
            while item is not None:
                batch.append(item)
                if len(batch) >= _MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if not batch:
                continue
            if conn is None:
                assert failure is not None
                outcomes: list[_Outcome] = [(fut, False, failure) for _, fut, _, _ in batch]
                _deliver_all(batch, self._map_faults(outcomes))
                continue
            changes = conn.total_changes
            outcomes, committed = _run_batch(conn, batch)
            outcomes = self._map_faults(outcomes)
            wrote = committed and conn.total_changes != changes
            if wrote:
                dirty += 1
                self.health.succeeded()  # a commit that wrote: the store works (again)
            _deliver_all(batch, outcomes)  # answer first: callers never wait for a checkpoint
            if dirty >= self._checkpoint_every:
                self._checkpoint(conn, "PASSIVE")
                dirty = 0
        if conn is not None:
            self._checkpoint(conn, "TRUNCATE")
            conn.close()

    def _map_faults(self, outcomes: list[_Outcome]) -> list[_Outcome]:
        """Store faults become :class:`StoreUnavailable`, one recorded fault per distinct
        exception (a failed batch fails all its callers with one), each caller its own error."""
        recorded: set[int] = set()
        mapped: list[_Outcome] = []
        for future, ok, value in outcomes:
            if not ok and is_store_fault(value):
                detail = describe(value)
                if id(value) not in recorded:
                    recorded.add(id(value))
                    if self._opened:  # a refused open says it once, as StoreUnusable
                        self.health.fault(detail)
                value = StoreHealth.error(detail, value)
            mapped.append((future, ok, value))
        return mapped

    def _checkpoint(self, conn: sqlite3.Connection, mode: str) -> None:
        """Copy the WAL into the main file (``mode`` PASSIVE or TRUNCATE). A failure is only
        logged: the WAL still holds every commit, and the next checkpoint copies it."""
        try:
            busy, wal_frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:  # e.g. disk full
            LOG.warning("sqlite checkpoint (%s) of %s failed: %s", mode, self.path, exc)
            return
        self.checkpoints += 1
        if mode == "TRUNCATE" and (busy or copied < wal_frames):
            # A reader kept a snapshot open past busy_timeout: the data is safe in the WAL, which
            # the next open checkpoints, but a copy of the main file alone would be stale.
            LOG.warning(
                "sqlite %s: %d of %d WAL frames left uncheckpointed (a reader is open)",
                self.path,
                wal_frames - copied,
                wal_frames,
            )


def _run_batch(conn: sqlite3.Connection, batch: list[_Item]) -> tuple[list[_Outcome], bool]:
    """Run ``batch`` in one transaction: each op's outcome, and whether it committed."""
    outcomes: list[_Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for op, future, _, atomic in batch:
            if atomic:
                try:
                    outcomes.append((future, True, op(conn)))
                except Exception as exc:
                    if not conn.in_transaction:
                        raise  # SQLite rolled the whole batch back (see the module docstring)
                    outcomes.append((future, False, exc))
                continue
            conn.execute("SAVEPOINT op")
            try:
                value = op(conn)
            except Exception as exc:
                if not conn.in_transaction:
                    raise
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append((future, False, exc))
            else:
                conn.execute("RELEASE op")
                outcomes.append((future, True, value))
        conn.execute("COMMIT")
    except Exception as exc:
        # The transaction itself failed (disk full, I/O error...): nothing in it is durable, so
        # every op of the batch fails, including those that had succeeded. Were the remaining
        # ops run after SQLite's own rollback they would commit one by one, outside any batch.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        return [(future, False, exc) for _, future, _, _ in batch], False
    return outcomes, True


def _quick_check(conn: sqlite3.Connection) -> list[str]:
    """The problems ``PRAGMA quick_check`` finds; empty when the database is sound."""
    problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    return [] if problems == ["ok"] else problems


def _probe_write(conn: sqlite3.Connection) -> None:
    conn.execute(_PROBE_WRITE)


def _probe_read(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT n FROM store_probe WHERE id = 1").fetchone()


def _deliver_all(batch: list[_Item], outcomes: list[_Outcome]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for (_, _, loop, _), outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting any more
            loop.call_soon_threadsafe(_deliver, items)


def _deliver(outcomes: list[_Outcome]) -> None:
    for future, ok, value in outcomes:
        if future.done():
            continue  # the caller was cancelled
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
