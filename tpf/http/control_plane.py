"""Control-plane routes (spec §2.1): submit, status, result, pending interactions, complete.

Base path ``/tpf/control-plane/tenants/{tenantId}``. Submit and complete are commands (the
coordinator sends them to actors); status, result and pending read the stores. Beyond the
original, status and result accept ``?waitMs=N``: a long poll that answers as soon as the
execution is terminal or parked on an open interaction, so clients need not poll in a loop.
``&until=terminal`` holds it through the park as well: a client that only wants the outcome
(the answer arrives over a broker, not from it) asks once instead of once per park.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import quote

from aiohttp import web

from tpf.core import codec, resume_tokens
from tpf.core.errors import NotFound, ValidationError
from tpf.core.records import (
    TERMINAL_STATUSES,
    AwaitInteraction,
    ExecutionRecord,
    ExecutionStatus,
)
from tpf.http import dto
from tpf.http import execution_views as views
from tpf.http.wire import (
    ASK_TIMEOUT,
    EDGE,
    Edge,
    Param,
    Route,
    Surface,
    decode_body,
    header_text,
    json_response,
    path_text,
    query_choice,
    query_int,
    query_text,
)

BASE = "/tpf/control-plane/tenants/{tenantId}"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
NEXT_CURSOR = "X-Next-Cursor"
WAIT_MS = Param(
    "waitMs",
    "Long poll: answer as soon as the execution is terminal or waiting on an open interaction, "
    "else after this many milliseconds (capped by tpf.http.max-wait)",
    "integer",
    minimum=0,
)
SETTLED, TERMINAL = "settled", "terminal"
UNTIL = Param(
    "until",
    "With waitMs: settled (the default) answers once the execution is terminal or waiting on "
    "an open interaction; terminal holds through waits too, until it succeeded, failed or "
    "moved to the DLQ",
    choices=(SETTLED, TERMINAL),
)


def status_url(tenant_id: str, execution_id: str) -> str:
    return f"/tpf/control-plane/tenants/{quote(tenant_id, safe='')}/executions/{execution_id}"


async def submit(request: web.Request) -> web.Response:
    edge = request.app[EDGE]
    tenant_id = path_text(request, "tenantId")
    body = await decode_body(request, dto.SubmitRequest)
    if body.output_streaming:
        raise ValidationError(
            "outputStreaming: true is not supported; executions run durably, read the outcome "
            "from the result route (with ?waitMs= to wait for it)"
        )
    # The original's generated routes take the key as a header; accept it when the body has none.
    key = body.idempotency_key or header_text(request, "Idempotency-Key")
    result = await edge.coordinator.submit(
        tenant_id,
        body.pipeline_id,
        body.input_payload,
        input_shape=body.input_shape,
        idempotency_key=key,
    )
    return json_response(
        dto.SubmitResponse(
            execution_id=result.execution_id,
            duplicate=result.duplicate,
            status_url=status_url(tenant_id, result.execution_id),
            submitted_at_epoch_ms=result.submitted_at_epoch_ms,
        )
    )


async def status(request: web.Request) -> web.Response:
    parts = views.includes(request)  # refused before any long poll
    return json_response(await views.full_status(request, await _read(request), parts))


async def result(request: web.Request) -> web.Response:
    record = await _read(request)
    payload = None
    if record.status is ExecutionStatus.SUCCEEDED:
        payload = codec.encode_payload(record.result_payload, record.result_type_id)
    body = await views.full_status(request, record)
    return json_response(dto.ExecutionResultDto(status=body, result_payload=payload))


async def _read(request: web.Request) -> ExecutionRecord:
    edge = request.app[EDGE]
    tenant_id = path_text(request, "tenantId")
    execution_id = path_text(request, "executionId")
    wait_ms = query_int(request, WAIT_MS.name, minimum=WAIT_MS.minimum)
    until = query_choice(request, UNTIL, SETTLED)  # refused even without a wait
    if not wait_ms:
        return await edge.coordinator.status(tenant_id, execution_id)
    wait_s = min(wait_ms, edge.coordinator.settings.http.max_wait_ms) / 1000.0
    return await _long_poll(edge, tenant_id, execution_id, wait_s, until)


async def _long_poll(
    edge: Edge, tenant_id: str, execution_id: str, wait_s: float, until: str
) -> ExecutionRecord:
    coordinator = edge.coordinator
    waiter = asyncio.ensure_future(
        coordinator.wait_for(tenant_id, execution_id, TERMINAL_STATUSES, timeout_s=wait_s)
        if until == TERMINAL
        else coordinator.wait_settled(tenant_id, execution_id, timeout_s=wait_s)
    )
    stopping = asyncio.ensure_future(edge.shutdown.wait())
    try:
        await asyncio.wait({waiter, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not waiter.done():
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
    if waiter.cancelled():  # the server is stopping: answer with what we have
        return await edge.coordinator.status(tenant_id, execution_id)
    return waiter.result()


async def pending(request: web.Request) -> web.Response:
    edge = request.app[EDGE]
    tenant_id = path_text(request, "tenantId")
    limit = query_int(request, "limit")
    limit = DEFAULT_LIMIT if limit is None else max(1, min(MAX_LIMIT, limit))
    page = await edge.coordinator.pending_page(
        tenant_id,
        assignee=query_text(request, "assignee"),
        group=query_text(request, "group"),
        step_id=query_text(request, "stepId"),
        execution_id=query_text(request, "executionId"),
        limit=limit,
        cursor=query_text(request, "cursor"),
    )
    now = edge.coordinator.clock.now_ms()
    # The body stays the original's array; the next page's cursor travels in a header.
    response = json_response([interaction_dto(i, edge.resume_secret, now) for i in page.items])
    if page.next_cursor is not None:
        response.headers[NEXT_CURSOR] = page.next_cursor
    return response


def interaction_dto(
    interaction: AwaitInteraction, secret: str | None, now_ms: int
) -> dto.InteractionDto:
    return dto.InteractionDto(
        interaction_id=interaction.interaction_id,
        correlation_id=interaction.correlation_id,
        execution_id=interaction.execution_id,
        step_id=interaction.step_id,
        step_index=interaction.step_index,
        output_type=interaction.output_type,
        status=interaction.status.value,
        request_payload=interaction.request_payload,
        assignee=interaction.assignee,
        group=interaction.group,
        transport_type=interaction.transport_type,
        transport_metadata=interaction.transport_metadata,
        deadline_epoch_ms=interaction.deadline_epoch_ms,
        created_at_epoch_ms=interaction.created_at_epoch_ms,
        updated_at_epoch_ms=interaction.updated_at_epoch_ms,
        resume_token=resume_tokens.issue(secret, interaction, now_ms) if secret else dto.UNSET,
        item_index=dto.UNSET if interaction.item_index is None else interaction.item_index,
    )


async def complete(request: web.Request) -> web.Response:
    edge = request.app[EDGE]
    tenant_id = path_text(request, "tenantId")
    body = await decode_body(request, dto.CompleteRequest)
    interaction_id = (body.interaction_id or "").strip() or None
    correlation_id = (body.correlation_id or "").strip() or None
    token = (body.resume_token or "").strip() or None
    if not (interaction_id or correlation_id or token):
        raise ValidationError("interactionId, correlationId, or resumeToken is required")
    if body.response_payload is None:
        raise ValidationError("responsePayload is required")
    if token is not None:
        target = await _token_target(edge, tenant_id, token, interaction_id, correlation_id)
        interaction_id, correlation_id = target.interaction_id, None
    completion = await edge.coordinator.complete(
        tenant_id,
        interaction_id=interaction_id,
        correlation_id=correlation_id,
        response=body.response_payload,
        actor=body.actor,
    )
    done = completion.interaction
    if done is None:  # only channel completions are held; a REST one never is
        raise NotFound(f"Await interaction not found: {interaction_id or correlation_id}")
    return json_response(
        dto.CompleteResponse(
            interaction_id=done.interaction_id,
            execution_id=done.execution_id,
            step_id=done.step_id,
            status=done.status.value,
            duplicate=completion.duplicate,
        )
    )


async def _token_target(
    edge: Edge,
    tenant_id: str,
    token: str,
    interaction_id: str | None,
    correlation_id: str | None,
) -> AwaitInteraction:
    """The interaction a resume token completes, after checking its signature and claims."""
    if edge.resume_secret is None:
        raise ValidationError(
            "resumeToken: resume tokens need pipeline.orchestrator.resume-token-secret to be "
            "configured on the coordinator"
        )
    awaits = edge.coordinator.stores.awaits
    if interaction_id:
        found = await awaits.get(tenant_id, interaction_id)
    elif correlation_id:
        found = await awaits.get_by_correlation(tenant_id, correlation_id)
    else:  # the token's own claim is only a lookup hint until it verifies against the record
        hint = resume_tokens.peek(token).interaction_id
        found = await awaits.get(tenant_id, hint)
    if found is None:
        raise NotFound(
            f"Await interaction not found: {interaction_id or correlation_id or 'token'}"
        )
    try:
        resume_tokens.verify(edge.resume_secret, token, found, edge.coordinator.clock.now_ms())
    except ValidationError as exc:
        # A genuine token past its deadline still goes through completion, which times the
        # interaction out and fails the execution consistently (and answers 400).
        if exc.code != resume_tokens.CODE_EXPIRED:
            raise
    return found


_EXECUTION_ERRORS = (400, 401, 404, 503)
ROUTES = (
    Route(
        "POST", f"{BASE}/executions", submit, Surface.CONTROL_PLANE,
        "Submit an execution of the tenant's active release of a pipeline",
        request=dto.SubmitRequest, response=dto.SubmitResponse,
        errors=(400, 401, 404, 409, 413, 503, ASK_TIMEOUT),
    ),
    Route(
        "GET", f"{BASE}/executions/{{executionId}}", status, Surface.CONTROL_PLANE,
        "Read an execution's status, its open interactions and (admin token) its input and "
        "known step outputs", response=dto.ExecutionStatusDto,
        query=(WAIT_MS, UNTIL, views.INCLUDE), errors=(*_EXECUTION_ERRORS, 403),
    ),
    Route(
        "GET", f"{BASE}/executions/{{executionId}}/result", result, Surface.CONTROL_PLANE,
        "Read an execution's status and, once it succeeded, its result payload",
        response=dto.ExecutionResultDto, query=(WAIT_MS, UNTIL), errors=_EXECUTION_ERRORS,
    ),
    Route(
        "GET", f"{BASE}/interactions/pending", pending, Surface.CONTROL_PLANE,
        "List open await interactions, earliest deadline first; the next page's cursor is the "
        "X-Next-Cursor response header (absent on the last page)",
        response=list[dto.InteractionDto],
        query=(
            Param("assignee", "exact match"),
            Param("group", "exact match"),
            Param("stepId", "exact match"),
            Param("executionId", "exact match"),
            Param("limit", "default 100, clamped to [1, 1000]", "integer"),
            Param("cursor", "the X-Next-Cursor header of the previous page"),
        ),
        errors=(400, 401, 404),
    ),
    Route(
        "POST", f"{BASE}/interactions/complete", complete, Surface.CONTROL_PLANE,
        "Complete an await interaction by interactionId, correlationId or resumeToken; the "
        "response must fit the await's output type (400 naming the field), and a different "
        "answer to a completed interaction is a 409 INTERACTION_ALREADY_COMPLETED",
        request=dto.CompleteRequest, response=dto.CompleteResponse,
        errors=(400, 401, 404, 409, 413, ASK_TIMEOUT),
    ),
)  # fmt: skip
