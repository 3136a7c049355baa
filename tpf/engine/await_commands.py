"""Await commands and queries: the pending interactions an answer can resume, and completing one.

A completion's response is decoded here and admitted by the awaits supervisor
(:class:`~tpf.supervisors.awaits.Awaits`), which checks it with the worker directory's validator of
the await's code before anything is stored.
"""

from __future__ import annotations

from typing import Any

from tpf.core import codec
from tpf.core.errors import ValidationError
from tpf.core.records import AwaitInteraction
from tpf.engine.parts import Parts
from tpf.stores import orphans
from tpf.supervisors.awaits import Completion


class AwaitCommands(Parts):
    async def pending(
        self,
        tenant_id: str,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> list[AwaitInteraction]:
        limit = max(1, min(1000, limit))
        # Only interactions an answer can still resume: none whose execution is gone.
        return await orphans.pending_with_execution(
            self.stores,
            tenant_id,
            assignee=assignee,
            group=group,
            step_id=step_id,
            limit=limit,
            now_ms=self.clock.now_ms(),
            retention_ms=self.settings.execution.ttl_ms,
        )

    async def complete(
        self,
        tenant_id: str,
        *,
        interaction_id: str | None = None,
        correlation_id: str | None = None,
        response: Any,
        actor: str | None = None,
    ) -> Completion:
        if response is None:
            raise ValidationError("responsePayload is required")
        _, value = codec.decode_payload(
            response, field="responsePayload", max_json_depth=self.settings.http.max_json_depth
        )
        return await self.awaits.complete(
            tenant_id,
            interaction_id=interaction_id,
            correlation_id=correlation_id,
            response=value,
            actor=actor,
        )
