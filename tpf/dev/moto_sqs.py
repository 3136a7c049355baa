"""moto's SQS made thread-safe: one lock around every queue operation, released while a long
poll waits.

moto's threaded server runs SQS requests concurrently on shared lists and sets without a lock:
two concurrent deletes each rebuild the queue's message list from the same old list, so the
last one to finish puts back the message the other deleted (it then sits "in flight" forever),
and a receive that copies the set of pending messages while another request adds to it fails
with ``RuntimeError: Set changed size during iteration`` (a 500 the client retries, which caps
an SQS benchmark at moto's pace). Real SQS applies each call atomically. Holding one lock per
backend call restores that; a receive that long-polls gives the lock up while it waits for a
message, so sends and deletes go on meanwhile.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.sqs.models import Queue, SQSBackend

# Re-entrant: moto's batch calls go through the single-message calls.
_LOCK = threading.RLock()
_PATCHING = threading.Lock()

_GUARDED = (
    "create_queue",
    "get_queue_url",
    "list_queues",
    "delete_queue",
    "get_queue_attributes",
    "set_queue_attributes",
    "send_message",
    "send_message_batch",
    "receive_message",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    call.__tpf_locked__ = True  # type: ignore[attr-defined]
    return call


def _wait_unlocked(wait: Callable[[Queue, int], None]) -> Callable[[Queue, int], None]:
    @functools.wraps(wait)
    def call(self: Queue, timeout: int) -> None:
        # Only receive_message waits, called once (not nested), so one release frees the lock.
        _LOCK.release()
        try:
            wait(self, timeout)
        finally:
            _LOCK.acquire()

    call.__tpf_locked__ = True  # type: ignore[attr-defined]
    return call


def serialize_sqs() -> None:
    """Patch moto's SQS backend (idempotent; every server in this process shares it)."""
    with _PATCHING:
        _patch()


def _patch() -> None:
    for name in _GUARDED:
        method = getattr(SQSBackend, name)
        if not getattr(method, "__tpf_locked__", False):
            setattr(SQSBackend, name, _locked(method))
    if not getattr(Queue.wait_for_messages, "__tpf_locked__", False):
        Queue.wait_for_messages = _wait_unlocked(Queue.wait_for_messages)  # type: ignore[method-assign,assignment]
