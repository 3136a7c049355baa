"""Nonce guards: each nonce is claimed once, by one replica, until it expires.

One contract runs against every guard (memory, SQLite, DynamoDB on moto); the SQLite guard is
also shared by two guards and by two OS processes on one file, and purges in bounded batches.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.stores.conftest import dynamo_for
from tpf.core.clock import FakeClock
from tpf.stores.base import NonceGuard
from tpf.stores.nonces import MemoryNonceGuard, SqliteNonceGuard
from tpf.stores.nonces.dynamo import DynamoNonceGuard
from tpf.transports.workers.remote.signing import SignatureRejected, Signer, Verifier

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE_MS = 120_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "dynamo"])
async def guard(
    request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[NonceGuard]:
    if request.param == "memory":
        yield MemoryNonceGuard(clock)
    elif request.param == "sqlite":
        sqlite_guard = await SqliteNonceGuard.open(str(tmp_path / "nonces.sqlite3"), clock)
        yield sqlite_guard
        await sqlite_guard.aclose()
    else:
        async with dynamo_for(request, state__provider="dynamo") as (client, settings):
            yield await DynamoNonceGuard.open(client, settings, clock)


async def test_a_nonce_is_claimed_once(guard: NonceGuard, clock: FakeClock) -> None:
    expires = clock.now_ms() + TOLERANCE_MS
    assert await guard.claim("n-1", expires) is True
    assert await guard.claim("n-1", expires) is False
    assert await guard.claim("n-2", expires) is True  # another nonce is not affected
    clock.advance(TOLERANCE_MS)  # at the expiry itself it still counts
    assert await guard.claim("n-1", expires + TOLERANCE_MS) is False


async def test_an_expired_nonce_may_be_claimed_again(guard: NonceGuard, clock: FakeClock) -> None:
    """Past its expiry a nonce's request is refused by its timestamp: a leftover row or item
    (not purged, not yet deleted by TTL) must not block a new request that reuses it."""
    assert await guard.claim("n-1", clock.now_ms() + 1_000)
    clock.advance(1_001)
    assert await guard.claim("n-1", clock.now_ms() + TOLERANCE_MS) is True
    assert await guard.claim("n-1", clock.now_ms() + TOLERANCE_MS) is False  # claimed anew


async def test_concurrent_claims_of_one_nonce_have_one_winner(
    guard: NonceGuard, clock: FakeClock
) -> None:
    expires = clock.now_ms() + TOLERANCE_MS
    results = await asyncio.gather(*(guard.claim("same", expires) for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]


async def test_two_sqlite_guards_on_one_file_share_their_nonces(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = str(tmp_path / "shared" / "nonces.sqlite3")
    a = await SqliteNonceGuard.open(path, clock)
    b = await SqliteNonceGuard.open(path, clock)
    try:
        expires = clock.now_ms() + TOLERANCE_MS
        assert await a.claim("n-1", expires)
        assert not await b.claim("n-1", expires)  # the other replica refuses it
        assert await b.claim("n-2", expires)
        assert not await a.claim("n-2", expires)
        nonces = [f"race-{i}" for i in range(200)]
        won_a, won_b = await asyncio.gather(
            asyncio.gather(*(a.claim(n, expires) for n in nonces)),
            asyncio.gather(*(b.claim(n, expires) for n in nonces)),
        )
        assert [x != y for x, y in zip(won_a, won_b, strict=True)] == [True] * len(nonces)
    finally:
        await a.aclose()
        await b.aclose()


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from tpf.core.clock import FakeClock
    from tpf.stores.nonces import SqliteNonceGuard

    async def main(path, count, now_ms):
        guard = await SqliteNonceGuard.open(path, FakeClock(now_ms))
        print("ready", flush=True)
        sys.stdin.readline()  # "go": the parent's guard is open too
        won = await asyncio.gather(
            *(guard.claim(f"p-{i}", now_ms + 120_000) for i in range(count))
        )
        await guard.aclose()
        print(json.dumps(won), flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    """
)


async def test_two_processes_on_one_file_never_both_accept_a_nonce(
    clock: FakeClock, tmp_path: Path
) -> None:
    path, count = str(tmp_path / "nonces.sqlite3"), 300
    mine = await SqliteNonceGuard.open(path, clock)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        path,
        str(count),
        str(clock.now_ms()),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        expires = clock.now_ms() + TOLERANCE_MS
        won_here = await asyncio.gather(*(mine.claim(f"p-{i}", expires) for i in range(count)))
        won_there = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
        assert await asyncio.wait_for(child.wait(), 60) == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await mine.aclose()
    assert [x != y for x, y in zip(won_here, won_there, strict=True)] == [True] * count


def _rows(path: str) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM nonces").fetchone()
    return int(count)


async def test_sqlite_purges_expired_rows_in_bounded_batches(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = str(tmp_path / "nonces.sqlite3")
    guard = await SqliteNonceGuard.open(path, clock, purge_interval_ms=30_000, purge_batch=10)
    try:
        start = clock.now_ms()
        for i in range(25):
            assert await guard.claim(f"old-{i}", start + 1_000)
        assert guard.purged == 0  # nothing had expired at the first claim's purge
        clock.advance(2_000)  # every old nonce has expired, but the interval has not passed
        assert await guard.claim("new-0", clock.now_ms() + TOLERANCE_MS)
        assert guard.purged == 0 and _rows(path) == 26  # no purge on every claim
        clock.advance(30_000)
        assert await guard.claim("new-1", clock.now_ms() + TOLERANCE_MS)
        assert guard.purged == 10  # one batch
        # A full batch: more may be left, so the next claims go on purging, batch by batch.
        assert await guard.claim("new-2", clock.now_ms() + TOLERANCE_MS)
        assert await guard.claim("new-3", clock.now_ms() + TOLERANCE_MS)
        assert guard.purged == 25
        assert await guard.claim("new-4", clock.now_ms() + TOLERANCE_MS)
        assert guard.purged == 25  # a short batch: back to once per interval
        assert _rows(path) == 5  # only the live nonces are left
        assert not await guard.claim("new-0", clock.now_ms() + TOLERANCE_MS)
    finally:
        await guard.aclose()


async def test_a_replay_to_another_replica_is_refused(clock: FakeClock, tmp_path: Path) -> None:
    """Two worker replicas verifying with guards on one file: the signed request one accepted
    is ``replayed`` at the other (the original accepts it: spec §7.2 GAP)."""
    path = str(tmp_path / "nonces.sqlite3")
    one = await SqliteNonceGuard.open(path, clock)
    two = await SqliteNonceGuard.open(path, clock)
    try:
        replicas = [Verifier("worker-secret", clock, guard) for guard in (one, two)]
        body = b'{"tenantId":"tenant-1"}'
        stamp = Signer("worker-secret", clock).stamp("POST", "/execute", body)
        request = ("POST", "/execute", body, stamp.timestamp, stamp.nonce, stamp.signature)
        await replicas[0].verify(*request)
        with pytest.raises(SignatureRejected) as refused:
            await replicas[1].verify(*request)
        assert refused.value.reason == "replayed"
    finally:
        await one.aclose()
        await two.aclose()
