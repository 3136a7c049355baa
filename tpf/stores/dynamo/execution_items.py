"""Execution records <-> ``tpf_execution`` items.

The record is stored whole as JSON in ``record_json``, next to the attributes that keys,
indexes and conditions use. Six of those attributes are *authoritative* over the JSON:
``status``, ``version``, ``lease_owner``, ``lease_expires_epoch_ms``, ``next_due_epoch_ms`` and
``updated_at_epoch_ms``. That is what lets a lease claim or renewal be ONE conditional
``UpdateItem`` on attributes (no read-then-write), while every other change rewrites the item.

Sparse index keys: ``due_shard`` exists only while the status is claimable (the due index holds
exactly the executions the sweeper may need to re-dispatch) and ``dead_letter_shard`` only while
an envelope waits to be published.
"""

from __future__ import annotations

from msgspec.structs import replace

from tpf.core.records import CLAIMABLE_STATUSES, TERMINAL_STATUSES, ExecutionRecord, ExecutionStatus
from tpf.stores.dynamo import keys
from tpf.stores.dynamo.codec import (
    Item,
    N,
    S,
    execution_from_json,
    get_n,
    get_s,
    opt_n,
    opt_s,
    put_opt_s,
    to_json_bytes,
)
from tpf.stores.dynamo.payloads import ITEM_BUDGET_BYTES, PayloadRef
from tpf.stores.dynamo.status_counts import COUNTED
from tpf.stores.rules import dead_letter_key

# ``context`` (issue 13): the step outputs kept for later steps' StepContext, up to 256 KiB by
# default, so it too moves to chunks when the item would be too big.
PAYLOAD_SLOTS = ("input", "result", "context")
_CLAIMABLE_VALUES = tuple(sorted(s.value for s in CLAIMABLE_STATUSES))
_TERMINAL_VALUES = tuple(sorted(s.value for s in TERMINAL_STATUSES))

CLAIMABLE = "#status IN (" + ", ".join(f":c{i}" for i in range(len(_CLAIMABLE_VALUES))) + ")"
TERMINAL = "#status IN (" + ", ".join(f":t{i}" for i in range(len(_TERMINAL_VALUES))) + ")"
# Condition fragments shared by the execution store's writes (spec §3.9: every conditional
# write is also conditional on the TTL not having passed). Only a terminal record expires: items
# written by older versions carry a submit-time TTL on live executions too, and it is ignored.
TTL_LIVE = f"(attribute_not_exists(ttl_epoch_s) OR ttl_epoch_s > :now_s OR NOT ({TERMINAL}))"
TTL_EXPIRED = f"(ttl_epoch_s > :zero AND ttl_epoch_s <= :now_s AND {TERMINAL})"
NAMES = {"#status": "status", "#version": "version"}
STATUS_NAMES = {"#status": "status"}


def claimable_values() -> dict[str, dict[str, str]]:
    return {f":c{i}": S(value) for i, value in enumerate(_CLAIMABLE_VALUES)}


def terminal_values() -> dict[str, dict[str, str]]:
    return {f":t{i}": S(value) for i, value in enumerate(_TERMINAL_VALUES)}


def native_ttl(record: ExecutionRecord) -> int:
    """The DynamoDB TTL attribute ``record``'s items carry: its TTL once terminal, else none.

    ``ttl_epoch_s`` is the tables' native TTL, so DynamoDB itself deletes an item whose time
    has passed. A live execution must never carry it (on its item, its key row or its payload
    chunks), whatever its record says: the record JSON keeps the value as given, the attribute
    is written only for a terminal record.
    """
    return record.ttl_epoch_s if record.terminal else 0


def key_of(tenant_id: str, execution_id: str) -> Item:
    return {"tenant_id": S(tenant_id), "execution_id": S(execution_id)}


def now_s(now_ms: int) -> int:
    """``ttl_epoch_s > now_s`` iff ``ttl_epoch_s * 1000 > now_ms`` (the store's liveness rule)."""
    return now_ms // 1000


