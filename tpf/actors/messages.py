"""The messages actors receive and the replies they answer with, as msgspec tagged unions.

Every message is a frozen :class:`Message` struct tagged with its class name, so a union of
them (:data:`ExecutionMessage`, :data:`RegistryMessage`) is a msgspec tagged union: one match
per message in the actor, and a message can cross a process boundary as JSON unchanged when a
later transport needs it. A message that is answered derives from :class:`Ask` with its reply
type, which :meth:`tpf.actors.runtime.ActorSystem.ask` returns, so callers get a typed reply
instead of asserting one.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from tpf.core.records import (
    AwaitInteraction,
    ExecutionRecord,
    ReleaseRecord,
    WorkerEvent,
    WorkerRecord,
)

R = TypeVar("R")


class Message(msgspec.Struct, frozen=True, tag=True):
    """Base of every actor message; ``tag=True`` makes unions of them tagged by class name."""


class Ask(Message, Generic[R], frozen=True):
    """A message answered with an ``R`` (the parameter types the reply; it is not a field)."""


# ------------------------------------------------------------------ replies


class Submitted(msgspec.Struct, frozen=True):
    """The answer to :class:`Submit`: the stored execution, and whether it already existed."""

    record: ExecutionRecord
    duplicate: bool


# ------------------------------------------------------------------ execution actor


class Submit(Ask[Submitted], frozen=True):
    """Create the execution (or find it by its idempotency key) and run its first transition."""

    record: ExecutionRecord


class Work(Message, frozen=True):
    """Claim the execution's lease and run it if it is due (a tell)."""


class RunClaimed(Message, frozen=True):
    """Run an execution this actor already holds the lease of (created claimed at submit)."""

    record: ExecutionRecord


class Resolve(Message, frozen=True):
    """An interaction of the execution was completed or timed out: apply it (a tell)."""

    interaction: AwaitInteraction


class Redrive(Ask[ExecutionRecord], frozen=True):
    """The operator's re-drive of a terminal execution; answers the queued record."""

    expected_version: int | None
    allow_failed: bool
    reason: str | None
    reopen_await: bool = False  # back to the last await step, on a fresh interaction


class Cancel(Ask[ExecutionRecord], frozen=True):
    """The operator's cancel of a live execution; answers the FAILED (CANCELLED) record."""

    reason: str
    expected_version: int | None = None


WORK = Work()  # stateless, so one instance serves every tell
ExecutionMessage = Submit | Work | RunClaimed | Resolve | Redrive | Cancel


# ------------------------------------------------------------------ registry actor


class RegisterRelease(Ask[ReleaseRecord], frozen=True):
    descriptor_path: str


class ActivateRelease(Ask[ReleaseRecord], frozen=True):
    release_version: str


class RecordWorkerEvent(Ask[WorkerRecord], frozen=True):
    event: WorkerEvent


RegistryMessage = RegisterRelease | ActivateRelease | RecordWorkerEvent
