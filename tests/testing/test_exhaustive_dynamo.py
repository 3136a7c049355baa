"""The exhaustive crash test on DynamoDB (moto's server), under ``make soak`` (marked slow).

The same scenarios and checks as tests/testing/test_exhaustive.py, with the execution state in
the shared DynamoDB tables. Each run takes its own tenant, so runs on the same tables never meet
(their idempotency keys are per tenant).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tests.testing.flows import CSV, RESTAURANT, RESTAURANT_PIPELINE, STREAM
from tpf.authoring.pipeline import Pipeline
from tpf.config.settings import Settings
from tpf.testing import TestEnv
from tpf.testing import exhaustive as ex

SETTINGS = {
    "retries__max_retries": 2,
    "retries__delay_ms": 1_000,
    "retries__jitter": 0.0,
    "execution__lease_ms": 10_000,
    "sweeper__interval_ms": 1_000,
    # Every sweep queries each shard of the due/overdue indexes: few shards, fewer queries (the
    # shard count spreads load; correctness does not depend on it).
    "dynamo__shards": 2,
}
_tenants = itertools.count()


def _env(pipeline: Pipeline, settings: Settings) -> Callable[[], TestEnv]:
    def make() -> TestEnv:
        tenant = f"crash-{next(_tenants)}"
        return TestEnv(pipeline, store="dynamo", settings=settings, tenant=tenant, **SETTINGS)

    return make


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("name", "recovery"),
    [("restaurant", "restart"), ("csv", "takeover")],
    ids=["restaurant", "csv"],
)
async def test_every_crash_point_on_dynamodb(
    dynamo_settings: Settings, name: str, recovery: ex.Recovery
) -> None:
    scenario, pipeline = {"restaurant": (RESTAURANT, RESTAURANT_PIPELINE), "csv": (CSV, STREAM)}[
        name
    ]
    make = _env(pipeline, dynamo_settings)
    reference = await ex.run(make, scenario)
    ex.check(reference, reference, f"{name} clean run on DynamoDB")
    plans = ex.crash_plans(reference.seen)
    for point, nth in plans:
        outcome = await ex.run(make, scenario, [(point, nth)], recovery=recovery)
        assert outcome.crashes[:1] == [point]
        ex.check(outcome, reference, f"{name} on DynamoDB, crashed at {point} #{nth}")
    print(f"\n{name} on DynamoDB: {len(reference.seen)} crash points, {len(plans)} passes crashed")
    # DynamoDB parks, and dispatches a stream item, in one transaction with the interaction
    # (tpf.stores.joint_writes.AwaitCommits), so the point between the two writes
    # (INTERACTION_WRITE, ITEM_INTERACTION_WRITE) is not on its path.
    assert len(reference.seen) >= (14 if name == "restaurant" else 8)
