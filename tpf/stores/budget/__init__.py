"""The durable await admission budget (spec §4.9) and :func:`open_budget`, which picks one.

``pipeline.await-admission.store`` chooses the provider (``AWAIT_ADMISSION`` in
:mod:`tpf.stores.providers`):

- ``memory`` (default): :class:`MemoryAdmissionBudget`, the bound of one process;
- ``dynamo``: :class:`DynamoAdmissionBudget` on ``pipeline.orchestrator.dynamo.
  await-admission-table`` (``tpf_await_admission``), one bound across every coordinator.

``pipeline.await-admission.enabled=false`` gives :class:`UnboundedAdmissionBudget`, which
admits everything. Scopes are built with :func:`admission_scope`; the capacity is the caller's
(``pipeline.max-concurrency``). DynamoDB is imported only when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpf.stores.budget.base import AdmissionBudget, UnboundedAdmissionBudget, admission_scope
from tpf.stores.budget.memory import MemoryAdmissionBudget

if TYPE_CHECKING:
    from tpf.config.providers import OpenContext
    from tpf.stores.budget.dynamo import DynamoAdmissionBudget

__all__ = [
    "AdmissionBudget",
    "DynamoAdmissionBudget",
    "MemoryAdmissionBudget",
    "UnboundedAdmissionBudget",
    "admission_scope",
    "open_budget",
]


async def open_budget(ctx: OpenContext) -> AdmissionBudget:
    """The admission budget ``ctx.settings`` choose, opened on ``ctx`` (the ``dynamo`` one on
    the process's shared DynamoDB client, closed with it)."""
    if not ctx.settings.await_admission.enabled:
        return UnboundedAdmissionBudget()
    # Imported here: the provider tables import the stores' modules, this package among them.
    from tpf.stores.providers import AWAIT_ADMISSION

    return await AWAIT_ADMISSION.open(ctx)


def __getattr__(name: str) -> object:
    # The DynamoDB budget loads on first use: botocore only where DynamoDB is used.
    if name == "DynamoAdmissionBudget":
        from tpf.stores.budget.dynamo import DynamoAdmissionBudget

        return DynamoAdmissionBudget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
