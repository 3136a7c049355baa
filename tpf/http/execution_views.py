"""How an execution is shown: the status body (with its open interactions) and, for an admin,
its input and known step outputs (``?include=input,outputs``).

Split from :mod:`tpf.http.control_plane` so the status, result and operator routes share one
rendering. The input and outputs are business data, which the control-plane token (held by
every client that submits) should not read back: they need the admin token, and asking without
it is a 403 naming ``include`` rather than a silent omission.
"""

from __future__ import annotations

from aiohttp import web

from tpf.core import codec
from tpf.core.errors import ValidationError
from tpf.core.records import ExecutionRecord
from tpf.http import dto
from tpf.http.auth import GUARD, Forbidden
from tpf.http.wire import EDGE, Param, Surface, query_text

INCLUDABLE = ("input", "outputs")
INCLUDE = Param(
    "include",
    "Comma-separated: input, outputs (admin token only; 403 otherwise): the submitted input "
    "envelope and each step output known so far",
)


def status_dto(
    record: ExecutionRecord, open_ids: list[str] | None = None
) -> dto.ExecutionStatusDto:
    return dto.ExecutionStatusDto(
        execution_id=record.execution_id,
        status=record.status.value,
        step_index=record.current_step_index,
        attempt=record.attempt,
        version=record.version,
        next_due_epoch_ms=record.next_due_epoch_ms,
        updated_at_epoch_ms=record.updated_at_epoch_ms,
        error_code=record.error_code,
        error_message=record.error_message,
        error_detail=record.error_detail,
        pipeline_id=record.pipeline_id,
        release_version=record.release_version,
        step_id=record.current_step_id,
        open_interaction_ids=open_ids or [],
    )


def includes(request: web.Request) -> frozenset[str]:
    """What ``?include=`` asks for: a 400 for an unknown part, a 403 without the admin token."""
    text = query_text(request, INCLUDE.name)
    if text is None:
        return frozenset()
    parts = frozenset(p.strip() for p in text.split(",") if p.strip())
    unknown = sorted(parts - set(INCLUDABLE))
    if unknown:
        raise ValidationError(
            f"include: unknown part(s) {', '.join(unknown)}; one of {', '.join(INCLUDABLE)}"
        )
    if parts and not request.app[GUARD].allows(request, Surface.ADMIN):
        raise Forbidden(
            "include: input and outputs need the admin token (send it as the bearer token)"
        )
    return parts


async def full_status(
    request: web.Request, record: ExecutionRecord, parts: frozenset[str] = frozenset()
) -> dto.ExecutionStatusDto:
    """The status body of ``record`` with its open interaction ids and the ``parts`` asked."""
    coordinator = request.app[EDGE].coordinator
    # An expanded execution's open interactions are its items' (thousands): its ``items``
    # block counts them and the pending route lists them, so a status read never lists them.
    skip = record.terminal or record.items is not None
    interactions = (
        [] if skip and "outputs" not in parts else (await coordinator.interactions_of(record))
    )
    body = status_dto(record, [i.interaction_id for i in interactions if i.pending])
    progress = await coordinator.item_progress(record)
    if progress is not None:
        body.items = dto.ItemsDto(
            total=progress.total,
            completed=progress.done,
            failed=progress.failed,
            pending=progress.pending,
            in_flight=progress.in_flight,
            by_variant=dict(progress.branches),
        )
    if "input" in parts:
        body.input = codec.encode_payload(record.input_payload, record.input_type_id)
    if "outputs" in parts:
        body.outputs = [
            dto.StepOutputDto(step_index=o.step_index, step_id=o.step_id, payload=o.payload)
            for o in await coordinator.outputs(record, interactions)
        ]
    return body
