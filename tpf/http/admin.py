"""Admin routes (spec §2.2-§2.4): execution re-drive, releases and worker lifecycle.

Base path ``/tpf/admin/tenants/{tenantId}``. Re-drive, register, activate and the worker events
are commands (messages to the execution or registry actor); lists and lookups read the stores.
Release registration also takes a multipart upload (see :mod:`tpf.http.uploads`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from tpf.core.records import ReleaseRecord, WorkerRecord
from tpf.http import dto, uploads
from tpf.http.wire import (
    ASK_TIMEOUT,
    EDGE,
    Param,
    Route,
    Surface,
    decode_body,
    json_response,
    path_text,
    query_text,
)

BASE = "/tpf/admin/tenants/{tenantId}"
RELEASES = BASE + "/pipelines/{pipelineId}/releases"
WORKERS = BASE + "/pipelines/{pipelineId}/workers"


def _tenant_pipeline(request: web.Request) -> tuple[str, str]:
    return path_text(request, "tenantId"), path_text(request, "pipelineId")


def _dto(record: Any, kind: type[Any]) -> Any:
    # Records and DTOs share field names; converting by attribute keeps internal fields a
    # record may grow off the wire.
    return msgspec.convert(record, kind, from_attributes=True)


def release_dto(record: ReleaseRecord) -> dto.ReleaseDto:
    result: dto.ReleaseDto = _dto(record, dto.ReleaseDto)
    return result


def worker_dto(record: WorkerRecord) -> dto.WorkerDto:
    result: dto.WorkerDto = _dto(record, dto.WorkerDto)
    return result


# --------------------------------------------------------------------------- executions


async def redrive(request: web.Request) -> web.Response:
    coordinator = request.app[EDGE].coordinator
    tenant_id = path_text(request, "tenantId")
    execution_id = path_text(request, "executionId")
    body = await decode_body(request, dto.RedriveRequest, optional=True)
    # The reason is trimmed to the original's 80 characters (default "operator") and kept on
    # the record by the state machine.
    record = await coordinator.redrive(
        tenant_id,
        execution_id,
        expected_version=body.expected_version,
        allow_failed=body.allow_failed,
        reason=body.reason,
        reopen_await=body.reopen_await,
    )
    entry = record.redrives[-1]
    return json_response(
        dto.RedriveResponse(
            tenant_id=record.tenant_id,
            execution_id=record.execution_id,
            previous_status=entry.previous_status,
            status=record.status.value,
            version=record.version,
            current_step_index=record.current_step_index,
            attempt=record.attempt,
            pipeline_id=record.pipeline_id,
            contract_version=record.contract_version,
            release_version=record.release_version,
            updated_at_epoch_ms=record.updated_at_epoch_ms,
            reopened_interaction_id=entry.reopened_interaction_id or dto.UNSET,
        )
    )


# --------------------------------------------------------------------------- releases


async def register_release(request: web.Request) -> web.Response:
    edge = request.app[EDGE]
    tenant_id, pipeline_id = _tenant_pipeline(request)
    if request.content_type == "multipart/form-data":
        record = await uploads.register_upload(edge.coordinator, request, tenant_id, pipeline_id)
    else:
        body = await decode_body(request, dto.RegisterReleaseRequest)
        record = await edge.coordinator.register_release(
            tenant_id, pipeline_id, body.release_descriptor_path
        )
    return json_response(release_dto(record))


async def list_releases(request: web.Request) -> web.Response:
    records = await request.app[EDGE].coordinator.list_releases(*_tenant_pipeline(request))
    return json_response([release_dto(r) for r in records])


async def active_release(request: web.Request) -> web.Response:
    record = await request.app[EDGE].coordinator.active_release(*_tenant_pipeline(request))
    return json_response(release_dto(record))


async def get_release(request: web.Request) -> web.Response:
    version = path_text(request, "releaseVersion")
    record = await request.app[EDGE].coordinator.get_release(*_tenant_pipeline(request), version)
    return json_response(release_dto(record))


async def activate_release(request: web.Request) -> web.Response:
    version = path_text(request, "releaseVersion")
    coordinator = request.app[EDGE].coordinator
    record = await coordinator.activate_release(*_tenant_pipeline(request), version)
    return json_response(release_dto(record))


# --------------------------------------------------------------------------- workers


async def register_worker(request: web.Request) -> web.Response:
    tenant_id, pipeline_id = _tenant_pipeline(request)
    body = await decode_body(request, dto.RegisterWorkerRequest)
    record = await request.app[EDGE].coordinator.register_worker(
        tenant_id,
        pipeline_id,
        body.worker_id,
        contract_version=body.contract_version,
        release_version=body.release_version,
        protocol=body.protocol,
        endpoint=body.endpoint or "",
        artifact_id=body.artifact_id or "",
        artifact_digest=body.artifact_digest or "",
    )
    return json_response(worker_dto(record))


async def heartbeat_worker(request: web.Request) -> web.Response:
    worker_id = path_text(request, "workerId")
    coordinator = request.app[EDGE].coordinator
    record = await coordinator.heartbeat_worker(*_tenant_pipeline(request), worker_id)
    return json_response(worker_dto(record))


async def drain_worker(request: web.Request) -> web.Response:
    worker_id = path_text(request, "workerId")
    coordinator = request.app[EDGE].coordinator
    record = await coordinator.drain_worker(*_tenant_pipeline(request), worker_id)
    return json_response(worker_dto(record))


async def list_workers(request: web.Request) -> web.Response:
    contract_version = query_text(request, "contractVersion")
    release_version = query_text(request, "releaseVersion")
    records = await request.app[EDGE].coordinator.list_workers(*_tenant_pipeline(request))
    return json_response(
        [
            worker_dto(r)
            for r in records
            if contract_version in (None, r.contract_version)
            and release_version in (None, r.release_version)
        ]
    )


_ERR = (400, 401, 404)
ROUTES = (
    Route(
        "POST", f"{BASE}/executions/{{executionId}}/redrive", redrive, Surface.ADMIN,
        "Re-drive a terminal execution (DLQ; FAILED with allowFailed) from its current step, "
        "or a FAILED one from its last await (reopenAwait)",
        request=dto.RedriveRequest, body_optional=True, response=dto.RedriveResponse,
        errors=(*_ERR, 409, ASK_TIMEOUT),
    ),
    Route(
        "POST", f"{RELEASES}/register", register_release, Surface.ADMIN,
        "Register a release from a descriptor path on the coordinator (regular files only, "
        "under tpf.releases.import-roots when set), or from an upload",
        request=dto.RegisterReleaseRequest, multipart=True, response=dto.ReleaseDto,
        errors=(*_ERR, 409, 413, 503, ASK_TIMEOUT),
    ),
    Route(
        "GET", RELEASES, list_releases, Surface.ADMIN,
        "List the pipeline's releases, oldest first", response=list[dto.ReleaseDto], errors=_ERR,
    ),
    Route(
        "GET", f"{RELEASES}/active", active_release, Surface.ADMIN,
        "Read the active release", response=dto.ReleaseDto, errors=_ERR,
    ),
    Route(
        "GET", f"{RELEASES}/{{releaseVersion}}", get_release, Surface.ADMIN,
        "Read one release (versions may contain ':')", response=dto.ReleaseDto, errors=_ERR,
    ),
    Route(
        "POST", f"{RELEASES}/{{releaseVersion}}/activate", activate_release, Surface.ADMIN,
        "Activate a release for new executions", response=dto.ReleaseDto,
        errors=(*_ERR, 409, ASK_TIMEOUT),
    ),
    Route(
        "POST", f"{WORKERS}/register", register_worker, Surface.ADMIN,
        "Register (or re-register) a worker; it is HEALTHY until stale or drained",
        request=dto.RegisterWorkerRequest, response=dto.WorkerDto,
        errors=(*_ERR, 413, ASK_TIMEOUT),
    ),
    Route(
        "POST", f"{WORKERS}/{{workerId}}/heartbeat", heartbeat_worker, Surface.ADMIN,
        "Record a worker heartbeat", response=dto.WorkerDto, errors=(*_ERR, ASK_TIMEOUT),
    ),
    Route(
        "POST", f"{WORKERS}/{{workerId}}/drain", drain_worker, Surface.ADMIN,
        "Drain a worker: new submissions stop counting on it", response=dto.WorkerDto,
        errors=(*_ERR, ASK_TIMEOUT),
    ),
    Route(
        "GET", WORKERS, list_workers, Surface.ADMIN,
        "List workers with their state computed now", response=list[dto.WorkerDto],
        query=(
            Param("contractVersion", "exact match"),
            Param("releaseVersion", "exact match"),
        ),
        errors=_ERR,
    ),
)  # fmt: skip
