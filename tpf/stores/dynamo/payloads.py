"""Chunked execution payloads in ``tpf_execution_payload`` (spec §9).

A DynamoDB item holds at most 400 KB, so an execution whose input or result would push its item
past :data:`ITEM_BUDGET_BYTES` keeps that payload here instead: immutable ``CHUNK#%08d`` parts
(``payload_bytes``, at most :data:`CHUNK_BYTES` each) plus a ``MANIFEST`` (length, chunk count,
sha256). The id is content-derived, ``"p-" + sha256(tenant \\0 execution \\0 slot \\0 sha)``, so
writing the same payload again is idempotent and a reader can trust a cached copy forever.

Write order, so that no reference can name a payload that is not all there: every chunk first
(``BatchWriteItem`` is not atomic; its ``UnprocessedItems`` are retried with backoff until all
landed, else :class:`~tpf.errors.RetryableError`), then the manifest, alone and conditional,
then the execution item that references it. A manifest therefore proves that its chunks landed;
a crash leaves at worst chunks without a manifest, which the next write of the same payload
completes (it looks which parts are stored and writes only the missing ones, which also repairs
a manifest an older version wrote in the same batch as chunks that never landed). Reads verify
too: every chunk the manifest counts, the total length and the sha256 must match, or the read
fails with ``PAYLOAD_CORRUPT``; a payload is never returned truncated.

Retention follows the execution (``ttl_epoch_s`` is the table's native TTL): the chunks of a live
execution carry no TTL, since DynamoDB deleting one would corrupt a record that is still running
or parked. The commit that makes the execution terminal sets its TTL on every chunk in the same
transaction (:meth:`PayloadStore.ttl_actions`), and a re-drive removes it (:meth:`keep`) before
the execution is live again. The price: chunks orphaned by a crash between the chunk writes and
the item write of a live execution are never collected (a leak, bounded by such crashes), which
is preferable to a TTL that could delete what a live execution references.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

from tpf.core.errors import StoreUnavailable
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.client import CheckFailed, Dynamo
from tpf.stores.dynamo.codec import B, Item, N, S, get_b, get_n, get_s

LOG = logging.getLogger("tpf.store.dynamo.payloads")

CHUNK_BYTES = 256 * 1024
# The record JSON may use this much of an item; the indexed attributes need far less than the
# remaining ~50 KB of DynamoDB's 400 KB limit.
ITEM_BUDGET_BYTES = 350_000
_CACHE_BYTES = 64 * 1024 * 1024
_CACHE_ENTRY_MAX = 16 * 1024 * 1024


@dataclass(frozen=True)
class PayloadRef:
    payload_id: str
    digest: str  # "sha256:<hex>" of the payload bytes


def payload_id(tenant_id: str, execution_id: str, slot: str, content_sha: str) -> str:
    basis = "\0".join((tenant_id, execution_id, slot, content_sha)).encode("utf-8")
    return "p-" + hashlib.sha256(basis).hexdigest()


class PayloadStore:
    """Writes and reads chunked payloads, with a bounded cache of the ones it has seen."""

    def __init__(self, db: Dynamo, table: str) -> None:
        self._db = db
        self._table = table
        # payload id -> bytes, least recently used first. Content-addressed, so never stale.
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached_bytes = 0

    def _remember(self, pid: str, data: bytes) -> None:
        if len(data) > _CACHE_ENTRY_MAX:
            return
        if pid in self._cache:
            self._cache.move_to_end(pid)
            return
        self._cache[pid] = data
        self._cached_bytes += len(data)
        while self._cached_bytes > _CACHE_BYTES:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped)

    async def put(
        self, tenant_id: str, execution_id: str, slot: str, data: bytes, ttl_epoch_s: int
    ) -> PayloadRef:
        sha = hashlib.sha256(data).hexdigest()
        ref = PayloadRef(payload_id(tenant_id, execution_id, slot, sha), f"sha256:{sha}")
        if ref.payload_id in self._cache:
            self._cache.move_to_end(ref.payload_id)
            return ref  # written (or read) before: immutable, nothing to do
        # Another coordinator may have written it (every commit re-encodes the record), or a
        # crash may have left part of it: one query for the stored part names, then write only
        # what is missing, chunks before the manifest.
        stored = await self._stored_parts(ref)
        chunks = _split(data)
        missing = [
            self._chunk_item(ref, index, chunk, ttl_epoch_s)
            for index, chunk in enumerate(chunks)
            if keys.payload_part(index) not in stored
        ]
        if missing:
            # Retries unprocessed items with backoff, or raises RetryableError: then no manifest
            # is written and no record can reference the payload.
            await self._db.batch_put(self._table, missing)
        if keys.MANIFEST not in stored:
            with contextlib.suppress(CheckFailed):  # a concurrent writer of the same bytes won
                await self._db.put_item(
                    self._table,
                    self._manifest_item(ref, sha, len(data), len(chunks), ttl_epoch_s),
                    condition="attribute_not_exists(payload_id)",
                )
        self._remember(ref.payload_id, data)
        return ref

    async def _stored_parts(self, ref: PayloadRef) -> set[str]:
        """The ``payload_part`` of every stored item of the payload (consistent)."""
        items = await self._db.query_all(
            self._table,
            "payload_id = :id",
            {":id": S(ref.payload_id)},
            consistent=True,
            projection="payload_part",
        )
        return {get_s(item, "payload_part") for item in items}

    def _chunk_item(self, ref: PayloadRef, index: int, chunk: bytes, ttl_epoch_s: int) -> Item:
        item: Item = {
            "payload_id": S(ref.payload_id),
            "payload_part": S(keys.payload_part(index)),
            "payload_bytes": B(chunk),
        }
        if ttl_epoch_s > 0:
            item["ttl_epoch_s"] = N(ttl_epoch_s)
        return item

    def _manifest_item(
        self, ref: PayloadRef, sha: str, length: int, count: int, ttl_epoch_s: int
    ) -> Item:
        item: Item = {
            **self._manifest_key(ref),
            "payload_length_bytes": N(length),
            "chunk_count": N(count),
            "sha256": S(sha),
        }
        if ttl_epoch_s > 0:
            item["ttl_epoch_s"] = N(ttl_epoch_s)
        return item

    def _manifest_key(self, ref: PayloadRef) -> Item:
        return {"payload_id": S(ref.payload_id), "payload_part": S(keys.MANIFEST)}

    async def part_keys(self, ref: PayloadRef) -> list[Item]:
        """The keys of every stored item of the payload (chunks and manifest); none if absent."""
        cached = self._cache.get(ref.payload_id)
        if cached is not None:
            count = max(1, -(-len(cached) // CHUNK_BYTES))  # as _split splits it
        else:
            manifest = await self._db.get_item(
                self._table, self._manifest_key(ref), projection="chunk_count"
            )
            if manifest is None:
                return []
            count = get_n(manifest, "chunk_count")
        parts = [
            {"payload_id": S(ref.payload_id), "payload_part": S(keys.payload_part(index))}
            for index in range(count)
        ]
        return [*parts, self._manifest_key(ref)]

    def ttl_actions(self, part_keys: list[Item], ttl_epoch_s: int) -> list[Item]:
        """Transaction actions setting ``ttl_epoch_s`` on the given payload items."""
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": "SET ttl_epoch_s = :ttl",
                    # Never create a stray item: the chunks exist before any record names them.
                    "ConditionExpression": "attribute_exists(payload_id)",
                    "ExpressionAttributeValues": {":ttl": N(ttl_epoch_s)},
                }
            }
            for key in part_keys
        ]

    async def keep(self, ref: PayloadRef) -> None:
        """Remove the TTL from every item of the payload: a live execution references it."""

        async def strip(key: Item) -> None:
            with contextlib.suppress(CheckFailed):  # an item that is not there has no TTL
                await self._db.call(
                    "update_item",
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="REMOVE ttl_epoch_s",
                    ConditionExpression="attribute_exists(payload_id)",
                )

        await asyncio.gather(*(strip(key) for key in await self.part_keys(ref)))

    async def get(self, ref: PayloadRef) -> bytes:
        cached = self._cache.get(ref.payload_id)
        if cached is not None:
            self._cache.move_to_end(ref.payload_id)
            return cached
        items = await self._db.query_all(
            self._table, "payload_id = :id", {":id": S(ref.payload_id)}, consistent=True
        )
        parts = {get_s(item, "payload_part"): item for item in items}
        manifest = parts.get(keys.MANIFEST)
        if manifest is None:
            raise _corrupt(ref, "has no manifest")
        count = get_n(manifest, "chunk_count")
        absent = [i for i in range(count) if keys.payload_part(i) not in parts]
        if absent:
            raise _corrupt(ref, f"is incomplete: {len(absent)} of {count} chunks are missing")
        data = b"".join(get_b(parts[keys.payload_part(i)], "payload_bytes") for i in range(count))
        length = get_n(manifest, "payload_length_bytes")
        if len(data) != length:
            raise _corrupt(ref, f"has {len(data)} bytes where its manifest says {length}")
        sha = hashlib.sha256(data).hexdigest()
        if f"sha256:{sha}" != ref.digest or sha != get_s(manifest, "sha256"):
            raise _corrupt(ref, "does not match its digest")
        self._remember(ref.payload_id, data)
        return data


def _split(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]


class PayloadCorrupt(StoreUnavailable):
    """A stored payload failed its checks on read: a store fault (503, retryable: a chunk may
    still be landing), never a truncated payload and never a 500."""

    code = "PAYLOAD_CORRUPT"


def _corrupt(ref: PayloadRef, problem: str) -> PayloadCorrupt:
    detail = f"payload {ref.payload_id} {problem}"
    LOG.error("DynamoDB %s", detail)  # the client sees only the generic store message
    return PayloadCorrupt(detail)
