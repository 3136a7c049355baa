"""A coordinator on a fake clock, with the restaurant pipeline released and a worker registered.

Tests drive it without background loops: messages run on the actors as soon as the test awaits,
and time-based work (retries, timeouts, lease expiry) happens when the test advances the clock
and calls a supervisor's ``tick()``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demos.restaurant_approval import pipeline as restaurant_pipeline
from tpf.authoring.pipeline import Pipeline
from tpf.config.settings import (
    ExecutionSettings,
    ReleaseSettings,
    RetrySettings,
    Settings,
    StateSettings,
    SweeperSettings,
    WorkerSettings,
)
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock
from tpf.core.records import DeadLetterEnvelope, ExecutionRecord, ExecutionStatus
from tpf.engine.releases import build_release
from tpf.stores.factory import open_stores
from tpf.transports.workers.local import LocalTransitionWorker

TENANT = "restaurant-demo"
PIPELINE_ID = "org.pipelineframework.restaurantapproval"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
SETTLED = (*TERMINAL, ExecutionStatus.WAITING_EXTERNAL, ExecutionStatus.WAIT_RETRY)


class RecordingSink:
    def __init__(self) -> None:
        self.envelopes: list[DeadLetterEnvelope] = []
        self.fail_next = 0

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("sink down")
        self.envelopes.append(envelope)


@dataclass
class Harness:
    coordinator: Coordinator
    clock: FakeClock
    sink: RecordingSink
    worker: LocalTransitionWorker
    tmp: Path

    async def release(
        self, pipeline: Pipeline, *, worker_id: str = "local-1", tenant: str = TENANT
    ) -> LocalTransitionWorker:
        """Host, build, register and activate ``pipeline``; register a healthy worker."""
        c = self.coordinator
        worker = c.host(pipeline)
        out = self.tmp / f"release-{worker.code_digest.removeprefix('sha256:')[:12]}"
        descriptor = build_release(pipeline, out)
        rec = await c.register_release(tenant, pipeline.pipeline_id, str(descriptor))
        await c.activate_release(tenant, pipeline.pipeline_id, rec.release_version)
        await c.register_local_worker(tenant, worker, worker_id)
        return worker

    async def settle(self, execution_id: str, statuses: Any = SETTLED) -> ExecutionRecord:
        return await self.coordinator.wait_for(TENANT, execution_id, statuses, timeout_s=5.0)

    async def submit(self, order: dict[str, Any] | None = None, key: str | None = None) -> str:
        result = await self.coordinator.submit(
            TENANT, PIPELINE_ID, order or ORDER, idempotency_key=key
        )
        return result.execution_id

    async def pending_for(self, execution_id: str) -> Any:
        pending = await self.coordinator.pending(TENANT, limit=1000)
        return next(p for p in pending if p.execution_id == execution_id)

    async def idle(self) -> None:
        """Let every queued actor message run (actors only make progress on the event loop)."""
        for _ in range(50):
            await asyncio.sleep(0)


ORDER = {
    "requestId": "req-1",
    "customerName": "Ada Lovelace",
    "restaurantName": "Cafe TPF",
    "items": "Margherita Pizza, Sparkling Water",
    "totalAmount": "27.50",
    "currency": "EUR",
}


def accepted(order_id: str) -> dict[str, Any]:
    return {"accepted": {"orderId": order_id, "decidedAt": "2026-01-01T00:00:00Z", "note": "ok"}}


def declined(order_id: str) -> dict[str, Any]:
    return {"declined": {"orderId": order_id, "declineReason": "kitchen closed"}}


def test_settings(tmp: Path, **overrides: Any) -> Settings:
    base = Settings(
        state=StateSettings(provider="memory", dir=str(tmp / "state")),
        releases=ReleaseSettings(registry_provider="memory"),
        workers=WorkerSettings(lifecycle_provider="memory"),
        retries=RetrySettings(delay_ms=1_000, jitter=0.0),
        execution=ExecutionSettings(lease_ms=10_000),
        sweeper=SweeperSettings(interval_ms=1_000),
    )
    return base.replace(**overrides)


async def make_harness(tmp: Path, **overrides: Any) -> Harness:
    logging.getLogger("tpf").setLevel(logging.INFO)
    settings = test_settings(tmp, **overrides)
    clock = FakeClock()
    sink = RecordingSink()
    stores = await open_stores(settings)
    coordinator = Coordinator(settings, stores, clock=clock, dlq_sink=sink, rand=lambda: 0.5)
    h = Harness(coordinator, clock, sink, None, tmp)  # type: ignore[arg-type]
    h.worker = await h.release(restaurant_pipeline)
    return h
