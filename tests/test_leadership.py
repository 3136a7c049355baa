"""Sweeper leadership: one coordinator sweeps; another takes over when its lease lapses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.aws import reset_moto, settings_for
from tpf.aws.bootstrap import bootstrap_aws
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings, StateSettings, SweeperSettings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.errors import ConfigError
from tpf.stores.dynamo.leader import DynamoLeaseStore
from tpf.stores.dynamo.schema import create_tables
from tpf.supervisors.leadership import LeaseLeadership, MemoryLeaseStore

LEASE_MS = 9_000


async def test_one_leader_until_its_lease_lapses() -> None:
    clock = FakeClock()
    store = MemoryLeaseStore()
    a = LeaseLeadership(store, "a", clock, LEASE_MS)
    b = LeaseLeadership(store, "b", clock, LEASE_MS)
    assert await a.is_leader() and not await b.is_leader()
    clock.advance(LEASE_MS // 2)
    assert await a.is_leader()  # renewed (a third of the lease left triggers a renewal)
    clock.advance(LEASE_MS - 1)
    assert not await b.is_leader()  # a's renewal still holds
    clock.advance(LEASE_MS + 1)  # a stopped renewing: its lease lapsed
    assert await b.is_leader()
    assert not await a.is_leader()


async def test_resigning_hands_over_at_once() -> None:
    clock = FakeClock()
    store = MemoryLeaseStore()
    a = LeaseLeadership(store, "a", clock, LEASE_MS)
    b = LeaseLeadership(store, "b", clock, LEASE_MS)
    assert await a.is_leader()
    await a.resign()
    assert await b.is_leader()


async def test_dynamo_lease_is_exclusive(aws_settings: Settings) -> None:
    aws = AwsClients(aws_settings)
    try:
        client = await aws.client("dynamodb")
        await create_tables(client, aws_settings)
        store = DynamoLeaseStore(client, aws_settings)
        assert await store.acquire("sweeper", "a", 1_000, LEASE_MS)
        assert not await store.acquire("sweeper", "b", 2_000, LEASE_MS)
        assert await store.acquire("sweeper", "a", 3_000, LEASE_MS)  # renewal
        assert await store.acquire("sweeper", "b", 3_000 + LEASE_MS, LEASE_MS)  # lapsed
        await store.release("sweeper", "a")  # not a's any more: a no-op
        assert not await store.acquire("sweeper", "a", 4_000 + LEASE_MS, LEASE_MS)
        await store.release("sweeper", "b")
        assert await store.acquire("sweeper", "a", 5_000 + LEASE_MS, LEASE_MS)
    finally:
        await aws.close()


async def test_only_the_leader_sweeps(moto_endpoint: str, tmp_path: Path) -> None:
    reset_moto(moto_endpoint)
    settings = settings_for(moto_endpoint, tmp_path, sweeper__leader_election=True)
    aws = AwsClients(settings)
    await bootstrap_aws(settings, aws)
    await aws.close()
    first = await Coordinator.open(settings)
    second = await Coordinator.open(settings)
    try:
        assert await first.leadership.is_leader()
        assert not await second.leadership.is_leader()
        assert await second.sweeper.tick() == 0  # not the leader: no sweep at all
        await first.close()  # resigns
        assert await second.leadership.is_leader()
    finally:
        await second.close()


async def test_election_needs_shared_dynamo_state(tmp_path: Path) -> None:
    settings = Settings(
        state=StateSettings(dir=str(tmp_path)), sweeper=SweeperSettings(leader_election=True)
    )
    with pytest.raises(ConfigError, match="leader-election=true needs"):
        await Coordinator.open(settings)
