"""Admitting an await's answer: strict validation, and first writer wins without silence.

A completion's response is checked against the await step's declared output type before
anything is stored (by the worker directory's validators,
:mod:`tpf.transports.workers.validators`), so a wrong answer is a 400 naming the field rather than a
failed execution one step later. Once an interaction is completed, a repeated completion with
the same response (compared canonically) is a harmless duplicate; one with a different response
is refused with :func:`already_completed` (409 ``INTERACTION_ALREADY_COMPLETED``), which says
who completed it and when, instead of being dropped silently.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tpf.core.codec import canonical_json
from tpf.core.errors import Conflict
from tpf.core.records import AwaitInteraction

ALREADY_COMPLETED = "INTERACTION_ALREADY_COMPLETED"


def same_response(stored: Any, response: Any) -> bool:
    """Whether two plain JSON responses are equal regardless of key order."""
    return canonical_json(stored) == canonical_json(response)


def already_completed(interaction: AwaitInteraction) -> Conflict:
    """The refusal of a different answer to a completed interaction: who answered, and when."""
    at_ms = interaction.completed_at_epoch_ms or interaction.updated_at_epoch_ms
    at = iso_utc(at_ms)
    by = interaction.actor or "an unnamed actor"
    return Conflict(
        f"Await interaction {interaction.interaction_id} was already completed by {by} at {at} "
        "with a different responsePayload; the first completion stands (to correct a wrong "
        "answer that failed the execution, re-drive it with reopenAwait)",
        code=ALREADY_COMPLETED,
        details={
            "interactionId": interaction.interaction_id,
            "executionId": interaction.execution_id,
            "completedBy": interaction.actor,
            "completedAt": at,
            "completedAtEpochMs": at_ms,
        },
    )


def iso_utc(epoch_ms: int) -> str:
    """``2026-01-01T12:00:00.000Z``: an epoch-millisecond instant as ISO-8601 UTC."""
    instant = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
