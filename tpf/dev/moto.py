"""A local AWS for development and tests: moto's server with atomic DynamoDB writes (and
thread-safe SQS, :mod:`tpf.dev.moto_sqs`; keep-alive connections, :mod:`tpf.dev.moto_http`;
cheaper DynamoDB requests with the same answers, :mod:`tpf.dev.moto_dynamodb`; Flask's debug
check made once per class, :mod:`tpf.dev.moto_flask`).

moto (the optional ``dev`` extra) is imported by whoever imports this module, so the coordinator
itself never needs it. Used by ``tpf dev aws`` and by the test suite.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import types
from collections.abc import Iterable, Iterator
from typing import Any

import moto.dynamodb.models as dynamo_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from tpf.dev.moto_dynamodb import speed_up_dynamodb
from tpf.dev.moto_flask import cheaper_debug_files
from tpf.dev.moto_http import KeepAliveRequestHandler
from tpf.dev.moto_sqs import serialize_sqs


class SerializedDynamo:
    """WSGI wrapper running one DynamoDB request at a time.

    moto's threaded server evaluates a condition and applies the write without any lock (and a
    failed transaction rolls back by restoring a copy of the whole table), so two concurrent
    conditional writes can both "win" and a rollback can erase another request's commit. Real
    DynamoDB applies each conditional write and transaction atomically; serializing DynamoDB
    requests restores that. Other services (SQS long polls) stay concurrent.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        result: Iterable[bytes] = self._app(environ, start_response)
        return result


class AtomicMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` with :class:`SerializedDynamo` in front of its application and
    transactions that roll back item by item (:func:`journal_transactions`)."""

    def application(self) -> Any:
        """The WSGI application served; a subclass may wrap it (the tests count requests)."""
        return SerializedDynamo(DomainDispatcherApplication(create_backend_app))

    def _server_entry(self) -> None:
        journal_transactions()
        speed_up_dynamodb()
        serialize_sqs()
        cheaper_debug_files()
        self._server = make_server(
            self._ip_address,
            self._port,
            self.application(),
            True,
            request_handler=KeepAliveRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()


# ------------------------------------------------------------------ TransactWriteItems rollback
#
# moto backs every TransactWriteItems up by deep-copying each table it names and, on a failure,
# puts the copies back. The copy costs time in proportion to the whole table, on every
# transaction (each submit is one): an HA run spends a third of its time there. The journal
# below keeps a copy of just the items the transaction names and, on a failure, puts those back,
# which is the same end state, because a transaction changes no item it does not name.


_ORIGINAL_TRANSACT = DynamoDBBackend.transact_write_items
_MUTATING = ("Put", "Update", "Delete")


def journal_transactions() -> None:
    """Make moto's ``TransactWriteItems`` back up the items it names, not whole tables
    (idempotent)."""
    DynamoDBBackend.transact_write_items = _journalled_transact  # type: ignore[method-assign]


def _journalled_transact(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    try:
        journal = _journal(self, transact_items)
    except Exception:
        # Something moto is about to refuse (a malformed key, say): its own path, unchanged.
        _ORIGINAL_TRANSACT(self, transact_items)
        return
    with _tables_not_copied():
        try:
            _ORIGINAL_TRANSACT(self, transact_items)
        except Exception:
            _undo(self, journal)
            raise


Journal = list[tuple[str, dict[str, Any], dict[str, Any] | None]]


def _journal(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Journal:
    """``(table, key, item before)`` for every item the transaction may change."""
    journal: Journal = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        if op_type not in _MUTATING or op.get("TableName") not in backend.tables:
            continue  # a missing table fails the transaction before anything changes
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        before = backend.get_item(op["TableName"], key)
        # The JSON form shares lists with the live item, which an update may change in place.
        saved = copy.deepcopy(before.to_json()["Attributes"]) if before is not None else None
        journal.append((op["TableName"], key, saved))
    return journal


def _undo(backend: DynamoDBBackend, journal: Journal) -> None:
    # Newest first: a key named twice (refused by moto) ends at its state before the first.
    for table_name, key, before in reversed(journal):
        if before is None:
            backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, before)


def _deepcopy_but_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


@contextlib.contextmanager
def _tables_not_copied() -> Iterator[None]:
    """moto's transaction "backs up" a table by returning the live one (the journal restores).

    Safe because :class:`SerializedDynamo` runs one DynamoDB request at a time, so no other
    request uses moto's DynamoDB module meanwhile.
    """
    namespace = vars(dynamo_models)  # the module's globals: its ``copy`` is what it calls
    saved = namespace["copy"]
    namespace["copy"] = types.SimpleNamespace(deepcopy=_deepcopy_but_tables, copy=copy.copy)
    try:
        yield
    finally:
        namespace["copy"] = saved
