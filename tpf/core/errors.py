"""One error tree for the whole coordinator.

Every error carries a stable machine-readable ``code`` and the HTTP status the REST edge answers
with, so adapters (stores, transports, the edge) map library errors into this tree once and
callers never need to know which backend raised.
"""

from __future__ import annotations

from typing import Any


class TpfError(Exception):
    """Base of every error the coordinator raises on purpose.

    ``details`` are machine-readable facts the message also states (the offending ``field``,
    who completed an interaction and when); the REST edge returns them in the error body.
    """

    code: str = "TPF_ERROR"
    http_status: int = 500
    # Whether trying the same thing again may succeed: a worker reports a step that raised this
    # as a retryable failure or not. Stated per class, not read from ``http_status``: a remote
    # worker's error crosses the wire with this flag, and the HTTP mapping is the edge's concern.
    retryable: bool = True

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class ConfigError(TpfError):
    """A configuration value is missing, unknown or malformed (fails startup)."""

    code = "CONFIG_INVALID"


class ValidationError(TpfError):
    """The caller sent input that cannot be accepted (names the offending field)."""

    code = "INVALID_REQUEST"
    http_status = 400
    retryable = False


class NotFound(TpfError):
    """The addressed resource does not exist (or expired, or belongs to another tenant)."""

    code = "NOT_FOUND"
    http_status = 404
    retryable = False


class Conflict(TpfError):
    """The request conflicts with durable state (payload mismatch, wrong version, bad status)."""

    code = "CONFLICT"
    http_status = 409
    retryable = False


class ConditionFailed(Conflict):
    """A conditional write lost: the stored version or predicate no longer matched."""

    code = "CONDITION_FAILED"


class Unavailable(TpfError):
    """A dependency needed to accept the request is not available (no healthy worker, ...)."""

    code = "UNAVAILABLE"
    http_status = 503


class RetryableError(TpfError):
    """A failure that a later attempt may not repeat (transport errors, timeouts)."""

    code = "RETRYABLE"
    http_status = 503


STORE_UNAVAILABLE_MESSAGE = "the state store is unavailable; retry later"


class StoreUnavailable(RetryableError):
    """The state store failed under a request: disk full, an I/O error, a read-only or corrupted
    database, DynamoDB unreachable or answering 5xx. A retry may succeed once it recovers.

    What a client sees is only the generic message: ``detail`` (the library's words, which may
    name a file, an endpoint URL or SQL) is for the log, where the store adapter writes it once
    (:mod:`tpf.stores.health`). ``str()`` is the generic message too, so nothing that copies an
    error's text into an answer can leak it.
    """

    code = "STORE_UNAVAILABLE"
    http_status = 503
    headers = {"Retry-After": "1"}

    def __init__(self, detail: str = "") -> None:
        super().__init__(STORE_UNAVAILABLE_MESSAGE)
        self.detail = detail


class StoreUnusable(TpfError):
    """Startup refuses the state store: the state directory cannot be locked or created, or the
    database is corrupted or not writable. The message names the file and the problem."""

    code = "STATE_STORE_UNUSABLE"


class TerminalError(TpfError):
    """A failure that no retry can fix; the execution fails without spending its retries."""

    code = "NON_RETRYABLE"
    http_status = 422
    retryable = False


class NonRetryableError(TerminalError):
    """Raised by pipeline step code to fail the execution at once (business rule violation)."""

    code = "NON_RETRYABLE"


class AskTimeout(TpfError):
    """An actor did not answer an ``ask`` within its timeout."""

    code = "ASK_TIMEOUT"
    http_status = 504


class ActorStopped(TpfError):
    """The actor system stopped (or the actor died) before the ask was answered."""

    code = "ACTOR_STOPPED"
    http_status = 503


# Steps raise these and operators see their class names in ``errorClass`` and the DLQ envelope
# (``tpf.errors.NonRetryableError``): keep the public module name stable now that the code lives
# in ``tpf.core``.
for _cls in (
    TpfError,
    ConfigError,
    ValidationError,
    NotFound,
    Conflict,
    ConditionFailed,
    Unavailable,
    RetryableError,
    StoreUnavailable,
    StoreUnusable,
    TerminalError,
    NonRetryableError,
    AskTimeout,
    ActorStopped,
):
    _cls.__module__ = "tpf.errors"
del _cls
