"""``SqliteNonceGuard``: nonces in a SQLite file every worker replica on one host shares.

Each replica opens the same file (WAL, so readers never block the writer, and a busy timeout,
so two replicas' writes queue instead of failing) through the project's
:class:`~tpf.stores.sqlite.db.GroupCommitDatabase`: one connection on its own thread, claims
from concurrent requests committed together. A claim is one upsert on the primary key: a new
nonce inserts a row; a known one changes nothing, so it is refused, unless its row has expired
and was not purged yet (its request's timestamp is outside the tolerance by then, so reusing the
nonce cannot replay that request). SQLite serialises the writers of one file, so of two replicas
claiming one nonce exactly one sees its row change.

Expired rows are deleted in bounded batches at most once per purge interval (not on every
claim): the table holds about one tolerance (plus one interval) of requests.
"""

from __future__ import annotations

import sqlite3

from tpf.core.clock import Clock
from tpf.stores.health import StoreHealth
from tpf.stores.sqlite.db import GroupCommitDatabase

PURGE_INTERVAL_MS = 30_000  # the original purges its in-memory guard as often
PURGE_BATCH = 1_000  # rows one purge deletes at most: it shares the claims' transaction

_CLAIM = (
    "INSERT INTO nonces (nonce, expires_at_ms) VALUES (?, ?) "
    "ON CONFLICT (nonce) DO UPDATE SET expires_at_ms = excluded.expires_at_ms "
    "WHERE nonces.expires_at_ms < ?"
)
_PURGE = (
    "DELETE FROM nonces WHERE nonce IN "
    "(SELECT nonce FROM nonces WHERE expires_at_ms < ? ORDER BY expires_at_ms LIMIT ?)"
)


class NonceDatabase(GroupCommitDatabase):
    """The nonce file: one table, keyed by nonce, with an index for the purge."""

    schema = (
        """CREATE TABLE IF NOT EXISTS nonces (
            nonce TEXT PRIMARY KEY NOT NULL, expires_at_ms INTEGER NOT NULL) WITHOUT ROWID""",
        "CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_at_ms)",
    )


class SqliteNonceGuard:
    """A :class:`~tpf.transports.workers.remote.nonces.NonceGuard` on a shared SQLite file."""

    def __init__(
        self,
        db: NonceDatabase,
        clock: Clock,
        *,
        purge_interval_ms: int = PURGE_INTERVAL_MS,
        purge_batch: int = PURGE_BATCH,
    ) -> None:
        self._db = db
        self._clock = clock
        self._purge_interval_ms = purge_interval_ms
        self._purge_batch = max(1, purge_batch)
        self._next_purge_ms = clock.now_ms()  # the first claim purges what earlier runs left
        self.purged = 0  # rows this guard has deleted (read by tests and metrics)

    @classmethod
    async def open(
        cls, path: str, clock: Clock, *, synchronous: str = "NORMAL", **options: int
    ) -> SqliteNonceGuard:
        """Open (creating the file, its directory and the table) the guard on ``path``."""
        return cls(await NonceDatabase.open(path, synchronous=synchronous), clock, **options)

    @property
    def health(self) -> StoreHealth:
        return self._db.health

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        now = self._clock.now_ms()
        if now >= self._next_purge_ms:
            await self.purge(now)

        def op(conn: sqlite3.Connection) -> bool:
            return conn.execute(_CLAIM, (nonce, expires_at_ms, now)).rowcount == 1

        return await self._db.run(op, atomic=True)

    async def purge(self, now_ms: int | None = None) -> int:
        """Delete up to one batch of expired rows; how many it deleted. A full batch means more
        may be left, so the next claim purges again instead of waiting an interval."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        limit = self._purge_batch
        # Set before the await: the claims arriving meanwhile do not purge the same rows again.
        self._next_purge_ms = now + self._purge_interval_ms

        def op(conn: sqlite3.Connection) -> int:
            return conn.execute(_PURGE, (now, limit)).rowcount

        deleted = await self._db.run(op, atomic=True)
        self.purged += deleted
        if deleted >= limit:
            self._next_purge_ms = now
        return deleted

    async def aclose(self) -> None:
        await self._db.close()
