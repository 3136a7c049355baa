"""The scenarios the exhaustive crash test runs, written as steps a client could retry.

Restaurant (scalar awaits): ``accepted`` and ``declined`` orders answered, a ``timeout`` order
left unanswered past its 30 minutes (FAILED into the DLQ), a ``retry`` order whose worker is down
when it resumes (retries exhausted into the DLQ, then the worker is repaired and the order
re-driven to success). Csv (itemized): a stream of items expanded, each answered, aggregated.

Every step is idempotent under retry: submits carry an idempotency key, completions go to the
interaction seen first (a repeat is a duplicate), the clock moves to a target rather than by an
amount, and the re-drive happens only while the order is still FAILED.
"""

from __future__ import annotations

from typing import Any

from demos.restaurant_approval.pipeline import pipeline as restaurant
from tests.engine.stream_pipelines import bad, good, stream_pipeline
from tpf.core.records import ExecutionStatus
from tpf.testing import TestEnv
from tpf.testing.exhaustive import Ids, Scenario, Step

WAITING = ExecutionStatus.WAITING_EXTERNAL
START_MS = 1_760_000_000_000  # FakeClock's start


def order(n: int) -> dict[str, Any]:
    return {
        "requestId": f"req-{n}",
        "customerName": "Ada Lovelace",
        "restaurantName": "Cafe TPF",
        "items": "Margherita Pizza",
        "totalAmount": "27.50",
        "currency": "EUR",
    }


def _submit(key: str, payload: dict[str, Any]) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        ids[key] = await env.submit(payload, key=key)

    return step


def _parked(*keys: str) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        for key in keys:
            await env.wait_for(ids[key], WAITING)
            if f"{key}/interaction" not in ids:
                [interaction] = await env.pending(ids[key])
                ids[f"{key}/interaction"] = interaction.interaction_id
                ids[f"{key}/order"] = interaction.request_payload["orderId"]

    return step


def _decide(key: str, decision: str) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        order_id = ids[f"{key}/order"]
        answer = {decision: {"orderId": order_id, "note": "ok", "declineReason": "closed"}}
        answer[decision].pop("note" if decision == "declined" else "declineReason")
        await env.complete(ids[f"{key}/interaction"], answer)

    return step


def _break(key: str) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        env.break_worker(ids[key])

    return step


def _clock_at(offset: str) -> Step:
    ms = {"PT31M": 31 * 60_000}[offset]

    async def step(env: TestEnv, ids: Ids) -> None:
        await env.advance(max(0, START_MS + ms - env.clock.now_ms()))

    return step


def _ended(key: str, status: ExecutionStatus) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        record = await env.status(ids[key])
        while record.status is not status:  # retries still due: let their backoff pass
            await env.advance(1_000)
            record = await env.status(ids[key])

    return step


def _repair_and_redrive(key: str) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        env.repair_worker()
        if (await env.status(ids[key])).status is ExecutionStatus.FAILED:
            await env.redrive(ids[key], reason="worker repaired")

    return step


def _settled(*keys: str) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        for key in keys:
            await env.wait_for(ids[key])

    return step


RESTAURANT = Scenario(
    [
        _submit("accepted", order(1)),
        _submit("declined", order(2)),
        _submit("timeout", order(3)),
        _submit("retry", order(4)),
        _parked("accepted", "declined", "timeout", "retry"),
        _decide("accepted", "accepted"),
        _decide("declined", "declined"),
        _break("retry"),
        _decide("retry", "accepted"),
        _clock_at("PT31M"),
        _ended("timeout", ExecutionStatus.FAILED),
        _ended("retry", ExecutionStatus.FAILED),
        _repair_and_redrive("retry"),
        _settled("accepted", "declined", "timeout", "retry"),
    ]
)

# The pair matrix runs a smaller scalar flow: one answered order, one into the DLQ.
RESTAURANT_PAIRS = Scenario(
    [
        _submit("accepted", order(1)),
        _submit("timeout", order(3)),
        _parked("accepted", "timeout"),
        _decide("accepted", "accepted"),
        _clock_at("PT31M"),
        _ended("timeout", ExecutionStatus.FAILED),
        _settled("accepted", "timeout"),
    ]
)

ITEMS = 3
STREAM, _ = stream_pipeline()


def _answer_items(key: str) -> Step:
    async def step(env: TestEnv, ids: Ids) -> None:
        # Each item's interaction as it appears (the live window may hold fewer than all).
        while True:
            pending = await env.pending(ids[key])
            if not pending:
                return
            for interaction in pending:
                n = interaction.item_index or 0
                await env.complete(interaction, bad(n) if n % 2 else good(n))

    return step


CSV = Scenario(
    [
        _submit("batch", {"count": ITEMS, "tag": "b"}),
        _answer_items("batch"),
        _settled("batch"),
    ]
)

RESTAURANT_PIPELINE = restaurant
