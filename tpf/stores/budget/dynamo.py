"""``DynamoAdmissionBudget``: fixed slots in a DynamoDB table, one bound for every coordinator.

The original's layout (spec §4.9): table ``tpf_await_admission``, ``scope_key`` (S, hash) and
``slot`` (N, range) in ``[0, capacity)``; a slot item holds ``owner_key``, ``lease_token`` (one
per claim) and ``expires_at`` (epoch seconds, rounded up; also the table's native TTL attribute,
so DynamoDB eventually deletes slots nobody released). We add ``expires_at_ms``, the exact
expiry the conditions compare, so a lease ends at the millisecond the caller gave (the memory
budget's behaviour); an item without it (written by the original) is compared by seconds.

Because the slots are numbered, ``capacity`` can never be exceeded: a claim is a conditional
``PutItem`` on one slot, which succeeds only if the slot is absent, expired, or already this
owner's. Each owner probes the slots in its own order, ``floorMod(sha256(owner) + offset,
capacity)`` (sha256: Python's ``hash`` is salted per process, and every coordinator must agree),
so concurrent acquirers start on different slots and rarely collide.

Finding an owner's existing slot: we read the scope's partition (one strongly consistent
Query) instead of walking the owner's probe order or keeping an owner→slot mapping item. A
probe-order walk cannot stop at the first free slot (the owner may hold a later one that was
probed while earlier ones were taken and have since been freed), so it costs up to
``capacity`` reads; a mapping item doubles every claim and release into a transaction. One
Query of at most ``capacity`` small items (~100 bytes each: one page up to thousands of slots)
also shows which slots are free, so claims go to slots known free instead of blind probing.

Two coordinators acquiring for the same owner at once (a takeover racing the old owner) usually
meet on the same slot, which the condition lets the owner re-claim; if they land on two, the
owner holds two slots (the budget under-admits by one, it never over-admits) until its next
acquire (which keeps the one first in its probe order and frees the rest, spec's "reconciled")
or its release (which frees all of them).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from typing import Any

from tpf.stores.budget.base import check_capacity
from tpf.stores.dynamo.client import CheckFailed, Dynamo
from tpf.stores.dynamo.codec import Item, N, S, get_n, get_s
from tpf.stores.health import StoreHealth

# Free for this owner: no item, an expired one (by ms, or by seconds for the original's items),
# or one it already holds.
_CLAIMABLE = (
    "attribute_not_exists(scope_key) OR expires_at_ms < :now_ms"
    " OR (attribute_not_exists(expires_at_ms) AND expires_at < :now_s)"
    " OR owner_key = :owner"
)
_HELD_BY = "owner_key = :owner AND lease_token = :token"
_NAMES = {"#slot": "slot"}
_PROJECTION = "#slot, owner_key, lease_token, expires_at, expires_at_ms"
# Reads of the scope per acquire: after a round in which every slot seen free was taken by
# someone else, the next read almost always shows the scope full, so a few rounds suffice.
_ROUNDS = 3


def probe_order(owner: str, capacity: int) -> list[int]:
    """The slots ``owner`` tries, in order: ``floorMod(hash(owner) + offset, capacity)``."""
    start = int.from_bytes(hashlib.sha256(owner.encode("utf-8")).digest()[:8], "big")
    return [(start + offset) % capacity for offset in range(capacity)]


def _expiry_ms(item: Item) -> int:
    if "expires_at_ms" in item:
        return get_n(item, "expires_at_ms")
    # The original's item: whole seconds; it is expired once ``expires_at < now_s``.
    return get_n(item, "expires_at") * 1000 + 999


def _unexpired(item: Item, now_ms: int) -> bool:
    return _expiry_ms(item) >= now_ms


class DynamoAdmissionBudget:
    """An :class:`~tpf.stores.budget.base.AdmissionBudget` on a DynamoDB table shared by every
    coordinator (``pipeline.orchestrator.dynamo.await-admission-table``)."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = Dynamo(client)
        self._table = table

    @property
    def health(self) -> StoreHealth:
        return self._db.health

    async def acquire(
        self, scope: str, owner: str, capacity: int, now_ms: int, expires_at_ms: int
    ) -> bool:
        check_capacity(capacity)
        order = probe_order(owner, capacity)
        for _ in range(_ROUNDS):
            items = await self._slots(scope)
            mine = [item for item in items if get_s(item, "owner_key") == owner]
            if mine:
                if await self._reuse(scope, mine, order, expires_at_ms):
                    return True
                continue  # released or taken over meanwhile: look again
            held = {get_n(item, "slot") for item in items if _unexpired(item, now_ms)}
            free = [slot for slot in order if slot not in held]
            if not free:
                return False
            for slot in free:
                if await self._claim(scope, slot, owner, now_ms, expires_at_ms):
                    return True
        # Every slot this call saw free went to others: the scope was full while it looked.
        return False

    async def release(self, scope: str, owner: str) -> None:
        # Every slot the owner holds (normally one; two after a same-owner race), each deleted
        # only if it is still the claim we read: a slot that expired and was claimed by another
        # owner, or re-claimed by this one with a new token, in between is left alone.
        for item in await self._slots(scope):
            if get_s(item, "owner_key") == owner:
                await self._free(scope, item)

    async def in_use(self, scope: str, now_ms: int) -> int:
        return sum(1 for item in await self._slots(scope) if _unexpired(item, now_ms))

    async def _slots(self, scope: str) -> list[Item]:
        return await self._db.query_all(
            self._table,
            "scope_key = :scope",
            {":scope": S(scope)},
            names=_NAMES,
            consistent=True,  # a stale read would only cost a lost claim, but reuse needs truth
            projection=_PROJECTION,
        )

    async def _claim(
        self, scope: str, slot: int, owner: str, now_ms: int, expires_at_ms: int
    ) -> bool:
        item = {
            "scope_key": S(scope),
            "slot": N(slot),
            "owner_key": S(owner),
            "lease_token": S(uuid.uuid4().hex),
            "expires_at": N(_seconds(expires_at_ms)),
            "expires_at_ms": N(expires_at_ms),
            "acquired_at_ms": N(now_ms),
        }
        try:
            await self._db.put_item(
                self._table,
                item,
                condition=_CLAIMABLE,
                values={
                    ":now_ms": N(now_ms),
                    ":now_s": N(now_ms // 1000),
                    ":owner": S(owner),
                },
            )
        except CheckFailed:
            return False  # another owner holds it, unexpired
        return True

    async def _reuse(
        self, scope: str, mine: list[Item], order: list[int], expires_at_ms: int
    ) -> bool:
        """Extend the owner's slot (never shortening it) and free any duplicates."""
        rank = {slot: index for index, slot in enumerate(order)}
        # The first in probe order, so racing coordinators keep the same one; a slot beyond
        # the capacity (it was lowered) goes last, to drain.
        mine = sorted(mine, key=lambda item: rank.get(get_n(item, "slot"), len(order)))
        keep, extra = mine[0], mine[1:]
        expiry = max(_expiry_ms(keep), expires_at_ms)
        try:
            await self._db.update_item(
                self._table,
                {"scope_key": S(scope), "slot": keep["slot"]},
                "SET expires_at = :s, expires_at_ms = :ms",
                condition=_HELD_BY,
                values={
                    ":s": N(_seconds(expiry)),
                    ":ms": N(expiry),
                    ":owner": keep["owner_key"],
                    ":token": keep["lease_token"],
                },
            )
        except CheckFailed:
            return False
        for item in extra:
            await self._free(scope, item)
        return True

    async def _free(self, scope: str, item: Item) -> None:
        # A lost condition: no longer that claim (someone else's now, or already freed).
        with contextlib.suppress(CheckFailed):
            await self._db.delete_item(
                self._table,
                {"scope_key": S(scope), "slot": item["slot"]},
                condition=_HELD_BY,
                values={":owner": item["owner_key"], ":token": item["lease_token"]},
            )


def _seconds(ms: int) -> int:
    return -(-ms // 1000)  # rounded up: native TTL must never delete a slot before its expiry
