"""Execution commands and the status query: submit, re-drive, status.

Submit admits the execution (an active release some worker can run), checks its input with the
validator the worker directory gives for the pinned identity (never a pipeline object), derives
its idempotency key and sends it to its execution actor; re-drive is a message to that actor;
the status query is shared with the long polls (:class:`~tpf.engine.parts.Parts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpf.actors.context import EXECUTION
from tpf.actors.messages import Redrive, Submit
from tpf.core import codec, ids
from tpf.core.errors import ValidationError
from tpf.core.records import ExecutionRecord, ExecutionStatus, IdempotencyPolicy
from tpf.engine.parts import Parts

INPUT_SHAPES = frozenset({"UNI", "MULTI", "RAW"})


@dataclass(frozen=True)
class SubmitResult:
    execution_id: str
    duplicate: bool
    submitted_at_epoch_ms: int
    record: ExecutionRecord


class ExecutionCommands(Parts):
    async def submit(
        self,
        tenant_id: str,
        pipeline_id: str,
        input_payload: Any,
        *,
        input_shape: str = "UNI",
        idempotency_key: str | None = None,
    ) -> SubmitResult:
        """Accept an execution of the tenant's active release of ``pipeline_id``."""
        require(tenant_id, "tenantId")
        require(pipeline_id, "pipelineId")
        if input_shape not in INPUT_SHAPES:
            raise ValidationError(
                f"inputShape: must be one of {', '.join(sorted(INPUT_SHAPES))}, got {input_shape!r}"
            )
        if input_payload is None:
            raise ValidationError("inputPayload is required")
        type_id, value = codec.decode_payload(
            input_payload, field="inputPayload", max_json_depth=self.settings.http.max_json_depth
        )
        release = await self.admission.admit(tenant_id, pipeline_id)
        identity = (pipeline_id, release.contract_version, release.release_version)
        validator = self.directory.validator(identity)
        plan = self.engine.step_ids.plan_of(release)
        multi = plan is not None and plan.multi_input
        if multi != (input_shape == "MULTI"):
            raise ValidationError(
                f"inputShape: pipeline {pipeline_id} takes "
                + (
                    "a stream of items: submit MULTI with a JSON array"
                    if multi
                    else f"one input: submit UNI (or RAW), not {input_shape}"
                ),
                details={"field": "inputShape"},
            )
        if multi:
            if not isinstance(value, list):
                raise ValidationError(
                    "inputPayload: inputShape MULTI takes a JSON array of items",
                    details={"field": "inputPayload"},
                )
            for element in value:
                validator.decode_input(element)
        else:
            validator.decode_input(value)
        type_id = validator.input_type_id(type_id)
        # What makes two submits the same: the derived key and the conflict check cover exactly
        # this, so a derived key can never be "reused" by a different submit.
        submitted = [pipeline_id, input_shape, value]
        key = self._execution_key(tenant_id, idempotency_key, codec.canonical_json(submitted))
        now = self.clock.now_ms()
        record = ExecutionRecord(
            tenant_id=tenant_id,
            execution_id=ids.new_execution_id(),
            execution_key=key,
            pipeline_id=pipeline_id,
            contract_version=release.contract_version,
            release_version=release.release_version,
            status=ExecutionStatus.QUEUED,
            input_shape=input_shape,
            # What the result will be (spec §1): a list when a stream's items are the result.
            result_shape=plan.result_shape if plan is not None else "SINGLE",
            input_type_id=type_id,
            input_payload=value,
            input_digest=codec.canonical_digest(submitted),
            next_due_epoch_ms=now,
            created_at_epoch_ms=now,
            updated_at_epoch_ms=now,
            # No TTL while live: retention counts from the terminal state (lifecycle.retain).
            ttl_epoch_s=0,
        )
        answer = await self.system.ask(
            EXECUTION,
            (tenant_id, record.execution_id),
            Submit(record),
            timeout_s=self.ask_timeout_s,
        )
        stored, duplicate = answer.record, answer.duplicate
        return SubmitResult(stored.execution_id, duplicate, stored.created_at_epoch_ms, stored)

    def _execution_key(self, tenant_id: str, client_key: str | None, submitted: bytes) -> str:
        policy = self.settings.execution.idempotency_policy
        client_key = client_key.strip() if client_key else None
        if policy is IdempotencyPolicy.SERVER_KEY_ONLY:
            return ids.server_execution_key(tenant_id, submitted)
        if client_key:
            return client_key
        if policy is IdempotencyPolicy.CLIENT_KEY_REQUIRED:
            raise ValidationError(
                "idempotencyKey is required (idempotency-policy=CLIENT_KEY_REQUIRED)",
                code="IDEMPOTENCY_KEY_REQUIRED",
            )
        return ids.server_execution_key(tenant_id, submitted)

    async def redrive(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        expected_version: int | None = None,
        allow_failed: bool = False,
        reason: str | None = None,
        reopen_await: bool = False,
    ) -> ExecutionRecord:
        """Re-drive a terminal execution from its step; with ``reopen_await``, a FAILED one from
        its last await, which parks again on a fresh interaction (see
        :func:`tpf.core.redrives.reopen_await`)."""
        return await self.system.ask(
            EXECUTION,
            (tenant_id, execution_id),
            Redrive(expected_version, allow_failed, reason, reopen_await),
            timeout_s=self.ask_timeout_s,
        )


def require(value: str | None, name: str) -> None:
    if value is None or not str(value).strip():
        raise ValidationError(f"{name} is required")
