"""A pipeline whose await answer has every kind of field the console's form generates: text,
integer, number, boolean, an enum, a list, a nested object, an optional value and a tagged
union (msgspec's JSON Schema gives them as types, ``enum``, ``$ref``/``$defs`` and ``anyOf``
with a ``discriminator``)."""

from __future__ import annotations

from typing import Literal

import msgspec

from tpf.authoring.pipeline import Pipeline

PIPELINE_ID = "tests.console.review"
STEP_ID = "Review"
GROUP = "qa"


class Ticket(msgspec.Struct, frozen=True, rename="camel"):
    title: str


class Pickup(msgspec.Struct, frozen=True, tag="pickup", rename="camel"):
    counter: str


class Delivery(msgspec.Struct, frozen=True, tag="delivery", rename="camel"):
    address: str
    floor: int


class Contact(msgspec.Struct, frozen=True, rename="camel"):
    email: str


class Review(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    reviewer: str
    score: int
    weight: float
    approved: bool
    priority: Literal["LOW", "HIGH"]
    tags: list[str]
    contact: Contact
    handoff: Pickup | Delivery
    notes: str | None = None


pipeline = Pipeline(PIPELINE_ID)


@pipeline.step("Open")
async def open_ticket(ticket: Ticket) -> Ticket:
    return ticket


pipeline.await_step(
    "Review", step_id=STEP_ID, output=Review, timeout="PT30M", group=GROUP, assignee="rita"
)


@pipeline.step("Close")
async def close_ticket(review: Review) -> Review:
    return review
