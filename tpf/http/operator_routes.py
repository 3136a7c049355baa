"""The operator's routes (issue 12): search, history, interaction detail, cancel, bulk re-drive,
the pipelines list.

Control plane (``/tpf/control-plane/tenants/{tenantId}``): ``GET /executions`` (filters and a
keyset cursor), ``GET /executions/{id}/history``, ``GET /interactions/{id}``. Admin
(``/tpf/admin/tenants/{tenantId}``): ``POST /executions/{id}/cancel``, ``POST
/executions/redrive`` (by filter), ``GET /pipelines``. Every filter is parsed here into a
:class:`~tpf.core.search.ExecutionQuery`; a bad value is a 400 naming its parameter.
"""

from __future__ import annotations

import datetime as dt
import re

from aiohttp import web

from tpf.core.errors import ValidationError
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus, InteractionStatus
from tpf.core.search import DEFAULT_LIMIT, MAX_LIMIT, ExecutionQuery
from tpf.http import dto
from tpf.http import operator_dto as odto
from tpf.http.control_plane import BASE as CP
from tpf.http.control_plane import interaction_dto
from tpf.http.execution_views import full_status
from tpf.http.wire import (
    ASK_TIMEOUT,
    EDGE,
    Param,
    Route,
    Surface,
    decode_body,
    json_response,
    path_text,
    query_int,
    query_text,
)

ADMIN = "/tpf/admin/tenants/{tenantId}"
_EPOCH_MS = re.compile(r"[0-9]{1,15}")
STATUSES = ", ".join(s.value for s in ExecutionStatus)


def parse_instant(name: str, value: int | str | None) -> int | None:
    """Epoch milliseconds from an integer, a string of digits or an ISO-8601 instant (a time
    without an offset is UTC); a 400 naming ``name`` otherwise."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value < 0:
            raise ValidationError(f"{name}: must not be negative, got {value}")
        return value
    text = value.strip()
    if not text:
        return None
    if _EPOCH_MS.fullmatch(text):
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{name}: must be epoch milliseconds or an ISO-8601 instant, got {text!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def parse_status(name: str, value: str | None) -> ExecutionStatus | None:
    if value is None or not value.strip():
        return None
    try:
        return ExecutionStatus(value.strip().upper())
    except ValueError:
        raise ValidationError(f"{name}: must be one of {STATUSES}, got {value!r}") from None


def query_of(request: web.Request) -> ExecutionQuery:
    """The search filters of ``request``'s query string."""
    after = parse_instant("updatedAfter", query_text(request, "updatedAfter"))
    before = parse_instant("updatedBefore", query_text(request, "updatedBefore"))
    if after is not None and before is not None and after > before:
        raise ValidationError("updatedAfter: must not be later than updatedBefore")
    return ExecutionQuery(
        tenant_id=path_text(request, "tenantId"),
        pipeline_id=query_text(request, "pipelineId"),
        status=parse_status("status", query_text(request, "status")),
        release_version=query_text(request, "releaseVersion"),
        step_id=query_text(request, "stepId"),
        error_code=query_text(request, "errorCode"),
        updated_after_ms=after,
        updated_before_ms=before,
    )


def summary(record: ExecutionRecord) -> odto.ExecutionSummaryDto:
    return odto.ExecutionSummaryDto(
        execution_id=record.execution_id,
        pipeline_id=record.pipeline_id,
        release_version=record.release_version,
        status=record.status.value,
        step_index=record.current_step_index,
        step_id=record.current_step_id,
        attempt=record.attempt,
        error_code=record.error_code,
        error_message=record.error_message,
        created_at_epoch_ms=record.created_at_epoch_ms,
        updated_at_epoch_ms=record.updated_at_epoch_ms,
        version=record.version,
    )


# --------------------------------------------------------------------------- control plane


