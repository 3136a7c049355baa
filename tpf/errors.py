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


class NotFound(TpfError):
    """The addressed resource does not exist (or expired, or belongs to another tenant)."""

    code = "NOT_FOUND"
    http_status = 404


class Conflict(TpfError):
    """The request conflicts with durable state (payload mismatch, wrong version, bad status)."""

    code = "CONFLICT"
    http_status = 409


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


class TerminalError(TpfError):
    """A failure that no retry can fix; the execution fails without spending its retries."""

    code = "NON_RETRYABLE"
    http_status = 422


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
