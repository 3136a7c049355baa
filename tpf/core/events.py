"""Lifecycle event lines: one log line for each thing that happens to an execution.

Every line starts with the event name and names the execution the same way, ``tenant=...
executionId=... step=... attempt=...``, followed by the event's own ``key=value`` fields; the
same fields go into the LogRecord's ``extra`` (with ``event``), so ``--log-format json``
(:mod:`tpf.engine.logs`) emits them as JSON fields for log shippers. Each event logs on the
logger of the component where it happens (``tpf.execution``, ``tpf.worker.local``,
``tpf.awaits``...).

Levels, so the default INFO log shows what needs an operator (retries, failures, timeouts, the
DLQ, re-drives) and ``--log-level debug`` shows everything an execution does:

- DEBUG: ``submitted`` (``duplicate``), ``step.start`` / ``step.finish`` (with ``durationMs``),
  ``parked`` (``interactionId``, ``deadlineEpochMs``), ``completed`` (``actor``), ``resumed``,
  ``succeeded``, ``dlq.published``. Per-execution lines on the hot path cost more than their
  formatting: at INFO, four lines per execution raised the REST benchmark's coordinator CPU per
  execution by about a third (the SQLite thread's group commits get smaller when the loop is
  busier), so they are DEBUG;
- INFO: ``redriven``;
- WARNING: ``retry`` (``delayMs``), ``await.timed-out``;
- ERROR: ``failed`` (terminal) and ``dlq``, the log sink's ``Execution moved to DLQ:`` line
  (:mod:`tpf.transports.dlq.log`), which also carries the failing step's traceback.

Nothing is formatted unless the level is enabled; hot-path callers also test
``logger.isEnabledFor`` before building the fields.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from tpf.core.records import AwaitInteraction

# Event names (the ``event`` field), in the order an execution meets them.
SUBMITTED = "submitted"
STEP_START = "step.start"
STEP_FINISH = "step.finish"
PARKED = "parked"
COMPLETED = "completed"
RESUMED = "resumed"
RETRY = "retry"
FAILED = "failed"
AWAIT_TIMED_OUT = "await.timed-out"
DLQ = "dlq"
DLQ_PUBLISHED = "dlq.published"
REDRIVEN = "redriven"
SUCCEEDED = "succeeded"


def log_event(
    logger: logging.Logger,
    level: int,
    event: str,
    tenant: str,
    execution_id: str,
    step: int | None,
    attempt: int | None,
    /,
    **fields: Any,
) -> None:
    """Log ``event`` of one execution as a ``key=value`` line with the fields as extras.

    Fields whose value is ``None`` are left out. ``attempt`` is ``None`` where the component
    does not know it (an interaction does not record its execution's attempt): ``attempt=-``
    in the text, ``null`` in JSON.
    """
    if not logger.isEnabledFor(level):
        return
    extra: dict[str, Any] = {
        "event": event,
        "tenant": tenant,
        "executionId": execution_id,
        "step": step,
        "attempt": attempt,
    }
    parts = [
        event,
        f"tenant={tenant}",
        f"executionId={execution_id}",
        f"step={'-' if step is None else step}",
        f"attempt={'-' if attempt is None else attempt}",
    ]
    for key, value in fields.items():
        if value is None:
            continue
        extra[key] = value
        parts.append(f"{key}={_text(value)}")
    logger.log(level, "%s", " ".join(parts), extra=extra)


def log_timed_out(logger: logging.Logger, interaction: AwaitInteraction, how: str) -> None:
    """An await passed its deadline (found by ``how``): its execution fails with AWAIT_TIMEOUT."""
    log_event(
        logger,
        logging.WARNING,
        AWAIT_TIMED_OUT,
        interaction.tenant_id,
        interaction.execution_id,
        interaction.step_index,
        None,
        stepId=interaction.step_id,
        interactionId=interaction.interaction_id,
        deadlineEpochMs=interaction.deadline_epoch_ms,
        by=how,
    )


def step_and_attempt(transition_key: str) -> tuple[int | None, int | None]:
    """The step and attempt of an ``executionId:step:attempt`` key
    (:func:`tpf.core.ids.transition_key`); ``None`` for parts that are not numbers."""
    head, _, attempt = transition_key.rpartition(":")
    step = head.rpartition(":")[2]
    if not (step.isdigit() and attempt.isdigit()):
        return None, None
    return int(step), int(attempt)


def _text(value: Any) -> str:
    """A field value for the text line: quoted (JSON) when it has spaces, quotes or is empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if value and not any(c.isspace() or c in "\"'=" for c in value):
            return value
        return orjson.dumps(value).decode()
    return str(value)
