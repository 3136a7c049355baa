"""One item's steps: the per-item ranges of a stream, run through the execution's worker.

The steps between an expansion and its aggregation run once per item: those before the
itemized await when the item is dispatched, those after it (branches included) when its answer
is applied. Each range is one transition command for the item (``itemIndex`` set, the
transition key naming the item), sent to the worker that runs the execution's release, local
or remote, so an item's steps run where the execution's other steps do.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tpf.actors.context import Engine
from tpf.authoring.streams import variant_of
from tpf.core.ids import transition_key
from tpf.core.records import ExecutionRecord, TransitionCommand, TransitionOutcome
from tpf.core.streams import StreamPlan
from tpf.transports.base import TransitionWorker

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
ATTEMPTS = 3  # tries of one item's steps when they fail with a retryable error


class ItemFailed(Exception):
    """An item cannot finish (its steps failed for good, or its await timed out with no
    ``timeout_response``): the execution fails with this error."""

    def __init__(
        self, message: str, code: str, retryable: bool = False, *, closed: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        # The item's await ended without an answer (timed out, cancelled): the item is FAILED.
        self.closed = closed


class ItemSteps:
    def __init__(
        self, engine: Engine, plan: StreamPlan, record: ExecutionRecord, worker: TransitionWorker
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.record = record
        self.worker = worker

    async def run(self, index: int, steps: tuple[int, int], value: Any) -> Any:
        """Item ``index``'s value after the steps ``[start, stop)`` (``value`` when empty)."""
        start, stop = steps
        if start >= stop:
            return value
        record = self.record
        key = f"{transition_key(record.execution_id, start, record.attempt)}:item={index}"
        command = TransitionCommand(
            tenant_id=record.tenant_id,
            execution_id=record.execution_id,
            pipeline_id=record.pipeline_id,
            contract_version=record.contract_version,
            release_version=record.release_version,
            current_step_index=start,
            stop_before_step_index=stop,
            attempt=record.attempt,
            result_shape=record.result_shape,
            execution_version=record.version,
            transition_key=key,
            trace_id=key,
            payload=_encode(value).decode(),
            item_index=index,
        )
        for attempt in range(1, ATTEMPTS + 1):
            result = await self.worker.execute(command)
            if result.outcome is TransitionOutcome.COMPLETED and result.output_payloads:
                return _decode(result.output_payloads[-1].payload)
            failure = result.failure
            retryable = failure is not None and failure.retryable
            if result.outcome is TransitionOutcome.FAILED and retryable and attempt < ATTEMPTS:
                self.engine.counters["item_step_retries"] += 1
                continue
            message = failure.message if failure is not None else f"outcome {result.outcome}"
            raise ItemFailed(
                f"item {index}: step {start} failed: {message}",
                (failure.error_code if failure is not None else None) or "ITEM_STEP_FAILED",
                retryable,
            )
        raise AssertionError("unreachable")  # the loop returns or raises

    async def finish(self, index: int, response: Any) -> tuple[Any, str | None]:
        """Item ``index``'s output after the steps that follow the await, and the variant of
        its answer (for the branch counts)."""
        output = await self.run(index, self.plan.item_ranges()[1], response)
        return output, variant_of(response)
