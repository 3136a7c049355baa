"""The await admission budget (spec §4.9): one body for the memory and the DynamoDB budget.

Time is driven by the ``now_ms`` arguments, never by sleeping. The DynamoDB budget runs on the
session's moto server, on the shared (emptied) ``tpf_await_admission`` table.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tests.stores.conftest import dynamo_for
from tpf.aws.clients import AwsClients
from tpf.config.providers import ClosingStack, OpenContext, missing_resources
from tpf.config.settings import Settings
from tpf.core.clock import FakeClock
from tpf.stores.budget import (
    AdmissionBudget,
    DynamoAdmissionBudget,
    MemoryAdmissionBudget,
    UnboundedAdmissionBudget,
    admission_scope,
    open_budget,
)
from tpf.stores.budget.dynamo import probe_order

SCOPE = admission_scope("csv-payments", "pay", "https://psp.example/pay")
T0 = 1_700_000_000_000
LEASE = 60_000

Factory = Callable[[], AdmissionBudget]


@pytest.fixture(params=["memory", "dynamo"])
async def budgets(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Makes budgets on one store: the memory budget is one process's, so every call gives the
    same object; the DynamoDB one gives a new object (another coordinator) on the same table."""
    if request.param == "memory":
        memory = MemoryAdmissionBudget()
        yield lambda: memory
        return
    async with dynamo_for(request, await_admission__store="dynamo") as (client, settings):
        table = settings.dynamo.await_admission_table
        yield lambda: DynamoAdmissionBudget(client, table)


async def test_concurrent_acquirers_never_exceed_the_capacity(budgets: Factory) -> None:
    budget, capacity = budgets(), 4
    owners = [f"interaction-{n}" for n in range(3 * capacity)]
    taken = await asyncio.gather(
        *(budget.acquire(SCOPE, owner, capacity, T0, T0 + LEASE) for owner in owners)
    )
    assert sum(taken) == capacity
    assert await budget.in_use(SCOPE, T0) == capacity
    # Another scope has a budget of its own.
    other = admission_scope("csv-payments", "pay", "https://other.example")
    assert await budget.acquire(other, "interaction-x", 1, T0, T0 + LEASE)


async def test_the_same_owner_reuses_its_slot_and_extends_it(budgets: Factory) -> None:
    budget = budgets()
    assert await budget.acquire(SCOPE, "a", 2, T0, T0 + 1_000)
    assert await budget.acquire(SCOPE, "a", 2, T0 + 10, T0 + 5_000)  # reused, not a second
    assert await budget.in_use(SCOPE, T0) == 1
    assert await budget.acquire(SCOPE, "b", 2, T0, T0 + 1_000)
    assert not await budget.acquire(SCOPE, "c", 2, T0, T0 + 1_000)
    # The reuse extended a's lease: at T0 + 2 s only b's has run out.
    assert await budget.in_use(SCOPE, T0 + 2_000) == 1
    # A shorter re-acquire never shortens it.
    assert await budget.acquire(SCOPE, "a", 2, T0 + 20, T0 + 100)
    assert await budget.in_use(SCOPE, T0 + 4_000) == 1
    # Reuse succeeds even when the scope is full of others.
    assert await budget.acquire(SCOPE, "c", 2, T0 + 2_000, T0 + 9_000)
    assert await budget.acquire(SCOPE, "a", 2, T0 + 2_000, T0 + 9_000)


async def test_release_frees_a_slot_for_another_and_a_non_owner_frees_nothing(
    budgets: Factory,
) -> None:
    budget = budgets()
    assert await budget.acquire(SCOPE, "a", 1, T0, T0 + LEASE)
    assert not await budget.acquire(SCOPE, "b", 1, T0, T0 + LEASE)
    await budget.release(SCOPE, "b")  # holds nothing: a no-op
    await budget.release(admission_scope("p", "s", "e"), "a")  # a's slot is in another scope
    assert await budget.in_use(SCOPE, T0) == 1
    assert not await budget.acquire(SCOPE, "b", 1, T0, T0 + LEASE)
    await budget.release(SCOPE, "a")
    assert await budget.in_use(SCOPE, T0) == 0
    assert await budget.acquire(SCOPE, "b", 1, T0, T0 + LEASE)
    await budget.release(SCOPE, "a")  # twice: still a no-op, b keeps its slot
    assert await budget.in_use(SCOPE, T0) == 1


