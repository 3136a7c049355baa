"""SQLite stores: the embedded ``sqlite`` providers for executions, interactions, stream
items and workers.

:mod:`.db` is the engine (one connection, one thread, group commit), :mod:`.schema` the tables,
and one module per store kind holds its store.
"""

from tpf.stores.sqlite.awaits import SqliteAwaitStore
from tpf.stores.sqlite.executions import SqliteExecutionStore
from tpf.stores.sqlite.held import SqliteHeldCompletionStore
from tpf.stores.sqlite.items import SqliteItemStore
from tpf.stores.sqlite.schema import SqliteDatabase
from tpf.stores.sqlite.workers import SqliteWorkerStore

__all__ = [
    "SqliteAwaitStore",
    "SqliteDatabase",
    "SqliteExecutionStore",
    "SqliteHeldCompletionStore",
    "SqliteItemStore",
    "SqliteWorkerStore",
]
