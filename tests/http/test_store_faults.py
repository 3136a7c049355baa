"""Store faults over real HTTP (issue 8, break 5): a failing state store answers 503
``STORE_UNAVAILABLE`` (retryable, generic message, no file path or endpoint URL), readiness is
DOWN while it fails and UP again once it works, liveness stays UP, and nothing accepted before
the fault is lost.

The faults are real: a full filesystem (a 4 MiB tmpfs mounted for the test; the suite runs as
root), a read-only database (SQLite's ``query_only`` on the store's live connection: as root a
``chmod`` stops nothing), a page of the database file overwritten under the running server, and
a DynamoDB endpoint that goes away mid-run.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws import reset_moto
from tests.http.conftest import ORDER, PIPELINE_ID, Api, ApiFactory, ok, order_envelope
from tests.tmpfs import mounted_tmpfs
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.core.errors import STORE_UNAVAILABLE_MESSAGE
from tpf.stores.dynamo import create_tables
from tpf.stores.sqlite import SqliteDatabase

SQLITE = {"state__provider": "sqlite"}
LIVE, READY = "/q/health/live", "/q/health/ready"


def database(api: Api) -> SqliteDatabase:
    db: SqliteDatabase = api.coordinator.stores.executions._db  # type: ignore[attr-defined]
    return db


async def readiness(api: Api) -> tuple[int, str]:
    response = await api.raw("GET", READY)
    return response.status, (await response.json())["status"]


async def until_ready(api: Api, timeout_s: float = 10.0) -> None:
    """Poll readiness (probes are paced at one a second) until UP."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await readiness(api) != (200, "UP"):
        assert loop.time() < deadline, "readiness did not come back UP"
        await asyncio.sleep(0.05)  # readiness is read over HTTP: there is no event to await


async def assert_store_unavailable(call: Any, *hidden: str) -> None:
    """``call`` answers 503 STORE_UNAVAILABLE with a Retry-After and none of ``hidden``."""
    response = await call
    body = await response.text()
    assert response.status == 503, body
    assert response.headers.get("Retry-After") == "1"
    assert json.loads(body) == {
        "error": {"code": "STORE_UNAVAILABLE", "message": STORE_UNAVAILABLE_MESSAGE}
    }
    for secret in hidden:
        assert secret not in body


async def test_a_read_only_database_is_503_and_not_ready_until_writable(
    make_api: ApiFactory,
) -> None:
    api = await make_api(**SQLITE)
    await api.release()
    accepted = await api.submit()
    await api.parked(accepted)
    conn = await database(api).run(lambda conn: conn)
    await database(api).run(lambda c: c.execute("PRAGMA query_only = 1").fetchall())

    state_dir = str(api.tmp)
    await assert_store_unavailable(api.cp("POST", "/executions", json=_order(1)), state_dir)
    await assert_store_unavailable(api.cp("GET", f"/executions/{accepted}"), state_dir)
    assert await readiness(api) == (503, "DOWN")
    assert (await ok(api.raw("GET", LIVE)))["status"] == "UP"

    await asyncio.to_thread(lambda: conn.execute("PRAGMA query_only = 0").fetchall())
    await until_ready(api)  # nothing else writes: readiness' own probe write found it works
    assert (await api.wait_status(accepted))["status"] == "WAITING_EXTERNAL"
    assert (await api.wait_status(await api.submit()))["status"] == "WAITING_EXTERNAL"


async def test_a_page_corrupted_under_the_live_server_is_503_not_500(
    make_api: ApiFactory,
) -> None:
    api = await make_api(**SQLITE)
    await api.release()
    accepted = await api.submit()
    await api.parked(accepted)
    db = database(api)
    path = Path(db.path)
    # Wait for the WAL to be checkpointed into the file (a second after writes pause), so the
    # next commit restarts the WAL and the page is read from the file again.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while not await asyncio.to_thread(_fully_checkpointed, path):
        assert loop.time() < deadline, "the WAL was not checkpointed"
        await asyncio.sleep(0.05)  # polling the file: the checkpoint has no event to await
    root = await db.run(
        lambda c: c.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'executions'"
        ).fetchone()[0]
    )
    original = _overwrite_page(path, root, b"\xa5" * 512)
    await asyncio.to_thread(_commit_elsewhere, path)  # the server's cached pages are now stale

    await assert_store_unavailable(api.cp("GET", f"/executions/{accepted}"), str(path))
    assert await readiness(api) == (503, "DOWN")

    _overwrite_page(path, root, original)  # the operator restored it
    await asyncio.to_thread(_commit_elsewhere, path)
    await until_ready(api)
    assert (await api.wait_status(accepted))["status"] == "WAITING_EXTERNAL"


