"""Step outputs kept with an execution for later steps' ``ctx`` (issue 13), and their bound.

A transition that parks hands back the outputs a later transition's context reads
(``TransitionResult.context_outputs``); they join the record's ``context_payload`` in the same
compare-and-set as the park, so whatever runs the next transition (this coordinator after a
restart, another one, a retry or a re-drive) reads the same context from the store. The whole
stored context is bounded (``pipeline.context.max-bytes``): a transition that would exceed it
fails non-retryably, naming the step and the limit, and nothing is ever silently truncated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tpf.core.errors import TerminalError
from tpf.core.records import ExecutionRecord

CONTEXT_TOO_LARGE = "STEP_CONTEXT_TOO_LARGE"
_encode = msgspec.json.Encoder().encode


class ContextTooLarge(TerminalError):
    """The outputs stored for later steps' contexts would exceed ``pipeline.context.max-bytes``."""

    code = CONTEXT_TOO_LARGE


def with_outputs(
    record: ExecutionRecord, outputs: Mapping[str, Any] | None, max_bytes: int
) -> ExecutionRecord:
    """``record`` with ``outputs`` joined to its stored context; :class:`ContextTooLarge` past
    ``max_bytes`` (the JSON size of the whole stored context)."""
    if not outputs:
        return record
    merged = {**(record.context_payload or {}), **outputs}
    size = len(_encode(merged))
    if size > max_bytes:
        sizes = {name: len(_encode(value)) for name, value in outputs.items()}
        step = max(sizes, key=lambda name: sizes[name])
        raise ContextTooLarge(
            f"step context of execution {record.execution_id} would be {size} bytes, over "
            f"pipeline.context.max-bytes={max_bytes}: the output of step {step!r} is "
            f"{sizes[step]} bytes (a later step reads it through ctx); return less from it "
            "or raise the limit"
        )
    return msgspec.structs.replace(record, context_payload=merged)
