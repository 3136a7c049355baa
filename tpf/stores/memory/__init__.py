"""In-memory stores: the ``memory`` providers, used by tests and single-process demos.

Each store keeps the immutable records in a dict plus the indexes its Protocol queries need, so
``find_due``, ``find_overdue``, ``find_dead_letters`` and ``find_unapplied`` touch only matching
entries instead of scanning every record. Records are frozen structs, so storing the caller's
object is safe (nested payload dicts are shared, not copied: callers never mutate them).

The record-level rules shared with the other stores live in :mod:`tpf.stores.rules`.
"""

from tpf.stores.memory.awaits import MemoryAwaitStore
from tpf.stores.memory.executions import MemoryExecutionStore
from tpf.stores.memory.held import MemoryHeldCompletionStore
from tpf.stores.memory.items import MemoryItemStore
from tpf.stores.memory.releases import MemoryReleaseStore
from tpf.stores.memory.workers import MemoryWorkerStore

__all__ = [
    "MemoryAwaitStore",
    "MemoryExecutionStore",
    "MemoryHeldCompletionStore",
    "MemoryItemStore",
    "MemoryReleaseStore",
    "MemoryWorkerStore",
]