def item_expired(item: Item, now_ms: int) -> bool:
    """:func:`tpf.stores.rules.is_expired` on an item's attributes (authoritative status)."""
    ttl = opt_n(item, "ttl_epoch_s")
    return ttl > 0 and ttl * 1000 <= now_ms and get_s(item, "status") in _TERMINAL_VALUES


def split_payloads(record: ExecutionRecord) -> tuple[bytes, dict[str, bytes]]:
    """``(record_json, payloads to chunk by slot)``: inline unless the item would be too big.

    The larger payload goes out first, and the smaller one only if the record still does not
    fit, so most big records keep one payload inline.
    """
    encoded = to_json_bytes(record)
    if len(encoded) <= ITEM_BUDGET_BYTES:
        return encoded, {}
    slots = {
        "input": to_json_bytes(record.input_payload),
        "result": to_json_bytes(record.result_payload),
        "context": to_json_bytes(record.context_payload),
    }
    moved: dict[str, bytes] = {}
    for slot in sorted(slots, key=lambda s: len(slots[s]), reverse=True):
        moved[slot] = slots[slot]
        record = replace(record, **{f"{slot}_payload": None})
        encoded = to_json_bytes(record)
        if len(encoded) <= ITEM_BUDGET_BYTES:
            break
    return encoded, moved


def search_attributes(record: ExecutionRecord, search_shards: int) -> Item:
    """The search indexes' keys (issue 12): every execution is in the tenant's index and in
    the by-status and by-pipeline ones, in the shard of its id (``dynamo/search.py``)."""
    r = record
    shard = keys.shard_of(r.tenant_id, r.execution_id, search_shards)
    return {
        "search_key": S(keys.search_partition(r.tenant_id, shard)),
        "search_status_key": S(keys.search_partition(r.tenant_id, shard, r.status.value)),
        "search_pipeline_key": S(keys.search_partition(r.tenant_id, shard, r.pipeline_id)),
        "search_sort": S(keys.search_sort(r.updated_at_epoch_ms, r.execution_id)),
    }


def to_item(
    record: ExecutionRecord,
    record_json: bytes,
    refs: dict[str, PayloadRef],
    shards: int,
    search_shards: int,
) -> Item:
    r = record
    item: Item = {
        "tenant_id": S(r.tenant_id),
        "execution_id": S(r.execution_id),
        "execution_key": S(r.execution_key),
        "pipeline_id": S(r.pipeline_id),
        "release_version": S(r.release_version),
        "status": S(r.status.value),
        "version": N(r.version),
        "current_step_index": N(r.current_step_index),
        "attempt": N(r.attempt),
        "lease_expires_epoch_ms": N(r.lease_expires_epoch_ms),
        "next_due_epoch_ms": N(r.next_due_epoch_ms),
        "created_at_epoch_ms": N(r.created_at_epoch_ms),
        "updated_at_epoch_ms": N(r.updated_at_epoch_ms),
        "record_json": S(record_json.decode("utf-8")),
    }
    put_opt_s(item, "lease_owner", r.lease_owner)
    put_opt_s(item, "error_code", r.error_code)
    put_opt_s(item, "current_step_id", r.current_step_id)
    item.update(search_attributes(r, search_shards))
    item[COUNTED] = N(1)
    if native_ttl(r) > 0:  # absent = never expires (the original's attribute_not_exists)
        item["ttl_epoch_s"] = N(r.ttl_epoch_s)
    shard = keys.shard_of(r.tenant_id, r.execution_id, shards)
    if r.status in CLAIMABLE_STATUSES:
        item["due_shard"] = S(keys.due_shard(shard))
    pending = dead_letter_key(r)
    if pending is not None:
        item["dead_letter_shard"] = S(keys.dead_letter_shard(shard))
        item["dead_letter_key"] = S(pending)
        item["dead_letter_count"] = N(len(r.dead_letters))
    for slot, ref in refs.items():
        item[f"{slot}_payload_reference"] = S(ref.payload_id)
        item[f"{slot}_payload_digest"] = S(ref.digest)
    return item


