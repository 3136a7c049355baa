"""Key formats of the DynamoDB layout (spec §9), in one place.

Composite strings that join caller-supplied values use the original's length-prefix encoding
(``"{len(a)}:{a}:{len(b)}:{b}"``), so no separator inside a tenant or id can make two different
pairs collide. Index partitions that every coordinator writes (due executions, overdue
interactions, dead letters, unapplied resolutions) are split into ``dynamo_shards`` shards by a
stable hash of the item's identity: a hot single partition key (the original's ``"active"``)
caps the whole fleet's write rate at one partition's.
"""

from __future__ import annotations

import zlib

# Java's Integer.MAX_VALUE: the original's by-unit sort position for scalar (non-item) awaits.
SCALAR_ITEM_INDEX = 2_147_483_647


def scoped(*parts: str) -> str:
    """``"{len(a)}:{a}:{len(b)}:{b}..."``: an unambiguous join of arbitrary strings."""
    return ":".join(f"{len(p)}:{p}" for p in parts)


def shard_of(tenant_id: str, item_id: str, shards: int) -> int:
    """A stable shard number in ``[0, shards)`` for one item.

    crc32, not ``hash()``: Python salts string hashes per process, and every coordinator must
    put the same item in the same shard (an item that moved shard on every write would be
    harmless for correctness but would churn the index).
    """
    return zlib.crc32(scoped(tenant_id, item_id).encode("utf-8")) % max(1, shards)


def padded(value: int) -> str:
    """A non-negative number as 19 digits, so string order is numeric order (``%019d``)."""
    return f"{max(0, value):019d}"


# --------------------------------------------------------------------------- executions


def execution_key(tenant_id: str, key: str) -> str:
    """``tpf_execution_key`` hash key: the tenant-scoped idempotency key."""
    return scoped(tenant_id, key)


def search_partition(tenant_id: str, shard: int, *filters: str) -> str:
    """A search index partition: the tenant, the filter values the index keys on, the shard."""
    return scoped(tenant_id, *filters, str(shard))


def search_sort(updated_at_epoch_ms: int, execution_id: str) -> str:
    """The search indexes' sort key: string order is ``(updated_at, execution_id)`` order."""
    return f"{padded(updated_at_epoch_ms)}#{execution_id}"


def execution_partition(tenant_id: str, execution_id: str) -> str:
    """The interaction-by-execution index partition."""
    return scoped(tenant_id, execution_id)


def item_partition(tenant_id: str, execution_id: str) -> str:
    """``tpf_execution_item`` hash key: the execution whose items the partition holds."""
    return scoped(tenant_id, execution_id)


def due_shard(shard: int) -> str:
    return f"due#{shard}"


def dead_letter_shard(shard: int) -> str:
    return f"dlq#{shard}"


def payload_part(index: int) -> str:
    return f"CHUNK#{index:08d}"


MANIFEST = "MANIFEST"


# --------------------------------------------------------------------------- interactions


def correlation_lookup(tenant_id: str, correlation_id: str) -> str:
    """``tpf_await_interaction_key`` hash key for a correlation id (spec §9)."""
    return f"correlation:{scoped(tenant_id, correlation_id)}"


def unit_sort(item_index: int | None, causation_id: str, interaction_id: str) -> str:
    index = SCALAR_ITEM_INDEX if item_index is None else item_index
    return f"{index:010d}#{causation_id}#{interaction_id}"


def pending_sort(deadline_epoch_ms: int, interaction_id: str) -> str:
    """Pending-by-* sort key: deadline order, then interaction id (fixed-width prefix)."""
    return f"{padded(deadline_epoch_ms)}#{interaction_id}"


def deadline_shard(shard: int) -> str:
    """Overdue index partition: the original's ``"active"``, sharded."""
    return f"active#{shard}"


def deadline_sort(deadline_epoch_ms: int, tenant_id: str, interaction_id: str) -> str:
    return f"{padded(deadline_epoch_ms)}#{tenant_id}#{interaction_id}"


def deadline_upper_bound(now_ms: int) -> str:
    """Every ``deadline_sort`` with a deadline ``<= now_ms`` is strictly below this string."""
    return padded(now_ms + 1)


def unapplied_shard(shard: int) -> str:
    return f"unapplied#{shard}"


def undispatched_shard(shard: int) -> str:
    """The dispatch outbox's partitions, in the unapplied index (see :mod:`.awaits`)."""
    return f"undispatched#{shard}"


def held_partition(shard: int) -> str:
    """``tenant_id`` of held completions' items in the interaction table: never a tenant's
    (their items are told apart by ``hold_json`` too, see :mod:`.held`)."""
    return f"#held#{shard}"


# --------------------------------------------------------------------------- registries


def registry_key(tenant_id: str, pipeline_id: str) -> str:
    """Release and worker registry partition: ``"{tenant}#{pipeline}"`` as the original."""
    return f"{tenant_id}#{pipeline_id}"


def release_sort(release_version: str) -> str:
    return f"release:{release_version}"


ACTIVATION_PREFIX = "activation:"
RELEASE_PREFIX = "release:"


def activation_sort(at_epoch_ms: int, release_version: str) -> str:
    return f"{ACTIVATION_PREFIX}{padded(at_epoch_ms)}:{release_version}"


def worker_prefix(worker_id: str) -> str:
    return f"worker:{worker_id}:"


def worker_event_sort(worker_id: str, at_epoch_ms: int, seq: str, event_type: str) -> str:
    return f"{worker_prefix(worker_id)}{padded(at_epoch_ms)}:{seq}:{event_type}"


def worker_snapshot_sort(worker_id: str) -> str:
    # Lower-case "snapshot" never equals an event's upper-case type suffix, so a snapshot key
    # cannot collide with any worker's event key.
    return f"{worker_prefix(worker_id)}snapshot"
