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

It is also made cheaper per call, with the same answers (:func:`_patch_costs`): moto computes
a queue's whole attribute map (every attribute name converted from CamelCase character by
character, and the message counts, each a scan of the queue) three times for every attribute
it reads, and reads ``MessageRetentionPeriod`` that way for every message it receives; and it
reads the time through two ``datetime`` objects for every message a receive looks at. Under
the csv demo's SQS lane those were most of moto's CPU, the busiest process of the run. (moto's
dev server is this module's only user: the wall clock here is moto's, not the coordinator's.)
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import moto.sqs.models as sqs_models
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
    _patch_costs()  # first: it swaps methods the locks below then wrap
    for name in _GUARDED:
        method = getattr(SQSBackend, name)
        if not getattr(method, "__tpf_locked__", False):
            setattr(SQSBackend, name, _locked(method))
    if not getattr(Queue.wait_for_messages, "__tpf_locked__", False):
        Queue.wait_for_messages = _wait_unlocked(Queue.wait_for_messages)  # type: ignore[method-assign,assignment]


_ORIGINAL_GET_ATTRIBUTES = SQSBackend.get_queue_attributes


def _patch_costs() -> None:
    namespace = vars(sqs_models)  # the module's globals: what its functions call
    camel = namespace["camelcase_to_underscores"]
    if not hasattr(camel, "cache_info"):
        # A pure function of a short string, called ~20 times per attribute map: memoized.
        namespace["camelcase_to_underscores"] = functools.lru_cache(maxsize=256)(camel)
    if not hasattr(namespace["unix_time"], "__tpf_fast__"):
        namespace["unix_time"] = _fast_clock(namespace["unix_time"], 1.0)
        namespace["unix_time_millis"] = _fast_clock(namespace["unix_time_millis"], 1000.0)
    if SQSBackend.get_queue_attributes is _ORIGINAL_GET_ATTRIBUTES:
        SQSBackend.get_queue_attributes = _queue_attributes  # type: ignore[method-assign]
        SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]


def _fast_clock(moto_clock: Callable[..., float], scale: float) -> Callable[..., float]:
    """moto's ``unix_time[_millis]()``: the same epoch time, read from ``time.time`` instead
    of building two ``datetime`` objects (moto reads it for every message a receive looks at,
    twice). Called with a ``datetime``, moto's own conversion."""

    def now(dt: Any = None) -> float:
        return moto_clock(dt) if dt is not None else time.time() * scale

    now.__tpf_fast__ = True  # type: ignore[attr-defined]
    return now


def _retained(self: SQSBackend, queue_name: str, message: sqs_models.Message) -> bool:
    """moto's retention check, reading the one attribute it needs (``MessageRetentionPeriod``
    is the queue's ``message_retention_period``) instead of the queue's whole attribute map."""
    period = int(vars(self.get_queue(queue_name))["message_retention_period"])
    sent_s = int(message.sent_timestamp or 0) / 1000
    now_s: float = vars(sqs_models)["unix_time"]()
    return period + sent_s > now_s


def _queue_attributes(
    self: SQSBackend, queue_name: str, attribute_names: list[str]
) -> dict[str, Any]:
    """moto's ``get_queue_attributes`` computing the queue's attribute map once (moto's own
    computes it three times per name asked, after the same validation), so the values are
    those of one moment."""
    if not attribute_names or "All" in attribute_names:
        return _ORIGINAL_GET_ATTRIBUTES(self, queue_name, attribute_names)
    # moto's validation (an unknown name refused) and "no names -> {}", for what it refuses.
    queue = self.get_queue(queue_name)
    valid = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
    if any(name not in valid for name in attribute_names):
        return _ORIGINAL_GET_ATTRIBUTES(self, queue_name, attribute_names)
    current = queue.attributes
    return {
        name: current[name]
        for name in attribute_names
        if name in current and current[name] is not None
    }