def key_item(record: ExecutionRecord) -> Item:
    """The ``tpf_execution_key`` row naming ``record`` as its key's execution."""
    item: Item = {
        "tenant_execution_key": S(keys.execution_key(record.tenant_id, record.execution_key)),
        "tenant_id": S(record.tenant_id),
        "execution_id": S(record.execution_id),
        "created_at_epoch_ms": N(record.created_at_epoch_ms),
        "updated_at_epoch_ms": N(record.updated_at_epoch_ms),
    }
    if native_ttl(record) > 0:  # a live execution's key row must not expire: dedupe needs it
        item["ttl_epoch_s"] = N(record.ttl_epoch_s)
    return item


def payload_refs(item: Item) -> dict[str, PayloadRef]:
    refs: dict[str, PayloadRef] = {}
    for slot in PAYLOAD_SLOTS:
        pid = opt_s(item, f"{slot}_payload_reference")
        if pid is not None:
            refs[slot] = PayloadRef(pid, get_s(item, f"{slot}_payload_digest"))
    return refs


def base_record(item: Item) -> ExecutionRecord:
    """The record without its chunked payloads (``None`` in their slots)."""
    record = execution_from_json(get_s(item, "record_json"))
    return replace(
        record,
        status=ExecutionStatus(get_s(item, "status")),
        version=get_n(item, "version"),
        lease_owner=opt_s(item, "lease_owner"),
        lease_expires_epoch_ms=get_n(item, "lease_expires_epoch_ms"),
        next_due_epoch_ms=get_n(item, "next_due_epoch_ms"),
        updated_at_epoch_ms=get_n(item, "updated_at_epoch_ms"),
    )


def expired_values(now_ms: int) -> Item:
    """Expression values of :data:`TTL_EXPIRED` at ``now_ms`` (names: :data:`STATUS_NAMES`)."""
    return {":zero": N(0), ":now_s": N(now_s(now_ms)), **terminal_values()}


def live_values(now_ms: int) -> Item:
    """Expression values of :data:`TTL_LIVE` at ``now_ms`` (names: :data:`STATUS_NAMES`)."""
    return {":now_s": N(now_s(now_ms)), **terminal_values()}


def retake_key(table: str, key_row: Item, old_execution_id: str) -> Item:
    """Transaction action: point the key row at a new execution, iff it still names the old."""
    return {
        "Put": {
            "TableName": table,
            "Item": key_row,
            "ConditionExpression": "execution_id = :old",
            "ExpressionAttributeValues": {":old": S(old_execution_id)},
        }
    }


def delete_expired(table: str, key: Item, now_ms: int) -> Item:
    """Transaction action: delete an execution iff its TTL has passed."""
    return {
        "Delete": {
            "TableName": table,
            "Key": key,
            "ConditionExpression": TTL_EXPIRED,
            "ExpressionAttributeNames": STATUS_NAMES,
            "ExpressionAttributeValues": expired_values(now_ms),
        }
    }


def dead_letter_update(cleared: ExecutionRecord) -> tuple[str, Item]:
    """``(update expression, values)`` writing ``cleared``'s JSON and dead-letter attributes.

    Only these change: the lease attributes are left alone, so a renewal racing with the
    publication of a dead letter survives it.
    """
    values: Item = {":json": S(to_json_bytes(cleared).decode("utf-8"))}
    pending = dead_letter_key(cleared)
    if pending is None:
        return (
            "SET record_json = :json REMOVE dead_letter_shard, dead_letter_key, dead_letter_count",
            values,
        )
    values |= {":key": S(pending), ":n": N(len(cleared.dead_letters))}
    return "SET record_json = :json, dead_letter_key = :key, dead_letter_count = :n", values
