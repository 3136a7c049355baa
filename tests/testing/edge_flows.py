"""Scenarios for the crash points the restaurant and csv flows never pass (issue 15).

``CHANNEL`` runs the restaurant pipeline on an await channel in process
(:class:`tpf.testing.channel.MemoryBroker`): parks go through the dispatch outbox and are
published (``after:await-publish``, ``after:await-mark-dispatched``), answers come back from the
broker through the production consumer path (``after:completion-consumed``). Its ``early`` order
is answered while its first transition waits out a retry (the worker is down), so the answer
arrives before the interaction exists and is held (``after:completion-hold``), then admitted
once the repaired worker parks; its ``late`` order is answered from the request it was sent.

``LONG`` runs one step long enough for the lease keeper to renew its lease (``mid-renewal``):
the step's code hands control to :class:`Renewal`, which moves the fake clock past the renewal
point and runs the lease keeper's pass while the transition is still running, as the keeper's
own loop would.

Every step is idempotent under retry, as in :mod:`tests.testing.flows`: an answer is sent to the
broker once (the broker took it; the coordinator may die before it is consumed, and then the
next one consumes it), and the clock moves to targets.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import msgspec

from demos.restaurant_approval.pipeline import _ORDER_NAMESPACE, AWAIT_STEP_ID
from tests.testing.flows import START_MS, WAITING, order
from tpf.core import ids
from tpf.core.records import ExecutionStatus
from tpf.pipeline import Pipeline
from tpf.testing import TestEnv
from tpf.testing.channel import MemoryBroker
from tpf.testing.exhaustive import Ids, Scenario, Step

AWAIT_INDEX = 2  # validate, create the pending approval, then the await
# Longer than a restart's recovery (lease + 1 ms), so no retry is due before the early answer
# is sent, and shorter than a hold's life (60 s), so the answer is still held when it parks.
RETRY_DELAY_MS = 30_000
CHANNEL_OVERRIDES = {"retries__max_retries": 2, "retries__delay_ms": RETRY_DELAY_MS}


def _broker(env: TestEnv) -> MemoryBroker:
    assert env.broker is not None, "the channel flows run on TestEnv(broker=MemoryBroker())"
    return env.broker


def _accept(request_id: str) -> dict[str, dict[str, str]]:
    # The order id the validate step will derive from the request id (uuid5, see the pipeline).
    return {"accepted": {"orderId": str(uuid.uuid5(_ORDER_NAMESPACE, request_id)), "note": "ok"}}


def _submit(key: str, n: int) -> Step:
    async def step(env: TestEnv, ids_: Ids) -> None:
        ids_[key] = await env.submit(order(n), key=key)

    return step


def _worker_down(down: bool) -> Step:
    async def step(env: TestEnv, ids_: Ids) -> None:
        if down:
            env.break_worker()
        else:
            env.repair_worker()

    return step


def _answer_early(key: str, n: int) -> Step:
    """Answer the interaction the execution's second attempt will park on, before it does."""

    async def step(env: TestEnv, ids_: Ids) -> None:
        eid = ids_[key]
        if f"{key}/sent" not in ids_:
            assert (await env.status(eid)).status is ExecutionStatus.WAIT_RETRY
            # Interaction ids are derived (tpf.core.ids): the retry is attempt 1 of step 0,
            # and the transition runs on to the await in that attempt.
            interaction = ids.interaction_id(env.tenant, eid, AWAIT_STEP_ID, AWAIT_INDEX, 1)
            _broker(env).respond(env.tenant, _accept(f"req-{n}"), interaction_id=interaction)
            ids_[f"{key}/sent"] = interaction
        await env.run_until_idle()

    return step


def _retry_due() -> Step:
    async def step(env: TestEnv, ids_: Ids) -> None:
        # Past the retry's due time, whatever clock the recoveries moved on the way.
        target = START_MS + 3 * RETRY_DELAY_MS
        await env.advance(max(0, target - env.clock.now_ms()))

    return step


def _answer_request(key: str) -> Step:
    """Answer the await request the broker carried for the execution."""

    async def step(env: TestEnv, ids_: Ids) -> None:
        eid = ids_[key]
        if f"{key}/sent" not in ids_:
            await env.wait_for(eid, WAITING)
            broker = _broker(env)
            [request, *_] = [d for d in broker.dispatched() if d.execution_id == eid]
            answer = {"accepted": {"orderId": request.request_payload["orderId"], "note": "ok"}}
            broker.respond(env.tenant, answer, interaction_id=request.interaction_id)
            ids_[f"{key}/sent"] = request.interaction_id
        await env.run_until_idle()

    return step


def _settled(*keys: str) -> Step:
    async def step(env: TestEnv, ids_: Ids) -> None:
        for key in keys:
            await env.wait_for(ids_[key])

    return step


CHANNEL = Scenario(
    [
        _worker_down(True),
        _submit("early", 1),
        _answer_early("early", 1),
        _worker_down(False),
        _retry_due(),
        _submit("late", 2),
        _answer_request("late"),
        _settled("early", "late"),
    ]
)


# ---------------------------------------------------------------------- a long transition

LONG_ID = "org.example.long"


class Job(msgspec.Struct, frozen=True):
    n: int


class Done(msgspec.Struct, frozen=True):
    n: int
    renewed: bool


@dataclass
class Renewal:
    """What the long step does in its middle: let time pass and the lease keeper renew."""

    env: TestEnv | None = None

    async def during_step(self) -> bool:
        env = self.env
        assert env is not None, "the LONG scenario's first step binds the env"
        c = env.coordinator
        lease_ms = env.settings.execution.lease_ms
        env.clock.advance(int(lease_ms * env.settings.execution.lease_renew_fraction) + 1)
        # The keeper's own task (its loop's pass), created from the step's: the coordinator's.
        return await asyncio.ensure_future(c.leases.tick()) > 0


def long_pipeline() -> tuple[Pipeline, Renewal]:
    renewal = Renewal()
    pipeline = Pipeline(LONG_ID)

    @pipeline.step("Slow")
    async def slow(job: Job) -> Done:
        return Done(n=job.n, renewed=await renewal.during_step())

    return pipeline, renewal


LONG_PIPELINE, RENEWAL = long_pipeline()


async def _bind(env: TestEnv, ids_: Ids) -> None:
    RENEWAL.env = env


def _submit_long(key: str) -> Step:
    async def step(env: TestEnv, ids_: Ids) -> None:
        ids_[key] = await env.submit({"n": 7}, key=key)

    return step


LONG = Scenario([_bind, _submit_long("long"), _settled("long")])
