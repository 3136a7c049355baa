"""The local transition worker: runs pipeline code in the coordinator's own process.

One worker hosts one pipeline release: by default the release version is the digest of the
pipeline's code (tpf/release_code.py), the same one ``tpf release build`` gives a build of that
code. It refuses a command pinned to another identity (the
execution must run the code it was submitted against), runs steps from the command's step to
the end or to the next await, and reports the outcome as a ``TransitionResult``; it never raises
for a failing step. Sync steps run in worker threads bounded by the coordinator's
:class:`~tpf.transports.workers.step_threads.StepThreads`, async steps on the event loop.

It supplies the :class:`~tpf.transports.workers.validators.AuthoredTypesValidator` of its code
(the engine validates through it without knowing a pipeline object), and cancels a running
transition when its lease is lost (a sync step already in its thread runs on to its end, but
nothing after it does).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec

import tpf
from tpf.authoring.await_transports import transport_document
from tpf.authoring.code import pipeline_code
from tpf.authoring.context import ContextTracker, StepContext
from tpf.authoring.item_steps import Pages, list_pages, run_aggregation, run_expansion
from tpf.authoring.pipeline import Pipeline, StepSpec
from tpf.authoring.streams import EXPANSION, choose
from tpf.core import events, lifecycle
from tpf.core.clock import Clock
from tpf.core.errors import TerminalError, TpfError
from tpf.core.events import log_event
from tpf.core.interactions import new_interaction
from tpf.core.records import (
    AwaitSuspension,
    PayloadEnvelope,
    TransitionCommand,
    TransitionFailure,
    TransitionOutcome,
    TransitionResult,
)
from tpf.transports.workers.step_threads import StepThreads
from tpf.transports.workers.validators import AuthoredTypesValidator

LOG = logging.getLogger("tpf.worker.local")
_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class StepEvent:
    """What a step did, for observers (the demo prints these)."""

    execution_id: str
    step_index: int
    step_name: str
    kind: str
    output: Any


StepObserver = Callable[[StepEvent], None]
# Takes one page of an expansion's items (plain JSON), in order.
ItemSink = Callable[[list[Any]], Awaitable[None]]


# Frames of the machinery between the worker and the step (this package, anyio's thread hop,
# asyncio): an operator reading ``errorDetail`` wants the step's own frames, not ours.
_MACHINERY = tuple(
    str(Path(module.__file__).resolve().parent) + os.sep
    for module in (tpf, anyio, asyncio)
    if module.__file__ is not None
)


def error_detail(exc: BaseException) -> str:
    """``exc``'s traceback as text from the first frame outside the machinery (the step's code),
    bounded to its end (where the step raised). An error raised by the machinery itself (e.g. an
    input that does not decode) keeps its whole traceback."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_MACHINERY):
        tb = tb.tb_next
    shown = traceback.TracebackException(type(exc), exc, tb or exc.__traceback__)
    detail = lifecycle.trim_detail("".join(shown.format()))
    assert detail is not None
    return detail


def failure_result(
    exc: BaseException, *, retryable: bool, detail: str | None = None
) -> TransitionResult:
    cls = type(exc)
    code = exc.code if isinstance(exc, TpfError) else cls.__name__
    return TransitionResult(
        outcome=TransitionOutcome.FAILED,
        failure=TransitionFailure(
            failure_class=f"{cls.__module__}.{cls.__qualname__}",
            message=str(exc) or cls.__name__,
            retryable=retryable,
            error_code=code if isinstance(exc, TpfError) and code != "NON_RETRYABLE" else None,
            error_detail=detail,
        ),
    )


