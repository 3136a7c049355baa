"""A pipeline whose first step holds until the test opens a gate, then parks on an await.

Long-poll tests need an execution that is neither terminal nor parked for as long as they
choose, without sleeping: it stays RUNNING until :data:`GATE` is set.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from tpf.authoring.pipeline import Pipeline


class Ticket(msgspec.Struct, frozen=True, rename="camel"):
    ticket_id: str


class Answer(msgspec.Struct, frozen=True, rename="camel"):
    ok: bool
    # Free-form, so nesting-depth tests can send a deep answer the strict check accepts.
    extra: Any = None


class Gate:
    def __init__(self) -> None:
        self.event = asyncio.Event()


GATE = Gate()  # replaced per test by the gate fixture (an Event belongs to one event loop)

pipeline = Pipeline("tests.http.gate")


@pipeline.step("Hold")
async def hold(ticket: Ticket) -> Ticket:
    await GATE.event.wait()
    return ticket


pipeline.await_step("Answer", step_id="answer", output=Answer, timeout="PT30M")


@pipeline.step("Finish")
def finish(answer: Answer) -> Answer:
    return answer
