"""The restaurant pipeline with a hold in one step: the HA incident demo's workload.

The same steps, types and await as :mod:`demos.restaurant_approval.pipeline`, re-registered
here, except that "Create Pending Approval" first appends ``<orderId> <pid>`` to
``$RESTAURANT_HA_DEMO_GATE_DIR/runs.log`` and, on its first run for an order, waits forever:
the worker is then mid-transition for as long as the demo wants, and the demo kills it there.
A re-run (on another worker) finds the order's ``.held`` marker and goes on at once. Without
the variable the step behaves exactly like the original, and ``make demo`` / ``make demo-ha``
never use this module, so their pipeline is untouched.

``tpf worker --pipeline demos.restaurant_approval.ha.gated:pipeline``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from demos.restaurant_approval.pipeline import (
    PIPELINE_ID,
    PendingRestaurantApproval,
    ValidatedRestaurantOrder,
)
from demos.restaurant_approval.pipeline import create_pending_approval as create_pending
from demos.restaurant_approval.pipeline import pipeline as restaurant
from tpf.pipeline import Pipeline

GATE_ENV = "RESTAURANT_HA_DEMO_GATE_DIR"
HELD_STEP = "Create Pending Approval"
RUNS_LOG = "runs.log"


def _enter(order_id: str) -> bool:
    """Log this run; whether it is the order's first (so the step must hold)."""
    gate = os.environ.get(GATE_ENV)
    if not gate:
        return False
    directory = Path(gate)
    with open(directory / RUNS_LOG, "a") as runs:
        runs.write(f"{order_id} {os.getpid()}\n")
    try:
        (directory / f"{order_id}.held").touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


async def create_pending_approval(
    order: ValidatedRestaurantOrder,
) -> PendingRestaurantApproval:
    if await asyncio.to_thread(_enter, order.order_id):
        await asyncio.Event().wait()  # held: the demo kills this worker now
    return await create_pending(order)


def _type_ids() -> dict[type, str]:
    ids: dict[type, str] = {}
    for spec in restaurant.steps:
        ids[spec.input_type] = spec.input_type_id
        ids[spec.output_type] = spec.output_type_id
    return ids


pipeline = Pipeline(PIPELINE_ID, type_ids=_type_ids())
for _spec in restaurant.steps:
    if _spec.kind == "await":
        pipeline.await_step(
            _spec.name,
            step_id=_spec.step_id,
            output=_spec.output_type,
            timeout=_spec.timeout_ms or 0,
            key_fields=_spec.key_fields,
        )
    elif _spec.name == HELD_STEP:
        pipeline.step(HELD_STEP)(create_pending_approval)
    else:
        assert _spec.fn is not None
        pipeline.step(_spec.name, step_id=_spec.step_id)(_spec.fn)