async def search(request: web.Request) -> web.Response:
    query = query_of(request)
    limit = query_int(request, "limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    elif not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
    page = await request.app[EDGE].coordinator.search(query, limit, query_text(request, "cursor"))
    body = odto.ExecutionPageDto(
        items=[summary(r) for r in page.items], next_cursor=page.next_cursor
    )
    return json_response(body)


async def history(request: web.Request) -> web.Response:
    coordinator = request.app[EDGE].coordinator
    record = await coordinator.status(
        path_text(request, "tenantId"), path_text(request, "executionId")
    )
    body = odto.HistoryDto(
        execution_id=record.execution_id,
        entries=list(record.history),
        dropped=record.history_dropped,
    )
    return json_response(body)


def detail_dto(
    interaction: AwaitInteraction, base: dto.InteractionDto, schema: dict[str, object] | None
) -> odto.InteractionDetailDto:
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    detail = odto.InteractionDetailDto(**fields, response_schema=schema)
    if interaction.status is InteractionStatus.COMPLETED:
        detail.completed_by = interaction.actor
        detail.completed_at_epoch_ms = interaction.completed_at_epoch_ms
        detail.idempotency_key = interaction.idempotency_key
    return detail


async def interaction(request: web.Request) -> web.Response:
    edge = request.app[EDGE]
    coordinator = edge.coordinator
    found = await coordinator.interaction(
        path_text(request, "tenantId"), path_text(request, "interactionId")
    )
    now = coordinator.clock.now_ms()
    base = interaction_dto(found, edge.resume_secret if found.pending else None, now)
    return json_response(detail_dto(found, base, coordinator.response_schema(found)))


# --------------------------------------------------------------------------- admin


async def cancel(request: web.Request) -> web.Response:
    coordinator = request.app[EDGE].coordinator
    body = await decode_body(request, odto.CancelRequest)
    if not body.reason.strip():
        raise ValidationError("reason: must not be empty (why the execution is cancelled)")
    record = await coordinator.cancel(
        path_text(request, "tenantId"),
        path_text(request, "executionId"),
        reason=body.reason,
        expected_version=body.expected_version,
    )
    return json_response(await full_status(request, record))


async def redrive_matching(request: web.Request) -> web.Response:
    coordinator = request.app[EDGE].coordinator
    body = await decode_body(request, odto.BulkRedriveRequest, optional=True)
    status = parse_status("status", body.status) or ExecutionStatus.DLQ
    if status not in (ExecutionStatus.DLQ, ExecutionStatus.FAILED):
        raise ValidationError(f"status: must be DLQ or FAILED, got {status.value}")
    if not 1 <= body.limit <= 1000:
        raise ValidationError(f"limit: must be between 1 and 1000, got {body.limit}")
    query = ExecutionQuery(
        tenant_id=path_text(request, "tenantId"),
        status=status,
        pipeline_id=(body.pipeline_id or "").strip() or None,
        error_code=(body.error_code or "").strip() or None,
        updated_before_ms=parse_instant("updatedBefore", body.updated_before),
    )
    done = await coordinator.redrive_matching(
        query, limit=body.limit, dry_run=body.dry_run, reason=body.reason
    )
    return json_response(
        odto.BulkRedriveResponse(
            matched=done.matched,
            redriven=done.redriven,
            skipped=[odto.SkippedDto(execution_id=e, reason=r) for e, r in done.skipped],
            dry_run=done.dry_run,
        )
    )


async def pipelines(request: web.Request) -> web.Response:
    known = await request.app[EDGE].coordinator.pipelines(path_text(request, "tenantId"))
    return json_response(
        [odto.PipelineDto(pipeline_id=p, active_release_version=v) for p, v in known]
    )


_SEARCH_QUERY = (
    Param("pipelineId", "exact match"),
    Param("status", f"one of {STATUSES}"),
    Param("releaseVersion", "exact match"),
    Param("stepId", "the step the execution is at (exact match)"),
    Param("errorCode", "exact match"),
    Param("updatedAfter", "epoch ms or ISO-8601 instant (inclusive)"),
    Param("updatedBefore", "epoch ms or ISO-8601 instant (inclusive)"),
    Param("limit", f"default {DEFAULT_LIMIT}, 1..{MAX_LIMIT}", "integer"),
    Param("cursor", "nextCursor of the previous page"),
)
ROUTES = (
    Route(
        "GET", f"{CP}/executions", search, Surface.CONTROL_PLANE,
        "Search the tenant's executions, newest first by updatedAt, a page at a time",
        response=odto.ExecutionPageDto, query=_SEARCH_QUERY, errors=(400, 401, 404),
    ),
    Route(
        "GET", f"{CP}/executions/{{executionId}}/history", history, Surface.CONTROL_PLANE,
        "Read an execution's journal of committed changes, oldest first",
        response=odto.HistoryDto, errors=(400, 401, 404),
    ),
    Route(
        "GET", f"{CP}/interactions/{{interactionId}}", interaction, Surface.CONTROL_PLANE,
        "Read one await interaction, its response's JSON Schema and who completed it",
        response=odto.InteractionDetailDto, errors=(400, 401, 404),
    ),
    Route(
        "POST", f"{ADMIN}/executions/{{executionId}}/cancel", cancel, Surface.ADMIN,
        "Cancel a live execution: it ends FAILED with errorCode CANCELLED and its open "
        "interactions are cancelled (later completions answer 409)",
        request=odto.CancelRequest, response=dto.ExecutionStatusDto,
        errors=(400, 401, 404, 409, ASK_TIMEOUT),
    ),
    Route(
        "POST", f"{ADMIN}/executions/redrive", redrive_matching, Surface.ADMIN,
        "Re-drive the DLQ/FAILED executions matching a filter (status defaults to DLQ), or "
        "with dryRun only list them",
        request=odto.BulkRedriveRequest, body_optional=True,
        response=odto.BulkRedriveResponse, errors=(400, 401, 404, ASK_TIMEOUT),
    ),
    Route(
        "GET", f"{ADMIN}/pipelines", pipelines, Surface.ADMIN,
        "List the pipelines this coordinator has code for, with each one's active release",
        response=list[odto.PipelineDto], errors=(400, 401, 404),
    ),
)  # fmt: skip
