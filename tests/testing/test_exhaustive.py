"""The exhaustive crash test (issue 15): every crash point a flow passes, each in turn.

For the restaurant flow (accepted, declined, timeout, retries into the DLQ, re-drive) and the
csv itemized flow (expansion, per-item awaits, aggregation), a clean run records the points it
passes; then each pass of each point gets a run that crashes there, recovers (a restart with the
same owner, or a takeover by another) and completes the flow, checked against the clean run
(:func:`tpf.testing.exhaustive.check`). The scalar flow also crashes at every pair: at A, then at
each point B its recovery passes. On memory and SQLite, in process (no subprocess): the SIGKILL
tests in tests/crash stay the end-to-end proof.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.testing.flows import CSV, RESTAURANT, RESTAURANT_PAIRS, RESTAURANT_PIPELINE, STREAM
from tpf.authoring.pipeline import Pipeline
from tpf.testing import TestEnv
from tpf.testing import exhaustive as ex

STORES = ["memory", "sqlite"]
_clean: dict[tuple[str, str], ex.Outcome] = {}  # shared by the tests of one worker process


def _env(pipeline: Pipeline, store: str) -> Callable[[], TestEnv]:
    return lambda: TestEnv(pipeline, store=store, retries__max_retries=2)


async def clean_run(name: str, store: str) -> ex.Outcome:
    """The flow's clean run (once per worker): the reference every crash run is checked against."""
    if (name, store) not in _clean:
        scenario, pipeline = SCENARIOS[name]
        outcome = await ex.run(_env(pipeline, store), scenario)
        ex.check(outcome, outcome, f"{name} clean run")
        _clean[(name, store)] = outcome
    return _clean[(name, store)]


SCENARIOS = {
    "restaurant": (RESTAURANT, RESTAURANT_PIPELINE),
    "restaurant-pairs": (RESTAURANT_PAIRS, RESTAURANT_PIPELINE),
    "csv": (CSV, STREAM),
}


async def crash_every_pass(
    name: str, store: str, recovery: ex.Recovery, record_property: Callable[[str, object], None]
) -> int:
    reference = await clean_run(name, store)
    scenario, pipeline = SCENARIOS[name]
    plans = ex.crash_plans(reference.seen)
    for point, nth in plans:
        outcome = await ex.run(_env(pipeline, store), scenario, [(point, nth)], recovery=recovery)
        assert outcome.crashes[:1] == [point], f"{point} #{nth} was not reached"
        ex.check(outcome, reference, f"{name} on {store}, crashed at {point} #{nth}")
    points = len(reference.seen)
    print(f"\n{name} on {store} ({recovery}): {points} crash points, {len(plans)} passes crashed")
    record_property("crash_points", points)
    record_property("crash_runs", len(plans))
    assert len({p for p, _ in plans}) >= points
    return points


@pytest.mark.parametrize("store", STORES)
async def test_restaurant_survives_a_crash_at_every_pass_of_every_point(
    store: str, record_property: Callable[[str, object], None]
) -> None:
    points = await crash_every_pass("restaurant", store, "restart", record_property)
    # The flow's durable paths: submit, transitions, park, completion, timeout, retry, DLQ
    # outbox, re-drive (lease renewal and channel dispatch are not on its path). SQLite parks
    # in one write with the interaction's (tpf.stores.base.AwaitCommits), so the point between
    # the two (INTERACTION_WRITE) is not on its path.
    assert points >= (15 if store == "memory" else 14)


@pytest.mark.parametrize("store", STORES)
async def test_csv_items_survive_a_crash_at_every_pass_of_every_point(
    store: str, record_property: Callable[[str, object], None]
) -> None:
    points = await crash_every_pass("csv", store, "takeover", record_property)
    # Expansion, item interactions, item writes, marks, phases, success. SQLite dispatches an
    # item in one write with its interaction's (AwaitCommits.dispatch_item), so the point
    # between the two (ITEM_INTERACTION_WRITE) is not on its path.
    assert points >= (9 if store == "memory" else 8)


@pytest.mark.parametrize("store", STORES)
async def test_restaurant_survives_a_second_crash_during_its_recovery(
    store: str, record_property: Callable[[str, object], None]
) -> None:
    reference = await clean_run("restaurant-pairs", store)
    scenario, pipeline = SCENARIOS["restaurant-pairs"]
    make = _env(pipeline, store)
    pairs = 0
    for first in sorted(reference.seen):
        once = await ex.run(make, scenario, [(first, 1)], recovery="takeover")
        # (Empty after the flow's last point: nothing was left to recover.)
        for second in sorted(once.recovery_seen):
            plan = [(first, 1), (second, 1)]
            outcome = await ex.run(make, scenario, plan, recovery="takeover")
            assert outcome.crashes[:2] == [first, second]
            ex.check(outcome, reference, f"crashed at {first}, then at {second} in the recovery")
            pairs += 1
    print(f"\nrestaurant pairs on {store}: {len(reference.seen)} first points, {pairs} pairs")
    record_property("crash_points", len(reference.seen))
    record_property("crash_runs", pairs)
    assert pairs >= len(reference.seen)
