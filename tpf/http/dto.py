"""Every request and response body of the REST edge, as msgspec Structs.

Handlers decode requests into these types and encode responses from them, and the OpenAPI
document is generated from the same types, so the published schema cannot drift from what the
server accepts. Field names are the original's camelCase (spec §2). Requests forbid unknown
fields: a misspelt optional field (``idempotencykey``) would otherwise be silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from tpf.core.records import PayloadEnvelope

UNSET = msgspec.UNSET

PayloadObject = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description=(
            'A payload envelope {"payloadTypeId", "payloadEncoding", "payload": "<JSON text>"} '
            "as the original sends it, or the plain JSON object itself"
        )
    ),
]


class Request(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """Base of request bodies."""


class Response(msgspec.Struct, kw_only=True, rename="camel"):
    """Base of response bodies."""


# --------------------------------------------------------------------------- errors


class ErrorDetail(Response, kw_only=True):
    code: str
    message: str
    # Only on some errors, facts the message also states: ``field`` (the JSON path of a refused
    # field), ``completedBy``/``completedAt`` (INTERACTION_ALREADY_COMPLETED).
    details: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class ErrorBody(Response, kw_only=True):
    """Every error answer: ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorDetail


# --------------------------------------------------------------------------- control plane


class SubmitRequest(Request, kw_only=True):
    pipeline_id: str
    input_shape: Literal["UNI", "MULTI", "RAW"]
    input_payload: PayloadObject
    idempotency_key: str | None = None
    output_streaming: bool = False


class SubmitResponse(Response, kw_only=True):
    execution_id: str
    duplicate: bool
    status_url: str
    submitted_at_epoch_ms: int


class ItemsDto(Response, kw_only=True):
    """Ours (issue 13): how far an expanded execution's items got."""

    total: int
    completed: int
    failed: int
    pending: Annotated[int, msgspec.Meta(description="Items not completed or failed yet")]
    in_flight: Annotated[
        int, msgspec.Meta(description="Items whose interaction is open (the live window)")
    ]
    by_variant: Annotated[
        dict[str, int],
        msgspec.Meta(description="Completed items by the variant of their await's answer"),
    ]


class ExecutionStatusDto(Response, kw_only=True):
    execution_id: str
    status: str
    step_index: int
    attempt: int
    version: int
    next_due_epoch_ms: int
    updated_at_epoch_ms: int
    error_code: str | None
    error_message: str | None
    error_detail: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "Ours: the traceback of the step that raised (its last 8 KiB), while the "
                "execution is retrying or failed because of it; null otherwise"
            )
        ),
    ] = None
    # Ours (issue 12): where it is, and the open interactions an answer would resume.
    pipeline_id: str | msgspec.UnsetType = msgspec.UNSET
    release_version: str | msgspec.UnsetType = msgspec.UNSET
    step_id: str | None = None
    open_interaction_ids: list[str] = msgspec.field(default_factory=list)
    # Ours (issue 13): an expanded execution's items; absent for executions without a stream.
    items: ItemsDto | msgspec.UnsetType = msgspec.UNSET
    # Only with ?include=input,outputs (admin token): see tpf.http.operator_dto.
    input: PayloadEnvelope | msgspec.UnsetType = msgspec.UNSET
    outputs: list[StepOutputDto] | msgspec.UnsetType = msgspec.UNSET


class StepOutputDto(Response, kw_only=True):
    """One step's output known to the coordinator (see tpf.engine.operator); a payload over
    the size limit is ``{"truncated": true, "sizeBytes", "limitBytes"}``."""

    step_index: int
    step_id: str | None
    payload: Any


class ExecutionResultDto(Response, kw_only=True):
    status: ExecutionStatusDto
    result_payload: PayloadEnvelope | None


class InteractionDto(Response, kw_only=True):
    interaction_id: str
    correlation_id: str
    execution_id: str
    step_id: str
    step_index: int
    output_type: str | None
    status: str
    request_payload: Any
    assignee: str | None
    group: str | None
    transport_type: str
    transport_metadata: dict[str, Any]
    deadline_epoch_ms: int
    created_at_epoch_ms: int
    updated_at_epoch_ms: int
    # Present only when pipeline.orchestrator.resume-token-secret is configured.
    resume_token: str | msgspec.UnsetType = msgspec.UNSET
    # Present only for an itemized await's interaction (issue 13): the stream item it is for.
    item_index: int | msgspec.UnsetType = msgspec.UNSET


class CompleteRequest(Request, kw_only=True):
    interaction_id: str | None = None
    correlation_id: str | None = None
    resume_token: str | None = None
    # Accepted for compatibility; as in the original it plays no part in matching.
    idempotency_key: str | None = None
    response_payload: PayloadObject | None = None
    actor: str | None = None


class CompleteResponse(Response, kw_only=True):
    interaction_id: str
    execution_id: str
    step_id: str
    status: str
    duplicate: bool


# --------------------------------------------------------------------------- admin


class RedriveRequest(Request, kw_only=True):
    expected_version: int | None = None
    reason: str | None = None
    allow_failed: bool = False
    # Ours: re-drive a FAILED execution from its last await, parked on a fresh interaction.
    reopen_await: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "Re-open the last await of a FAILED execution (implies allowFailed): it parks "
                "again at that await step on a fresh interaction, so a corrected answer can "
                "complete it. Refused (409) when the execution is not FAILED or has no await."
            )
        ),
    ] = False


class RedriveResponse(Response, kw_only=True):
    tenant_id: str
    execution_id: str
    previous_status: str
    status: str
    version: int
    current_step_index: int
    attempt: int
    pipeline_id: str
    contract_version: str
    release_version: str
    updated_at_epoch_ms: int
    # Ours, with reopenAwait: the interaction whose answer the re-drive set aside.
    reopened_interaction_id: str | msgspec.UnsetType = msgspec.UNSET


class RegisterReleaseRequest(Request, kw_only=True):
    release_descriptor_path: str


class ReleaseDto(Response, kw_only=True):
    tenant_id: str
    pipeline_id: str
    contract_version: str
    release_version: str
    status: str
    descriptor: dict[str, Any]
    primary_artifact_id: str
    primary_artifact_digest: str
    primary_artifact_uri: str
    primary_artifact_size_bytes: int
    primary_artifact_checksum: str
    contract: dict[str, Any] | None
    created_at_epoch_ms: int
    updated_at_epoch_ms: int
    activated_at_epoch_ms: int


class RegisterWorkerRequest(Request, kw_only=True):
    worker_id: str
    contract_version: str
    release_version: str
    protocol: str
    endpoint: str | None = None
    artifact_id: str | None = None
    artifact_digest: str | None = None


class WorkerDto(Response, kw_only=True):
    tenant_id: str
    pipeline_id: str
    contract_version: str
    release_version: str
    worker_id: str
    protocol: str
    endpoint: str
    artifact_id: str
    artifact_digest: str
    state: str
    registered_at_epoch_ms: int
    last_heartbeat_at_epoch_ms: int
    draining_since_epoch_ms: int


# --------------------------------------------------------------------------- health


class HealthDto(Response, kw_only=True):
    status: Literal["UP", "DOWN"]
