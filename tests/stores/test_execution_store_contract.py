"""The ExecutionStore contract, run against every implementation (see conftest)."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace

from tpf.core.errors import Conflict
from tpf.core.records import DeadLetterEnvelope, ExecutionRecord, ExecutionStatus
from tpf.stores.base import ExecutionStore

T0 = 1_760_000_000_000
TTL_S = T0 // 1000 + 7 * 86_400
LEASE = 30_000


def make(
    execution_id: str = "e1",
    key: str = "k1",
    *,
    tenant: str = "t1",
    status: ExecutionStatus = ExecutionStatus.QUEUED,
    next_due: int = T0,
    **fields: Any,
) -> ExecutionRecord:
    fields.setdefault("ttl_epoch_s", TTL_S)
    return ExecutionRecord(
        tenant_id=tenant,
        execution_id=execution_id,
        execution_key=key,
        pipeline_id="p",
        contract_version="c1",
        release_version="r1",
        status=status,
        next_due_epoch_ms=next_due,
        created_at_epoch_ms=T0,
        updated_at_epoch_ms=T0,
        input_payload={"n": 1},
        **fields,
    )


def dead_letter(transition_key: str) -> DeadLetterEnvelope:
    return DeadLetterEnvelope(
        tenant_id="t1",
        execution_id="e1",
        execution_key="k1",
        correlation_id="e1",
        transition_key=transition_key,
    )


async def test_create_then_get(execution_store: ExecutionStore) -> None:
    record = make()
    stored, duplicate = await execution_store.create_or_get(record, T0)
    assert (stored, duplicate) == (record, False)
    assert await execution_store.get("t1", "e1", T0) == record


async def test_create_duplicate_key_returns_existing(execution_store: ExecutionStore) -> None:
    first = make("e1", "k1")
    await execution_store.create_or_get(first, T0)
    stored, duplicate = await execution_store.create_or_get(make("e2", "k1"), T0 + 1)
    assert duplicate is True
    assert stored == first
    assert await execution_store.get("t1", "e2", T0) is None


async def test_same_key_in_other_tenant_is_distinct(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make("e1", "k1"), T0)
    _, duplicate = await execution_store.create_or_get(make("e2", "k1", tenant="t2"), T0)
    assert duplicate is False


DONE = ExecutionStatus.SUCCEEDED
LIVE = (
    ExecutionStatus.QUEUED,
    ExecutionStatus.RUNNING,
    ExecutionStatus.WAITING_EXTERNAL,
    ExecutionStatus.WAIT_RETRY,
)


async def test_expired_key_is_reusable(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(
        make("e1", "k1", status=DONE, ttl_epoch_s=T0 // 1000 + 10), T0
    )
    later = T0 + 10_000  # ttl * 1000 <= now: expired
    assert await execution_store.get("t1", "e1", later) is None
    fresh = make("e2", "k1", ttl_epoch_s=later // 1000 + 100)
    stored, duplicate = await execution_store.create_or_get(fresh, later)
    assert (stored, duplicate) == (fresh, False)
    assert await execution_store.get("t1", "e2", later) == fresh


async def test_expired_key_reusable_without_prior_read(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(
        make("e1", "k1", status=DONE, ttl_epoch_s=T0 // 1000 + 1), T0
    )
    _, duplicate = await execution_store.create_or_get(make("e2", "k1"), T0 + 1_000)
    assert duplicate is False


async def test_create_with_taken_execution_id_conflicts(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make("e1", "k1"), T0)
    with pytest.raises(Conflict):
        await execution_store.create_or_get(make("e1", "k2"), T0)


async def test_get_unknown_or_other_tenant_is_none(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(), T0)
    assert await execution_store.get("t1", "nope", T0) is None
    assert await execution_store.get("t2", "e1", T0) is None


async def test_zero_ttl_never_expires(execution_store: ExecutionStore) -> None:
    record = make(ttl_epoch_s=0)
    await execution_store.create_or_get(record, T0)
    assert await execution_store.get("t1", "e1", T0 * 10) == record


@pytest.mark.parametrize("status", LIVE)
async def test_a_live_record_never_expires_whatever_its_ttl(
    execution_store: ExecutionStore, status: ExecutionStatus
) -> None:
    """Older versions stamped a submit-time TTL on every record: a live one past it is still
    read, still owns its key and can still be committed."""
    record = make(status=status, ttl_epoch_s=T0 // 1000 + 1)
    await execution_store.create_or_get(record, T0)
    later = T0 + 30 * 86_400_000
    assert await execution_store.get("t1", "e1", later) == record
    stored, duplicate = await execution_store.create_or_get(make("e2", "k1"), later)
    assert (stored, duplicate) == (record, True)
    moved = replace(record, version=1, updated_at_epoch_ms=later, ttl_epoch_s=0)
    assert await execution_store.compare_and_set(moved, 0) == moved
    assert await execution_store.get("t1", "e1", later * 2) == moved


async def test_a_terminal_record_expires_at_its_ttl(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(ttl_epoch_s=0), T0)
    ended = T0 + 86_400_000
    done = replace(
        make(ttl_epoch_s=(ended + 10_000) // 1000),
        version=1,
        status=DONE,
        updated_at_epoch_ms=ended,
        result_payload={"ok": True},
    )
    assert await execution_store.compare_and_set(done, 0) == done
    assert await execution_store.get("t1", "e1", ended + 9_999) == done
    assert await execution_store.get("t1", "e1", ended + 10_000) is None
    fresh = make("e2", "k1", ttl_epoch_s=0)
    assert await execution_store.create_or_get(fresh, ended + 10_000) == (fresh, False)


async def test_a_redrive_commit_keeps_a_terminal_record_again(
    execution_store: ExecutionStore,
) -> None:
    await execution_store.create_or_get(make(ttl_epoch_s=0), T0)
    failed = replace(
        make(status=ExecutionStatus.FAILED, ttl_epoch_s=T0 // 1000 + 10),
        version=1,
        updated_at_epoch_ms=T0 + 1,
    )
    assert await execution_store.compare_and_set(failed, 0) == failed
    queued = replace(failed, version=2, status=ExecutionStatus.QUEUED, ttl_epoch_s=0)
    assert await execution_store.compare_and_set(queued, 1) == queued
    later = T0 + 30 * 86_400_000
    assert await execution_store.get("t1", "e1", later) == queued
    assert await execution_store.find_due(later, 10) == [queued]
    assert (await execution_store.create_or_get(make("e2", "k1"), later))[1] is True


async def test_compare_and_set(execution_store: ExecutionStore) -> None:
    record = make()
    await execution_store.create_or_get(record, T0)
    updated = replace(record, version=1, status=ExecutionStatus.SUCCEEDED, result_payload=7)
    assert await execution_store.compare_and_set(updated, 0) == updated
    assert await execution_store.get("t1", "e1", T0) == updated
    stale = replace(record, version=1, status=ExecutionStatus.FAILED)
    assert await execution_store.compare_and_set(stale, 0) is None
    assert await execution_store.get("t1", "e1", T0) == updated
    assert await execution_store.compare_and_set(make("missing", "k9"), 0) is None


async def test_claim_queued_due(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(), T0)
    claimed = await execution_store.claim_lease("t1", "e1", "w1", T0 + 5, LEASE)
    assert claimed is not None
    assert claimed.status == ExecutionStatus.RUNNING
    assert claimed.lease_owner == "w1"
    assert claimed.lease_expires_epoch_ms == claimed.next_due_epoch_ms == T0 + 5 + LEASE
    assert claimed.version == 1
    assert claimed.updated_at_epoch_ms == T0 + 5
    assert claimed.attempt == 0
    assert await execution_store.get("t1", "e1", T0) == claimed


async def test_claim_refusals(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make("future", "k1", next_due=T0 + 1), T0)
    await execution_store.create_or_get(
        make("waiting", "k2", status=ExecutionStatus.WAITING_EXTERNAL), T0
    )
    await execution_store.create_or_get(make("done", "k3", status=ExecutionStatus.SUCCEEDED), T0)
    await execution_store.create_or_get(make("failed", "k4", status=ExecutionStatus.FAILED), T0)
    await execution_store.create_or_get(make("dlq", "k5", status=ExecutionStatus.DLQ), T0)
    for execution_id in ("future", "waiting", "done", "failed", "dlq", "unknown"):
        assert await execution_store.claim_lease("t1", execution_id, "w", T0, LEASE) is None
    assert await execution_store.claim_lease("t2", "future", "w", T0 + 1, LEASE) is None


async def test_claim_wait_retry_when_due(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(
        make(status=ExecutionStatus.WAIT_RETRY, next_due=T0 + 100), T0
    )
    assert await execution_store.claim_lease("t1", "e1", "w", T0 + 99, LEASE) is None
    assert await execution_store.claim_lease("t1", "e1", "w", T0 + 100, LEASE) is not None


async def test_live_lease_refused_expired_lease_reclaimable(
    execution_store: ExecutionStore,
) -> None:
    await execution_store.create_or_get(make(), T0)
    first = await execution_store.claim_lease("t1", "e1", "w1", T0, LEASE)
    assert first is not None
    assert await execution_store.claim_lease("t1", "e1", "w2", T0 + LEASE - 1, LEASE) is None
    second = await execution_store.claim_lease("t1", "e1", "w2", T0 + LEASE, LEASE)
    assert second is not None
    assert (second.lease_owner, second.version) == ("w2", 2)


async def test_claim_ignores_a_stale_ttl_of_a_live_record(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(ttl_epoch_s=T0 // 1000 + 1), T0)
    claimed = await execution_store.claim_lease("t1", "e1", "w", T0 + 1_000, LEASE)
    assert claimed is not None and claimed.lease_owner == "w"
    renewed = await execution_store.renew_lease("t1", "e1", "w", 1, T0 + 2_000, LEASE)
    assert renewed is not None


@pytest.mark.parametrize("lease_ms", [0, -1])
async def test_claim_rejects_non_positive_lease(
    execution_store: ExecutionStore, lease_ms: int
) -> None:
    await execution_store.create_or_get(make(), T0)
    with pytest.raises(ValueError):
        await execution_store.claim_lease("t1", "e1", "w", T0, lease_ms)


async def test_renew_lease(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(), T0)
    claimed = await execution_store.claim_lease("t1", "e1", "w1", T0, LEASE)
    assert claimed is not None
    renewed = await execution_store.renew_lease("t1", "e1", "w1", 1, T0 + 10_000, LEASE)
    assert renewed is not None
    assert renewed.version == 1
    assert renewed.lease_expires_epoch_ms == renewed.next_due_epoch_ms == T0 + 10_000 + LEASE
    assert await execution_store.get("t1", "e1", T0) == renewed
    # The renewed lease is live past the original expiry.
    assert await execution_store.claim_lease("t1", "e1", "w2", T0 + LEASE, LEASE) is None


async def test_renew_refusals(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(), T0)
    assert await execution_store.renew_lease("t1", "e1", "w1", 0, T0, LEASE) is None  # QUEUED
    await execution_store.claim_lease("t1", "e1", "w1", T0, LEASE)
    assert await execution_store.renew_lease("t1", "e1", "w2", 1, T0, LEASE) is None  # owner
    assert await execution_store.renew_lease("t1", "e1", "w1", 0, T0, LEASE) is None  # version
    taken = await execution_store.claim_lease("t1", "e1", "w2", T0 + LEASE, LEASE)
    assert taken is not None
    # The stale holder cannot renew even with the version it last saw.
    assert await execution_store.renew_lease("t1", "e1", "w1", 1, T0 + LEASE, LEASE) is None
    assert await execution_store.get("t1", "e1", T0) == taken


async def test_find_due_order_limit_and_exclusions(execution_store: ExecutionStore) -> None:
    records = [
        make("b", "k1", next_due=T0 + 5),
        make("a", "k2", next_due=T0 + 5),
        make("c", "k3", next_due=T0 + 1, status=ExecutionStatus.WAIT_RETRY),
        make("a", "k4", next_due=T0 + 5, tenant="t0"),
        make("future", "k5", next_due=T0 + 5_006),
        make("waiting", "k6", status=ExecutionStatus.WAITING_EXTERNAL),
        make("done", "k7", status=ExecutionStatus.SUCCEEDED),
        make("failed", "k8", status=ExecutionStatus.FAILED),
        # Live, so still due although an older version's TTL (T0 + 5 s) has passed.
        make("stale-ttl", "k9", next_due=T0 + 1, ttl_epoch_s=T0 // 1000 + 5),
    ]
    for record in records:
        await execution_store.create_or_get(record, T0)
    now = T0 + 5_005
    due = await execution_store.find_due(now, 10)
    assert [(r.tenant_id, r.execution_id) for r in due] == [
        ("t1", "c"),
        ("t1", "stale-ttl"),
        ("t0", "a"),
        ("t1", "a"),
        ("t1", "b"),
    ]
    assert [r.execution_id for r in await execution_store.find_due(now, 2)] == ["c", "stale-ttl"]
    assert await execution_store.find_due(T0, 10) == []
    assert await execution_store.find_due(now, 0) == []


async def test_find_due_tracks_updates(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(), T0)
    claimed = await execution_store.claim_lease("t1", "e1", "w", T0, LEASE)
    assert claimed is not None
    assert await execution_store.find_due(T0 + LEASE - 1, 10) == []
    assert await execution_store.find_due(T0 + LEASE, 10) == [claimed]  # lease expired
    renewed = await execution_store.renew_lease("t1", "e1", "w", 1, T0 + 1, LEASE)
    assert renewed is not None
    assert await execution_store.find_due(T0 + LEASE, 10) == []
    done = replace(renewed, version=2, status=ExecutionStatus.SUCCEEDED)
    assert await execution_store.compare_and_set(done, 1) == done
    assert await execution_store.find_due(T0 * 2, 10) == []


async def test_dead_letters(execution_store: ExecutionStore) -> None:
    await execution_store.create_or_get(make(), T0)
    await execution_store.create_or_get(make("e2", "k2"), T0)
    assert await execution_store.find_dead_letters(10) == []
    failed = make(status=ExecutionStatus.FAILED, version=1, dead_letters=(dead_letter("tk1"),))
    assert await execution_store.compare_and_set(failed, 0) == failed
    assert await execution_store.find_dead_letters(10) == [failed]
    assert await execution_store.find_dead_letters(0) == []

    assert await execution_store.clear_dead_letter("t1", "e1", "other") is False
    assert await execution_store.clear_dead_letter("t2", "e1", "tk1") is False
    assert await execution_store.find_dead_letters(10) == [failed]

    assert await execution_store.clear_dead_letter("t1", "e1", "tk1") is True
    cleared = await execution_store.get("t1", "e1", T0)
    assert cleared == replace(failed, dead_letters=())  # version not bumped
    assert await execution_store.find_dead_letters(10) == []
    assert await execution_store.clear_dead_letter("t1", "e1", "tk1") is False


async def test_count_by_status(execution_store: ExecutionStore) -> None:
    assert await execution_store.count_by_status() == {}
    await execution_store.create_or_get(make("a", "k1"), T0)
    await execution_store.create_or_get(make("b", "k2"), T0)
    await execution_store.create_or_get(make("c", "k3", status=ExecutionStatus.SUCCEEDED), T0)
    await execution_store.claim_lease("t1", "a", "w", T0, LEASE)
    assert await execution_store.count_by_status() == {
        "QUEUED": 1,
        "RUNNING": 1,
        "SUCCEEDED": 1,
    }
