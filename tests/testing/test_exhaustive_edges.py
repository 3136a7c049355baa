"""The exhaustive crash test for the points the restaurant and csv flows never pass (issue 15).

The channel flow (:data:`tests.testing.edge_flows.CHANNEL`: an await channel in process, an
early answer held, a late one answered from its dispatched request) and the long transition
(:data:`tests.testing.edge_flows.LONG`: a lease renewal while its step runs) each run clean,
then crashed at every pass of every point they pass, checked against the clean run by
:func:`tpf.testing.exhaustive.check`. The channel runs add the broker's side: every interaction
was published at least once (unless answered before it was), and every answer was consumed and
acknowledged (none lost, none left for a consumer that will never come). Then the union of
every flow's points is every point the coordinator places (:data:`tpf.core.crash_points.ALL`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.testing.edge_flows import CHANNEL, CHANNEL_OVERRIDES, LONG, LONG_PIPELINE
from tests.testing.flows import RESTAURANT_PIPELINE
from tests.testing.test_exhaustive import STORES, clean_run
from tpf.core import crash_points as cp
from tpf.core.records import DispatchState
from tpf.testing import TestEnv
from tpf.testing import exhaustive as ex
from tpf.testing.channel import MemoryBroker

CHANNEL_POINTS = {cp.AWAIT_PUBLISH, cp.AWAIT_MARK_DISPATCHED, cp.COMPLETION_CONSUMED}
_clean: dict[tuple[str, str], ex.Outcome] = {}


def _channel_env(store: str, brokers: list[MemoryBroker]) -> Callable[[], TestEnv]:
    def make() -> TestEnv:
        brokers.append(MemoryBroker())
        return TestEnv(RESTAURANT_PIPELINE, store=store, broker=brokers[-1], **CHANNEL_OVERRIDES)

    return make


def _long_env(store: str) -> Callable[[], TestEnv]:
    return lambda: TestEnv(LONG_PIPELINE, store=store)


def _broker_problems(outcome: ex.Outcome, broker: MemoryBroker) -> list[str]:
    found = []
    for key, interactions in outcome.interactions.items():
        for interaction in interactions:
            # (One answered before its publish left the outbox: see exhaustive.check.)
            moot = not interaction.pending and interaction.dispatch_state is DispatchState.CREATED
            if not moot and broker.published[interaction.interaction_id] < 1:
                found.append(f"{key}: {interaction.interaction_id} was never published")
    if broker.responses:
        found.append(f"{len(broker.responses)} answer(s) never acknowledged")
    if broker.dead_letters:
        found.append(f"{len(broker.dead_letters)} answer(s) dead-lettered")
    return found


async def _clean_channel(store: str) -> ex.Outcome:
    if ("channel", store) not in _clean:
        brokers: list[MemoryBroker] = []
        outcome = await ex.run(_channel_env(store, brokers), CHANNEL)
        ex.check(outcome, outcome, "channel clean run")
        assert _broker_problems(outcome, brokers[-1]) == []
        _clean[("channel", store)] = outcome
    return _clean[("channel", store)]


async def _clean_long(store: str) -> ex.Outcome:
    if ("long", store) not in _clean:
        outcome = await ex.run(_long_env(store), LONG)
        ex.check(outcome, outcome, "long clean run")
        _clean[("long", store)] = outcome
    return _clean[("long", store)]


@pytest.mark.parametrize("store", STORES)
async def test_the_channel_flow_survives_a_crash_at_every_pass_of_every_point(
    store: str, record_property: Callable[[str, object], None]
) -> None:
    reference = await _clean_channel(store)
    assert CHANNEL_POINTS | {cp.COMPLETION_HOLD} <= set(reference.seen)
    assert reference.seen[cp.COMPLETION_HOLD] == 1  # the early answer, and only it, was held
    brokers: list[MemoryBroker] = []
    plans = ex.crash_plans(reference.seen)
    for point, nth in plans:
        outcome = await ex.run(_channel_env(store, brokers), CHANNEL, [(point, nth)])
        label = f"channel on {store}, crashed at {point} #{nth}"
        assert outcome.crashes[:1] == [point], f"{label}: not reached"
        ex.check(outcome, reference, label)
        problems = _broker_problems(outcome, brokers[-1])
        assert not problems, f"{label}: {problems}"
    print(f"\nchannel on {store}: {len(reference.seen)} crash points, {len(plans)} passes crashed")
    record_property("crash_points", len(reference.seen))
    record_property("crash_runs", len(plans))


@pytest.mark.parametrize("store", STORES)
async def test_a_long_transition_survives_a_crash_at_every_pass_of_every_point(
    store: str, record_property: Callable[[str, object], None]
) -> None:
    reference = await _clean_long(store)
    assert reference.seen[cp.LEASE_RENEW] == 1
    [long] = reference.records.values()
    assert long.result_payload == {"n": 7, "renewed": True}  # renewed while the step ran
    plans = ex.crash_plans(reference.seen)
    for point, nth in plans:
        outcome = await ex.run(_long_env(store), LONG, [(point, nth)], recovery="takeover")
        label = f"long on {store}, crashed at {point} #{nth}"
        assert outcome.crashes[:1] == [point], f"{label}: not reached"
        ex.check(outcome, reference, label)
    print(f"\nlong on {store}: {len(reference.seen)} crash points, {len(plans)} passes crashed")
    record_property("crash_points", len(reference.seen))
    record_property("crash_runs", len(plans))


async def test_the_flows_together_pass_every_placed_crash_point(
    record_property: Callable[[str, object], None],
) -> None:
    covered = set()
    for name in ("restaurant", "csv"):
        covered |= set((await clean_run(name, "memory")).seen)
    covered |= set((await _clean_channel("memory")).seen)
    covered |= set((await _clean_long("memory")).seen)
    print(f"\nthe exhaustive flows cover {len(covered)} of {len(cp.ALL)} crash points")
    record_property("crash_points", f"{len(covered)} of {len(cp.ALL)}")
    assert sorted(set(cp.ALL) - covered) == []
