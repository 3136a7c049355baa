"""A small stream pipeline for the engine tests: expand a batch, check each item, branch, sum.

``Expand`` yields ``count`` items; ``Check`` is the itemized await (its answer is
``{"good": {...}}`` or ``{"bad": {...}}``); ``Take Good``/``Take Bad`` are the branch; ``Sum``
gathers the outcomes in item order. ``seen`` records what the aggregation received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tpf.pipeline import Pipeline

STREAM_ID = "org.example.streams"
CHECK = "Check"


class Batch(msgspec.Struct, frozen=True):
    count: int
    tag: str = "b"


class Item(msgspec.Struct, frozen=True):
    n: int
    tag: str


class Good(msgspec.Struct, frozen=True):
    n: int


class Bad(msgspec.Struct, frozen=True):
    n: int
    why: str


class Verdict(msgspec.Struct, frozen=True):
    good: Good | None = None
    bad: Bad | None = None


class Outcome(msgspec.Struct, frozen=True):
    n: int
    ok: bool


class Summary(msgspec.Struct, frozen=True):
    outcomes: list[str]


@dataclass
class Seen:
    aggregated: list[list[int]] = field(default_factory=list)


def good(n: int) -> dict[str, Any]:
    return {"good": {"n": n}}


def bad(n: int, why: str = "no") -> dict[str, Any]:
    return {"bad": {"n": n, "why": why}}


def stream_pipeline(*, timeout_response: bool = True) -> tuple[Pipeline, Seen]:
    seen = Seen()
    pipeline = Pipeline(STREAM_ID)

    @pipeline.step("Expand", cardinality="ONE_TO_MANY")
    def expand(batch: Batch) -> Iterator[Item]:
        for n in range(batch.count):
            yield Item(n=n, tag=batch.tag)

    pipeline.await_step(
        CHECK,
        step_id=CHECK,
        output=Verdict,
        timeout="PT5M",
        key_fields=["n", "tag"],
        timeout_response=Verdict(bad=Bad(n=-1, why="timeout")) if timeout_response else None,
    )

    @pipeline.step("Take Good")
    async def take_good(v: Good) -> Outcome:
        return Outcome(n=v.n, ok=True)

    @pipeline.step("Take Bad")
    async def take_bad(v: Bad) -> Outcome:
        return Outcome(n=v.n, ok=False)

    @pipeline.step("Sum", cardinality="MANY_TO_ONE")
    def total(outcomes: Iterator[Outcome]) -> Summary:
        got = list(outcomes)
        seen.aggregated.append([o.n for o in got])
        return Summary(outcomes=[f"{o.n}:{'ok' if o.ok else 'no'}" for o in got])

    return pipeline, seen


MULTI_ID = "org.example.streams.multi"


def multi_pipeline() -> Pipeline:
    """The same items, submitted as the input (``inputShape: MULTI``): no expansion step."""
    pipeline = Pipeline(MULTI_ID)
    pipeline.await_step(CHECK, step_id=CHECK, input=Item, output=Verdict, timeout="PT5M")

    @pipeline.step("Take Good")
    async def take_good(v: Good) -> Outcome:
        return Outcome(n=v.n, ok=True)

    @pipeline.step("Take Bad")
    async def take_bad(v: Bad) -> Outcome:
        return Outcome(n=v.n, ok=False)

    @pipeline.step("Sum", cardinality="MANY_TO_ONE")
    async def total(outcomes: list[Outcome]) -> Summary:
        return Summary(outcomes=[f"{o.n}:{'ok' if o.ok else 'no'}" for o in outcomes])

    return pipeline


LISTED_ID = "org.example.streams.listed"


def listed_pipeline() -> Pipeline:
    """Expansion and per-item steps with no aggregation: the items' outputs are the result."""
    pipeline = Pipeline(LISTED_ID)

    @pipeline.step("Expand", cardinality="ONE_TO_MANY")
    async def expand(batch: Batch) -> AsyncIterator[Item]:
        for n in range(batch.count):
            yield Item(n=n, tag=batch.tag)

    @pipeline.step("Double")
    def double(item: Item) -> Outcome:
        return Outcome(n=item.n * 2, ok=True)

    return pipeline