def _fully_checkpointed(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    with sqlite3.connect(path) as conn:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()
    return wal.exists() and busy == 0 and frames == copied


def _commit_elsewhere(path: Path) -> None:
    """A write by another connection: the server's connection drops its page cache."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("UPDATE store_probe SET n = n + 1")
    finally:
        conn.close()


def _overwrite_page(path: Path, page: int, data: bytes) -> bytes:
    with path.open("r+b") as f:
        f.seek((page - 1) * 4096)
        previous = f.read(len(data))
        f.seek((page - 1) * 4096)
        f.write(data)
    return previous


def _order(n: int = 0) -> dict[str, Any]:
    """A submit body; each ``n`` a distinct order (an accepted one, not a duplicate)."""
    envelope = order_envelope({**ORDER, "requestId": f"req-faults-{n}"})
    return {"pipelineId": PIPELINE_ID, "inputShape": "UNI", "inputPayload": envelope}


# ------------------------------------------------------------------------------ disk full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a filesystem that really fills up (ENOSPC), unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "disk") as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; returns the file to delete to free them."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):  # smaller and smaller, to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_is_503_and_not_ready_until_space_is_freed(
    small_disk: Path, make_api: ApiFactory
) -> None:
    api = await make_api(state__dir=str(small_disk / "state"), **SQLITE)
    await api.release()
    before = await api.submit()
    await api.parked(before)
    filler = fill(small_disk)

    # The WAL may still have room from before (it is reused after a checkpoint), so submit
    # until the disk refuses; every submit it accepted must survive.
    accepted = [before]
    for n in range(1, 500):
        response = await api.cp("POST", "/executions", json=_order(n))
        if response.status == 503:
            break
        assert response.status == 200, await response.text()
        accepted.append((await response.json())["executionId"])
    else:
        pytest.fail("the disk never filled up")
    await assert_store_unavailable(api.cp("POST", "/executions", json=_order(500)), str(small_disk))
    assert await readiness(api) == (503, "DOWN")
    assert (await ok(api.raw("GET", LIVE)))["status"] == "UP"

    filler.unlink()
    await until_ready(api)
    for execution_id in accepted:
        status = await api.wait_status(execution_id)
        assert status["status"] == "WAITING_EXTERNAL", status
    assert (await api.wait_status(await api.submit()))["status"] == "WAITING_EXTERNAL"


# ------------------------------------------------------------------------------ DynamoDB


class Proxy:
    """A TCP forwarder to ``target`` on its own port; :meth:`cut` is the outage: the port
    closes (new connections are refused) and every open connection is dropped."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()


@pytest.fixture
async def dynamo_proxy(moto_endpoint: str) -> AsyncIterator[Proxy]:
    """The test's DynamoDB endpoint: a proxy to a freshly reset moto server."""
    reset_moto(moto_endpoint)
    host, _, port = moto_endpoint.removeprefix("http://").partition(":")
    proxy = Proxy(host, int(port))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()


async def test_a_dynamodb_outage_is_503_without_the_endpoint_and_not_ready(
    dynamo_proxy: Proxy, make_api: ApiFactory
) -> None:
    endpoint = f"http://127.0.0.1:{dynamo_proxy.port}"
    dynamo: dict[str, Any] = {
        "state__provider": "dynamo",
        "dynamo__region": "us-east-1",
        "dynamo__endpoint_override": endpoint,
    }
    settings = Settings().replace(**dynamo)
    clients = AwsClients(settings)
    try:
        await create_tables(await clients.client("dynamodb"), settings)
    finally:
        await clients.close()
    api = await make_api(**dynamo)
    await api.release()
    accepted = await api.submit()
    await api.parked(accepted)
    assert await readiness(api) == (200, "UP")

    await dynamo_proxy.cut()
    await assert_store_unavailable(
        api.cp("GET", f"/executions/{accepted}"), endpoint, str(dynamo_proxy.port), "127.0.0.1"
    )
    assert await readiness(api) == (503, "DOWN")
    assert (await ok(api.raw("GET", LIVE)))["status"] == "UP"