async def test_expired_slots_are_reclaimed(budgets: Factory) -> None:
    budget = budgets()
    assert await budget.acquire(SCOPE, "crashed-1", 2, T0, T0 + 1_000)
    assert await budget.acquire(SCOPE, "crashed-2", 2, T0, T0 + 5_000)
    assert not await budget.acquire(SCOPE, "new", 2, T0 + 1_000, T0 + LEASE)  # still held
    assert await budget.in_use(SCOPE, T0 + 1_001) == 1
    assert await budget.acquire(SCOPE, "new", 2, T0 + 1_001, T0 + LEASE)
    assert not await budget.acquire(SCOPE, "newer", 2, T0 + 1_001, T0 + LEASE)
    # The expired owner coming back (a takeover after the lease ran out) finds its slot gone.
    assert not await budget.acquire(SCOPE, "crashed-1", 2, T0 + 1_002, T0 + LEASE)


async def test_two_coordinators_share_the_capacity(budgets: Factory) -> None:
    first, second = budgets(), budgets()
    taken = await asyncio.gather(
        *((first if n % 2 else second).acquire(SCOPE, f"i{n}", 3, T0, T0 + LEASE) for n in range(9))
    )
    assert sum(taken) == 3
    holder = next(f"i{n}" for n, ok in enumerate(taken) if ok)
    # A takeover: the other coordinator re-acquires for the same owner and reuses its slot.
    assert await second.acquire(SCOPE, holder, 3, T0 + 1, T0 + LEASE)
    assert await first.acquire(SCOPE, holder, 3, T0 + 1, T0 + LEASE)
    assert await first.in_use(SCOPE, T0) == 3
    await second.release(SCOPE, holder)  # released where the completion was applied
    assert await first.in_use(SCOPE, T0) == 2
    assert await first.acquire(SCOPE, "late", 3, T0 + 2, T0 + LEASE)


async def test_capacity_below_one_is_refused(budgets: Factory) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await budgets().acquire(SCOPE, "a", 0, T0, T0 + LEASE)


async def test_a_same_owner_race_on_two_slots_is_reconciled(request: pytest.FixtureRequest) -> None:
    """Two coordinators that claimed two slots for one owner: the next acquire keeps one."""
    async with dynamo_for(request, await_admission__store="dynamo") as (client, settings):
        budget = DynamoAdmissionBudget(client, settings.dynamo.await_admission_table)
        order = probe_order("dup", 3)
        for slot in order[:2]:  # what two racing claims on different slots leave behind
            assert await budget._claim(SCOPE, slot, "dup", T0, T0 + LEASE)
        assert await budget.in_use(SCOPE, T0) == 2
        assert await budget.acquire(SCOPE, "dup", 3, T0, T0 + LEASE)
        assert await budget.in_use(SCOPE, T0) == 1
        for slot in order[:2]:
            assert await budget._claim(SCOPE, slot, "dup", T0, T0 + LEASE)
        await budget.release(SCOPE, "dup")  # frees every slot the owner holds
        assert await budget.in_use(SCOPE, T0) == 0


def test_probe_order_is_stable_and_visits_every_slot() -> None:
    assert probe_order("owner", 5) == probe_order("owner", 5)
    assert sorted(probe_order("owner", 5)) == [0, 1, 2, 3, 4]


async def test_open_budget_follows_the_settings(request: pytest.FixtureRequest) -> None:
    async def opened(settings: Settings, aws: AwsClients | None = None) -> AdmissionBudget:
        stack = ClosingStack()
        async with stack:
            return await open_budget(OpenContext(settings, FakeClock(), aws, stack))

    assert isinstance(await opened(Settings()), MemoryAdmissionBudget)
    off = Settings().replace(await_admission__enabled=False)
    assert isinstance(await opened(off), UnboundedAdmissionBudget)
    assert await UnboundedAdmissionBudget().acquire(SCOPE, "a", 1, T0, T0)
    async with dynamo_for(request, await_admission__store="dynamo") as (_, settings):
        aws = AwsClients(settings)
        try:
            assert isinstance(await opened(settings, aws), DynamoAdmissionBudget)
            assert await missing_resources(settings, aws) == []
            renamed = settings.replace(dynamo__await_admission_table="nowhere")
            assert await missing_resources(renamed, aws) == ["table nowhere"]
        finally:
            await aws.close()
