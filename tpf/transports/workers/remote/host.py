"""The worker side of every protocol: run commands from a coordinator on hosted pipeline code.

:class:`WorkerHost` is the :class:`~tpf.transports.workers.remote.contracts.WorkerHandler` a
protocol server (REST route, gRPC servicer, SQS poller) calls once a request's signature holds.
It serves the local workers of a :class:`~tpf.transports.workers.directory.WorkerDirectory`
(code imported in the worker process): it decodes the command envelope, checks the command's
identity first (a command pinned to code it does not host is answered with the original's
``FAILED`` "Transition command targets ... but local worker is ..."), runs the transition and
encodes the result. A failing step is a ``FAILED`` result, never an exception; its traceback is
logged here, because the original's result envelope has no field for it.

It counts the transitions in flight so a stopping worker can :meth:`drain`: new commands are
refused (:class:`~tpf.transports.workers.remote.contracts.WorkerNotReady`: REST 503, gRPC
``FAILED_PRECONDITION``, so the coordinator retries them elsewhere) while the running ones
finish. Its capability answer names the hosted code's identity and the artifact id and digest
this worker is configured with (``worker.artifact-id`` / ``-digest``).

:attr:`WorkerHost.counts` counts what it did, for the worker process's metrics: transitions
run by outcome (``COMPLETED``, ``WAITING_EXTERNAL``, ``FAILED``; ``FAILED_RETRYABLE`` counts the
failures that will be retried) and commands refused (``refused:draining``, ``refused:no_code``,
``refused:malformed``, ``refused:identity_mismatch``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from tpf.core.errors import TpfError
from tpf.core.records import TransitionCommand, TransitionResult
from tpf.transports.base import TransitionWorker
from tpf.transports.workers.directory import WorkerDirectory
from tpf.transports.workers.local import error_detail, failure_result
from tpf.transports.workers.remote.capability import PipelineWorkerCapability, encode_capability
from tpf.transports.workers.remote.contracts import MalformedRequest, WorkerNotReady
from tpf.transports.workers.remote.envelopes import decode_command, encode_result

LOG = logging.getLogger("tpf.worker.host")


def mismatch_result(command: TransitionCommand, hosted: list[TransitionWorker]) -> TransitionResult:
    """The original's answer to a command pinned to code this worker does not host."""
    local = " or ".join(
        f"pipelineId={pid}, contractVersion={cv}, releaseVersion={rv}"
        for pid, cv, rv in (worker.identity for worker in hosted)
    )
    return failure_result(
        TpfError(
            f"Transition command targets pipelineId={command.pipeline_id}, "
            f"contractVersion={command.contract_version}, "
            f"releaseVersion={command.release_version} but local worker is {local}"
        ),
        retryable=True,
    )


class WorkerHost:
    def __init__(
        self,
        workers: WorkerDirectory,
        *,
        artifact_id: str | None = None,
        artifact_digest: str | None = None,
    ) -> None:
        self._workers = workers
        self._artifact_id = artifact_id or None
        self._artifact_digest = artifact_digest or None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False
        self.counts: Counter[str] = Counter()

    @property
    def workers(self) -> WorkerDirectory:
        """The hosted local workers (the worker process adds its pipelines here)."""
        return self._workers

    @property
    def in_flight(self) -> int:
        """Transitions running now."""
        return self._in_flight

    @property
    def draining(self) -> bool:
        return self._draining

    async def execute(self, command_envelope: bytes) -> bytes:
        if self._draining:
            self.counts["refused:draining"] += 1
            raise WorkerNotReady("the worker is draining: it accepts no new transitions")
        try:
            command = decode_command(command_envelope)
        except MalformedRequest:
            self.counts["refused:malformed"] += 1
            raise
        identity = (command.pipeline_id, command.contract_version, command.release_version)
        worker = self._workers.get(identity)
        if worker is None:
            hosted = self._workers.all()
            if not hosted:
                self.counts["refused:no_code"] += 1
                raise WorkerNotReady("no pipeline code is hosted by this worker")
            self.counts["refused:identity_mismatch"] += 1
            return encode_result(mismatch_result(command, hosted))
        self._in_flight += 1
        self._idle.clear()
        try:
            result = await worker.execute(command)
        except Exception as exc:  # the worker's own machinery failed, not the step: retry it
            LOG.exception("transition %s failed outside its steps", command.transition_key)
            result = failure_result(exc, retryable=True, detail=error_detail(exc))
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        self.counts[result.outcome.value] += 1
        if result.failure is not None:
            failure = result.failure
            if failure.retryable:
                self.counts["FAILED_RETRYABLE"] += 1
            LOG.warning(
                "transition %s of execution %s (tenant %s) failed%s: %s: %s%s",
                command.transition_key,
                command.execution_id,
                command.tenant_id,
                "" if failure.retryable else " for good",
                failure.failure_class,
                failure.message,
                f"\n{failure.error_detail}" if failure.error_detail else "",
            )
        return encode_result(result)

    async def capabilities(self, provider_name: str) -> bytes:
        hosted = self._workers.all()
        if not hosted:
            raise WorkerNotReady("no pipeline code is hosted by this worker")
        # One identity per answer (the original's shape): the code hosted last.
        pipeline_id, contract_version, release_version = hosted[-1].identity
        return encode_capability(
            PipelineWorkerCapability(
                provider_name=provider_name,
                pipeline_id=pipeline_id,
                contract_version=contract_version,
                release_version=release_version,
                artifact_id=self._artifact_id,
                artifact_digest=self._artifact_digest,
            )
        )

    async def drain(self, timeout_s: float) -> bool:
        """Refuse new transitions from now on and wait (up to ``timeout_s``) for the running
        ones to finish; whether they all did."""
        self._draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            LOG.warning(
                "drain: %d transition(s) still running after %.1f s", self._in_flight, timeout_s
            )
            return False
        return True