class LocalTransitionWorker:
    protocol = "local"

    def __init__(
        self,
        pipeline: Pipeline,
        clock: Clock,
        *,
        release_version: str | None = None,
        observer: StepObserver | None = None,
        step_threads: StepThreads | None = None,
    ) -> None:
        self.pipeline = pipeline
        self._clock = clock
        self._observer = observer
        code = pipeline_code(pipeline)
        # The code digest is what ``tpf release build`` releases this code as by default; an
        # explicit ``release_version`` hosts it under a release built with that version.
        self.code_digest = code.digest
        self._identity = (
            pipeline.pipeline_id,
            code.contract_version,
            release_version or code.digest,
        )
        self._threads = step_threads or StepThreads()
        self._validator = AuthoredTypesValidator(pipeline)
        self._running: dict[tuple[str, str], asyncio.Task[Any]] = {}

    @property
    def identity(self) -> tuple[str, str, str]:
        return self._identity

    @property
    def validator(self) -> AuthoredTypesValidator:
        return self._validator

    async def start(self) -> None:
        return None  # the code is imported already; nothing to connect

    async def cancel(self, tenant_id: str, execution_id: str) -> None:
        task = self._running.get((tenant_id, execution_id))
        if task is not None and not task.done():
            task.cancel()

    async def aclose(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        self._running.clear()

    async def execute(
        self,
        command: TransitionCommand,
        pages: Pages | None = None,
        sink: ItemSink | None = None,
    ) -> TransitionResult:
        """Run the command's steps. From the coordinator hosting this code, ``pages`` (for a
        command that starts at an aggregation) streams the items' outputs from the store
        instead of the command's payload list, and ``sink`` takes an expansion's items a page
        at a time instead of the result carrying them all."""
        key = (command.tenant_id, command.execution_id)
        task = asyncio.current_task()
        if task is not None and command.item_index is None:
            self._running[key] = task  # so a lost lease can cancel this transition
        try:
            return await self._execute(command, pages, sink)
        finally:
            if task is not None and self._running.get(key) is task:
                del self._running[key]

    async def _execute(
        self, command: TransitionCommand, pages: Pages | None, sink: ItemSink | None
    ) -> TransitionResult:
        wanted = (command.pipeline_id, command.contract_version, command.release_version)
        if wanted != self._identity:
            pid, cv, rv = self._identity
            return failure_result(
                TpfError(
                    f"Transition command targets pipelineId={command.pipeline_id}, "
                    f"contractVersion={command.contract_version}, "
                    f"releaseVersion={command.release_version} but local worker is "
                    f"pipelineId={pid}, contractVersion={cv}, releaseVersion={rv}"
                ),
                retryable=True,
            )
        try:
            return await self._run(command, pages, sink)
        # The traceback is taken here, where the step raised: the coordinator only ever sees
        # the failure (for a remote worker, in the result envelope).
        except (TerminalError, msgspec.ValidationError) as exc:
            return failure_result(exc, retryable=False, detail=error_detail(exc))
        except TpfError as exc:
            return failure_result(exc, retryable=exc.retryable, detail=error_detail(exc))
        except Exception as exc:  # step code failed: the coordinator decides on retries
            return failure_result(exc, retryable=True, detail=error_detail(exc))

    async def _run(
        self, command: TransitionCommand, pages: Pages | None, sink: ItemSink | None
    ) -> TransitionResult:
        pipeline = self.pipeline
        steps = pipeline.steps
        shape, branches = pipeline.stream()
        stop = command.stop_before_step_index
        end = len(steps) if stop < 0 else min(stop, len(steps))
        value: Any = None if pages is not None else _json_decode(command.payload)
        plain = True  # ``value`` is a plain JSON value (not yet a step's typed output)
        contexts = ContextTracker(pipeline, command.current_step_index, value, command.context)
        index = command.current_step_index
        skip_to = -1  # one past a branch group whose chosen step already ran
        last_ran = -1
        for index in range(command.current_step_index, end):
            step = steps[index]
            if index < skip_to:
                continue
            branch = branches.get(index)
            if branch is not None:  # a branch group: only the step of the value's variant runs
                chosen, value = choose(branch, steps, value if plain else pipeline.to_plain(value))
                plain, skip_to = True, branch.group_end
                if chosen != index:
                    step, index = steps[chosen], chosen
            if index == shape.aggregation and index == command.current_step_index:
                ctx = contexts.context_for(index) if step.context_param is not None else None
                source = pages if pages is not None else list_pages(list(value or ()))
                value = await run_aggregation(
                    pipeline, index, source, limiter=self._threads.limiter(), context=ctx
                )
                plain, last_ran = False, index
                self._notify(command, index, step.name, "internal", value)
                continue
            if step.cardinality == EXPANSION:
                return await self._expand(command, index, value, plain, contexts, sink)
            if step.kind == "await":
                request = value if plain else pipeline.to_plain(value)
                interaction = new_interaction(
                    tenant_id=command.tenant_id,
                    execution_id=command.execution_id,
                    step_id=step.step_id,
                    step_index=index,
                    attempt=command.attempt,
                    output_type=step.output_type_id,
                    request_payload=request,
                    key_fields=step.key_fields,
                    timeout_ms=step.timeout_ms or 0,
                    now_ms=self._clock.now_ms(),
                    assignee=step.assignee,
                    group=step.group,
                    transport_type=step.transport or "interaction-api",
                    transport_metadata=_await_metadata(step),
                )
                self._notify(command, index, step.name, "await", request)
                return TransitionResult(
                    outcome=TransitionOutcome.WAITING_EXTERNAL,
                    await_suspension=AwaitSuspension(
                        tenant_id=command.tenant_id,
                        execution_id=command.execution_id,
                        unit_id=interaction.unit_id,
                        step_index=index,
                        interactions=(interaction,),
                    ),
                    context_outputs=contexts.result_outputs(),
                )
            typed = pipeline.decode_input(index, value if plain else pipeline.to_plain(value))
            ctx = contexts.context_for(index) if step.context_param is not None else None
            if LOG.isEnabledFor(logging.DEBUG):
                value = await self._logged_step(command, index, typed, ctx)
            else:
                value = await pipeline.run_step(
                    index, typed, limiter=self._threads.limiter(), context=ctx
                )
            plain, last_ran = False, index
            self._notify(command, index, step.name, "internal", value)
            if contexts.enabled:  # a later step of this or another transition may read it
                value, plain = pipeline.to_plain(value), True
                contexts.produced(index, value)
        result = value if plain else pipeline.to_plain(value)
        # The step that ran last names the output (a branch group's last step may not have).
        if last_ran < 0:
            last_ran = end - 1
        type_id = steps[last_ran].output_type_id if last_ran >= 0 else command.payload_type_id
        return TransitionResult(
            outcome=TransitionOutcome.COMPLETED,
            output_payloads=(
                PayloadEnvelope(payload_type_id=type_id, payload=_json_encode(result).decode()),
            ),
            context_outputs=contexts.result_outputs(),
        )

    async def _expand(
        self,
        command: TransitionCommand,
        index: int,
        value: Any,
        plain: bool,
        contexts: ContextTracker,
        sink: ItemSink | None,
    ) -> TransitionResult:
        """Run expansion step ``index``: its items are the result (one payload each), or go
        to ``sink`` page by page (then the result carries none)."""
        pipeline = self.pipeline
        step = pipeline.steps[index]
        typed = pipeline.decode_input(index, value if plain else pipeline.to_plain(value))
        ctx = contexts.context_for(index) if step.context_param is not None else None
        outputs: list[PayloadEnvelope] = []
        count = 0
        async for page in run_expansion(
            pipeline, index, typed, limiter=self._threads.limiter(), context=ctx
        ):
            count += len(page)
            if sink is not None:
                await sink(page)
                continue
            outputs.extend(
                PayloadEnvelope(payload_type_id=step.output_type_id, payload=_text(item))
                for item in page
            )
        self._notify(command, index, step.name, "expansion", count)
        return TransitionResult(
            outcome=TransitionOutcome.COMPLETED,
            output_payloads=tuple(outputs),
            context_outputs=contexts.result_outputs(),
        )

    async def _logged_step(
        self, command: TransitionCommand, index: int, typed: Any, ctx: StepContext | None
    ) -> Any:
        """Run step ``index`` between ``step.start`` and ``step.finish`` lines (DEBUG only)."""
        ids = (command.tenant_id, command.execution_id, index, command.attempt)
        name = self.pipeline.steps[index].name
        log_event(LOG, logging.DEBUG, events.STEP_START, *ids, stepName=name)
        # A duration for the log, not a time the engine acts on: the monotonic counter, which
        # (unlike the injected wall clock's milliseconds) resolves sub-millisecond steps.
        started = time.perf_counter()
        outcome = "failed"
        try:
            value = await self.pipeline.run_step(
                index, typed, limiter=self._threads.limiter(), context=ctx
            )
        except asyncio.CancelledError:  # the lease was lost (a sync step runs on in its thread)
            outcome = "cancelled"
            raise
        else:
            outcome = "ok"
            return value
        finally:
            log_event(
                LOG,
                logging.DEBUG,
                events.STEP_FINISH,
                *ids,
                stepName=name,
                outcome=outcome,
                durationMs=round((time.perf_counter() - started) * 1000, 3),
            )

    def _notify(
        self, command: TransitionCommand, index: int, name: str, kind: str, output: Any
    ) -> None:
        if self._observer is not None:
            try:
                self._observer(StepEvent(command.execution_id, index, name, kind, output))
            except Exception:  # an observer must never fail the transition
                LOG.exception("step observer failed")


def _text(value: Any) -> str:
    return _json_encode(value).decode()


def _await_metadata(step: StepSpec) -> dict[str, Any]:
    """What the coordinator's await lane reads from a new interaction: the step's declared
    input type (the dispatch envelope's ``inputType``) and, when the step pins one, its
    transport (so any coordinator can open that channel from the stored record)."""
    metadata: dict[str, Any] = {"inputType": step.input_type_id}
    if step.transport_spec is not None:
        metadata["transport"] = transport_document(step.transport_spec)
    return metadata
