"""Where a release's stream is, read from its contract (issue 13): the coordinator's view.

The coordinator runs streams without the pipeline's code: the contract's step cardinalities
say where the expansion (``ONE_TO_MANY``) and the aggregation (``MANY_TO_ONE``) are, and the
itemized await's contract entry carries everything needed to create an item's interaction
(timeout, key fields, transport, types, the timeout response). Pure functions only.

An execution's step index tells its phase: up to the expansion a transition runs as any other
(its worker returns the items); strictly between the expansion and the aggregation the
coordinator's stream run (:mod:`tpf.actors.streams`) drives the items; at the aggregation a
transition gets the items' outputs in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from tpf.core.records import AwaitInteraction, ContractStep

EXPANSION, AGGREGATION = "ONE_TO_MANY", "MANY_TO_ONE"


@dataclass(frozen=True)
class StreamPlan:
    """A release's stream: step indexes and the itemized await's contract entry."""

    step_count: int
    expansion: int
    # The aggregation's index; ``step_count`` when the items' outputs are the result itself
    # (``MATERIALIZED_MULTI``).
    aggregation: int
    await_step: ContractStep | None

    @property
    def multi_input(self) -> bool:
        """Whether the items are the submitted input (``inputShape: MULTI``)."""
        return self.expansion < 0

    @property
    def first_item_step(self) -> int:
        return self.expansion + 1

    @property
    def await_index(self) -> int | None:
        return None if self.await_step is None else self.await_step.index

    def in_items(self, step_index: int) -> bool:
        """Whether an execution at ``step_index`` is in its items phase."""
        return self.expansion < step_index < self.aggregation

    def item_ranges(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(before, after)``: the per-item step ranges ``[start, stop)`` before and after the
        itemized await (everything in one range when there is no await)."""
        if self.await_index is None:
            return (self.first_item_step, self.aggregation), (self.aggregation, self.aggregation)
        return (self.first_item_step, self.await_index), (self.await_index + 1, self.aggregation)

    @property
    def result_shape(self) -> str:
        return "MATERIALIZED_MULTI" if self.aggregation == self.step_count else "SINGLE"


def plan_of(steps: Sequence[ContractStep]) -> StreamPlan | None:
    """The stream of a contract's ``steps`` (by index), or ``None`` when it has none.

    A contract with an aggregation and no expansion streams its input (``inputShape: MULTI``):
    its plan's expansion is ``-1``, a virtual step before the first, whose items are the
    submitted array's elements.
    """
    ordered = sorted(steps, key=lambda s: s.index)
    expansion = next((s.index for s in ordered if s.cardinality == EXPANSION), None)
    if expansion is None:
        if not any(s.cardinality == AGGREGATION for s in ordered):
            return None
        expansion = -1
    aggregation = next(
        (s.index for s in ordered if s.cardinality == AGGREGATION and s.index > expansion),
        len(ordered),
    )
    awaits = [s for s in ordered if s.kind == "await" and expansion < s.index < aggregation]
    return StreamPlan(len(ordered), expansion, aggregation, awaits[0] if awaits else None)


def plan_of_contract(contract: dict[str, Any] | None) -> StreamPlan | None:
    """:func:`plan_of` a release's stored contract document (``None`` for one this build cannot
    read: it has no stream for it)."""
    try:
        steps = msgspec.convert((contract or {}).get("steps") or [], list[ContractStep])
    except msgspec.ValidationError:
        return None
    return plan_of(steps)


def scope_key(pipeline_id: str, step_id: str, endpoint: str) -> str:
    """An admission budget scope (spec §4.9), length-prefixed as the original's composite keys
    are (``"{len(a)}:{a}:..."``), so no ``:`` inside an id makes two scopes collide."""
    return ":".join(f"{len(part)}:{part}" for part in (pipeline_id, step_id, endpoint))


def budget_scope(pipeline_id: str, interaction: AwaitInteraction) -> str:
    """The admission budget's scope of an item's interaction: the pipeline, the await step and
    the endpoint its requests go to (queue or topic; else its transport's name)."""
    endpoint = interaction.transport_type
    for key in ("requestQueueUrl", "requestTopic"):
        value = interaction.transport_metadata.get(key)
        if isinstance(value, str) and value:
            endpoint = value
            break
    return scope_key(pipeline_id, interaction.step_id, endpoint)
