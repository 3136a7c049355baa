"""A coordinator process on a broker await lane, for the await crash tests
(``python -m tests.crash.await_child MODE DIR``).

DIR holds ``keys.json`` (the configuration overrides: SQLite state in DIR, the await channel's
queues or topics), and the child appends every commit it makes to ``commits.log`` (as
:mod:`tests.crash.child` does), so the test can check that no transition committed twice.

Modes, each a test-only hook on this process's coordinator (nothing in ``tpf/`` knows them):

``park N``: the channel's publish blocks forever. It submits N restaurant orders (ids in
  ``accepted.txt``), waits until all are parked (their interactions stored ``CREATED``, in the
  dispatch outbox) and the dispatcher is inside a publish that will never return, prints
  ``READY`` and waits to be SIGKILLed: every request is parked, none published.
``consume N``: admission blocks forever. Requests are published as usual and the test's
  restaurant answers them; once the channel has consumed a completion and handed it to
  admission (which never returns: nothing applied, nothing acknowledged), it prints ``READY``.
``recover``: no hook. Opens the same DIR and waits for every accepted execution to end; prints a
  JSON summary (each execution's status and outcome, the channel's counts).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import IO, Any

from demos.restaurant_approval.pipeline import PIPELINE_ID, pipeline
from tpf.config import load_settings
from tpf.coordinator import Coordinator
from tpf.core.records import ExecutionRecord, ExecutionStatus
from tpf.engine.releases import build_release

TENANT = "await-crash"
TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.DLQ)
RESTAURANTS = ("Cafe TPF", "Bistro Queue")  # the responder accepts the first, declines the other
EXPECTED = {"Cafe TPF": "APPROVED", "Bistro Queue": "DECLINED"}
WAIT_S = 30.0
# A dead member holds its Kafka partitions until its session times out; the next child joins
# the same group, so keep that short (aiokafka's default is 10 s).
SESSION_TIMEOUT_MS = 1_500


def order(n: int) -> dict[str, Any]:
    return {
        "requestId": f"order-{n}",
        "customerName": "Ada Lovelace",
        "restaurantName": RESTAURANTS[n % 2],
        "items": "Margherita Pizza",
        "totalAmount": "27.50",
        "currency": "EUR",
    }


async def open_coordinator(root: Path, commit_log: IO[str]) -> Coordinator:
    keys = json.loads((root / "keys.json").read_text())
    coordinator = await Coordinator.open(load_settings({}, overrides=keys))
    notify = coordinator.engine.committed

    def logged(record: ExecutionRecord) -> None:
        line = {"id": record.execution_id, "v": record.version, "s": record.status.value}
        commit_log.write(json.dumps(line) + "\n")
        commit_log.flush()  # in the kernel before the next commit: a SIGKILL cannot lose it
        notify(record)

    coordinator.engine.committed = logged  # type: ignore[method-assign]
    channel: Any = coordinator.await_lane.channel
    if channel.name == "kafka":  # the consumer is built on first poll, from this config
        channel.config = dataclasses.replace(
            channel.config, session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=500
        )
    worker = coordinator.host(pipeline)
    descriptor = build_release(pipeline, root / "build")
    release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
    await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
    await coordinator.register_local_worker(TENANT, worker, "await-crash-worker")
    return coordinator


def block_publish(coordinator: Coordinator, entered: asyncio.Event) -> None:
    async def publish(*_args: Any) -> None:
        entered.set()
        await asyncio.Event().wait()  # never published: the kill lands here

    coordinator.await_lane.channel.publish = publish  # type: ignore[method-assign]


def block_admission(coordinator: Coordinator, entered: asyncio.Event) -> None:
    async def complete(*_args: Any, **_kwargs: Any) -> Any:
        entered.set()
        await asyncio.Event().wait()  # consumed, never applied nor acknowledged

    coordinator.awaits.complete = complete  # type: ignore[method-assign]


async def run(root: Path, mode: str, count: int, log: IO[str], accepted: IO[str]) -> None:
    coordinator = await open_coordinator(root, log)
    entered = asyncio.Event()
    (block_publish if mode == "park" else block_admission)(coordinator, entered)
    await coordinator.start()
    ids = []
    for n in range(count):
        result = await coordinator.submit(TENANT, PIPELINE_ID, order(n), idempotency_key=f"o{n}")
        accepted.write(f"{result.execution_id} {n}\n")
        accepted.flush()
        ids.append(result.execution_id)
    parked = (ExecutionStatus.WAITING_EXTERNAL,)
    for eid in ids:
        await coordinator.wait_for(TENANT, eid, parked, timeout_s=WAIT_S)
    await asyncio.wait_for(entered.wait(), WAIT_S)
    if mode == "park":
        pending = await coordinator.pending(TENANT, limit=1000)
        states = sorted({p.dispatch_state.value for p in pending})
        print(f"PARKED {len(pending)} {','.join(states)}", flush=True)
    print("READY", flush=True)
    await asyncio.Event().wait()  # until killed


async def recover(root: Path, log: IO[str]) -> None:
    accepted = [line.split() for line in (root / "accepted.txt").read_text().splitlines()]
    coordinator = await open_coordinator(root, log)
    summary: dict[str, Any] = {"executions": {}}
    try:
        await coordinator.start()
        for eid, n in accepted:
            record = await coordinator.wait_for(TENANT, eid, TERMINAL, timeout_s=WAIT_S)
            summary["executions"][eid] = {
                "n": int(n),
                "status": record.status.value,
                "outcome": (record.result_payload or {}).get("outcome"),
                "expected": EXPECTED[RESTAURANTS[int(n) % 2]],
            }
        channel: Any = coordinator.await_lane.channel
        summary["outcomes"] = dict(channel.outcomes)
        summary["published"] = channel.published
    finally:
        await coordinator.close()
    print(json.dumps(summary), flush=True)


def main() -> None:
    mode, root = sys.argv[1], Path(sys.argv[2])
    with open(root / "commits.log", "a") as log:
        if mode == "recover":
            asyncio.run(recover(root, log))
        else:
            with open(root / "accepted.txt", "a") as accepted:
                asyncio.run(run(root, mode, int(sys.argv[3]), log, accepted))


if __name__ == "__main__":
    main()
