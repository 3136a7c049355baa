"""The plain benchmark workload: three cheap ``async def`` steps, no await (issue 14).

It measures what the coordinator costs per execution when nothing waits on the outside world:
submit, three transitions (each a commit), result. The steps are pure and deterministic so a
retried transition gives the same output.
"""

from __future__ import annotations

import msgspec

from tpf.pipeline import Pipeline

PIPELINE_ID = "bench.plain"
PIPELINE_REF = "bench.plain_pipeline:pipeline"


class Order(msgspec.Struct, frozen=True, rename="camel"):
    order_id: str
    amount: int


class Priced(msgspec.Struct, frozen=True, rename="camel"):
    order_id: str
    amount: int
    tax: int


class Total(msgspec.Struct, frozen=True, rename="camel"):
    order_id: str
    total: int


pipeline = Pipeline(
    PIPELINE_ID,
    type_ids={Order: "bench.plain.Order", Priced: "bench.plain.Priced", Total: "bench.plain.Total"},
)


@pipeline.step("Check")
async def check(order: Order) -> Order:
    return Order(order_id=order.order_id.strip(), amount=max(order.amount, 0))


@pipeline.step("Price")
async def price(order: Order) -> Priced:
    return Priced(order_id=order.order_id, amount=order.amount, tax=order.amount // 5)


@pipeline.step("Total")
async def total(priced: Priced) -> Total:
    return Total(order_id=priced.order_id, total=priced.amount + priced.tax)
