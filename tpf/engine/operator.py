"""The operator's commands and queries (issue 12): search, history, outputs, cancel, bulk re-drive.

Queries read the stores through their indexes (never a scan); cancel and re-drive are messages
to the execution's actor, so they never race its own commits.

Step outputs are derived when asked rather than copied into the record: everything the
coordinator ever learns of a step's output is already durable (an await's request is the output
of the step before it, its completed response the await step's output, the result the last
step's), so keeping a second copy on the record would only grow every commit and push a long
execution towards DynamoDB's 400 KB item limit. A step run inside one transition between two of
those points is not seen by the coordinator at all (the worker runs it and passes its output on
in memory), so it has no entry, unless a later step reads it through its ``StepContext``: then it
is kept with the execution for that step (``contextPayload``), and shown from there. Each
payload over :data:`OUTPUT_LIMIT` encoded bytes is replaced by a marker with its size, so one
huge payload cannot make the answer huge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from tpf.actors.context import EXECUTION
from tpf.actors.messages import Cancel
from tpf.core.cancels import CANCELLED
from tpf.core.errors import NotFound, TpfError, ValidationError
from tpf.core.items import ItemProgress, ItemStatus
from tpf.core.records import AwaitInteraction, ExecutionRecord, ExecutionStatus
from tpf.core.search import ExecutionPage, ExecutionQuery, InteractionPage
from tpf.engine.executions import ExecutionCommands
from tpf.stores import orphans
from tpf.supervisors.lease_keeper import LeaseKeeper
from tpf.transports.workers.validators import AuthoredTypesValidator

OUTPUT_LIMIT = 64 * 1024  # encoded bytes of one step output shown; larger ones become a marker
REDRIVE_STATUSES = frozenset({ExecutionStatus.DLQ, ExecutionStatus.FAILED})
MAX_REDRIVE = 1000
_SEARCH_PAGE = 200


@dataclass(frozen=True)
class StepOutput:
    step_index: int
    step_id: str | None
    payload: Any


@dataclass
class BulkRedrive:
    """What a bulk re-drive matched, re-drove and skipped (with why)."""

    matched: int = 0
    redriven: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False


def bounded(payload: Any) -> Any:
    """``payload``, or a marker with its size when it is over :data:`OUTPUT_LIMIT` encoded."""
    size = len(msgspec.json.encode(payload))
    if size <= OUTPUT_LIMIT:
        return payload
    return {"truncated": True, "sizeBytes": size, "limitBytes": OUTPUT_LIMIT}


class OperatorCommands(ExecutionCommands):
    leases: LeaseKeeper

    async def search(self, query: ExecutionQuery, limit: int, cursor: str | None) -> ExecutionPage:
        return await self.stores.executions.search(query, limit, cursor, self.clock.now_ms())

    async def pending_page(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        execution_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> InteractionPage:
        """A page of open interactions an answer can resume (orphans met are retired)."""
        page = await self.stores.awaits.page_pending(
            tenant_id,
            assignee=assignee,
            group=group,
            step_id=step_id,
            execution_id=execution_id,
            limit=max(1, min(1000, limit)),
            cursor=cursor,
        )
        kept = await orphans.with_execution(
            self.stores, page.items, self.clock.now_ms(), self.settings.execution.ttl_ms
        )
        return InteractionPage(kept, page.next_cursor)

    async def interaction(self, tenant_id: str, interaction_id: str) -> AwaitInteraction:
        found = await self.stores.awaits.get(tenant_id, interaction_id)
        if found is None:
            raise NotFound(f"Await interaction not found: {interaction_id}")
        return found

    async def interactions_of(self, record: ExecutionRecord) -> list[AwaitInteraction]:
        return await self.stores.awaits.list_for_execution(record.tenant_id, record.execution_id)

    async def item_progress(self, record: ExecutionRecord) -> ItemProgress | None:
        """An expanded execution's item counts now: live from the run when it runs here, else
        counted in the item store while its items run, else as its record last said."""
        if record.items is None:
            return None
        live = self.engine.streams.progress(record.tenant_id, record.execution_id)
        if live is not None:
            return live
        if record.terminal or record.items.done + record.items.failed >= record.items.total:
            return record.items
        counts = await self.stores.items.counts(record.tenant_id, record.execution_id)
        return msgspec.structs.replace(
            record.items,
            done=counts.get(ItemStatus.DONE, 0),
            failed=counts.get(ItemStatus.FAILED, 0),
            in_flight=counts.get(ItemStatus.AWAITING, 0),
        )

    def response_schema(self, interaction: AwaitInteraction) -> dict[str, Any] | None:
        """The JSON Schema of the await's output type, when code hosted here declares it."""
        for worker in self.directory.all():
            validator = worker.validator
            if isinstance(validator, AuthoredTypesValidator) and validator.covers(interaction):
                return validator.response_schema(interaction)
        return None

    async def outputs(
        self, record: ExecutionRecord, interactions: list[AwaitInteraction]
    ) -> list[StepOutput]:
        """The step outputs known so far, by step index (see the module doc)."""
        step_ids = await self.engine.step_ids.of(self.stores.releases, record)

        def named(index: int) -> str | None:
            return step_ids[index] if 0 <= index < len(step_ids) else None

        known: dict[int, Any] = {}
        for interaction in interactions:
            if interaction.step_index > 0 and interaction.request_payload is not None:
                known[interaction.step_index - 1] = interaction.request_payload
            if interaction.response_payload is not None:
                known[interaction.step_index] = interaction.response_payload
        if record.status is ExecutionStatus.SUCCEEDED and step_ids:
            known[len(step_ids) - 1] = record.result_payload
        if record.context_payload:  # outputs kept for later steps' ctx (by authored name)
            names = await self.engine.step_ids.names(self.stores.releases, record)
            for index, name in enumerate(names):
                if name in record.context_payload:
                    known.setdefault(index, record.context_payload[name])
        return [StepOutput(i, named(i), bounded(known[i])) for i in sorted(known)]

    async def cancel(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        reason: str,
        expected_version: int | None = None,
    ) -> ExecutionRecord:
        """End a live execution FAILED with errorCode CANCELLED (see
        :mod:`tpf.actors.cancels`); a transition this process runs for it is stopped first."""
        if not reason or not reason.strip():
            raise ValidationError("reason: is required (why the execution is cancelled)")
        record = await self.status(tenant_id, execution_id)
        if expected_version is None or expected_version == record.version:
            # Its actor may be busy running a transition: stop it, so the cancel is not queued
            # behind a step that may run for minutes (its result is thrown away). A claim this
            # process holds but has not started running yet is revoked too.
            ours = (
                record.status is ExecutionStatus.RUNNING and record.lease_owner == self.engine.owner
            )
            await self.leases.revoke(tenant_id, execution_id, record.version if ours else None)
        return await self.system.ask(
            EXECUTION,
            (tenant_id, execution_id),
            Cancel(reason, expected_version),
            timeout_s=self.ask_timeout_s,
        )

    async def redrive_matching(
        self,
        query: ExecutionQuery,
        *,
        limit: int = 100,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> BulkRedrive:
        """Re-drive up to ``limit`` DLQ/FAILED executions matching ``query`` (newest first), one
        by one through the single re-drive; with ``dry_run``, only list them."""
        if query.status not in REDRIVE_STATUSES:
            raise ValidationError("status: must be DLQ or FAILED (only those can be re-driven)")
        limit = max(1, min(MAX_REDRIVE, limit))
        matched: list[ExecutionRecord] = []
        cursor: str | None = None
        while len(matched) < limit:
            page = await self.search(query, min(_SEARCH_PAGE, limit - len(matched)), cursor)
            matched.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        outcome = BulkRedrive(matched=len(matched), dry_run=dry_run)
        for record in matched:
            if record.error_code == CANCELLED and query.error_code != CANCELLED:
                # An operator ended it on purpose: re-driving it takes asking for it by name.
                outcome.skipped.append((record.execution_id, "cancelled by an operator"))
                continue
            if dry_run:
                outcome.redriven.append(record.execution_id)
                continue
            try:
                await self.redrive(
                    record.tenant_id,
                    record.execution_id,
                    expected_version=record.version,
                    allow_failed=True,
                    reason=reason or "bulk re-drive",
                )
            except TpfError as exc:
                outcome.skipped.append((record.execution_id, exc.message))
                continue
            outcome.redriven.append(record.execution_id)
        return outcome

    async def pipelines(self, tenant_id: str) -> list[tuple[str, str | None]]:
        """The pipelines this coordinator knows code for (hosted here or reached before), with
        the tenant's active release of each (``None`` when none is active)."""
        pipeline_ids = sorted({worker.identity[0] for worker in self.directory.all()})
        answer: list[tuple[str, str | None]] = []
        for pipeline_id in pipeline_ids:
            active = await self.stores.releases.active(tenant_id, pipeline_id)
            answer.append((pipeline_id, active.release_version if active else None))
        return answer
