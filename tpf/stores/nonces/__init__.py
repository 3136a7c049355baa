"""Nonce guards for signed worker requests, and :func:`open_nonce_guard`, which picks one.

``tpf.worker.nonce-store`` (resolved by :func:`tpf.config.nonces.nonce_store`) chooses:

- ``sqlite``: :class:`SqliteNonceGuard` on ``tpf.worker.nonce-path`` (default
  ``<state dir>/worker-nonces.sqlite3``), shared by every replica on one host;
- ``dynamo``: :class:`DynamoNonceGuard` on ``tpf.worker.nonce-table`` (``tpf bootstrap aws``
  creates it, with native TTL), shared by replicas anywhere;
- ``memory``: :class:`MemoryNonceGuard`, per process (the original's behaviour).

Each satisfies :class:`tpf.stores.base.NonceGuard` (the Protocol the transports' verifiers
take); the shared ones also carry the ``health`` of their store, for readiness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpf.config.nonces import nonce_path, nonce_store
from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.stores.base import NonceGuard
from tpf.stores.nonces.memory import MemoryNonceGuard

if TYPE_CHECKING:
    from tpf.aws.clients import AwsClients
    from tpf.stores.nonces.dynamo import DynamoNonceGuard
    from tpf.stores.nonces.sqlite import SqliteNonceGuard

__all__ = [
    "DynamoNonceGuard",
    "MemoryNonceGuard",
    "NonceGuard",
    "SqliteNonceGuard",
    "open_nonce_guard",
]


async def open_nonce_guard(
    settings: Settings, clock: Clock, *, aws: AwsClients | None = None
) -> NonceGuard:
    """Open the nonce guard ``settings`` choose; ``aclose()`` it when the worker stops.

    The ``dynamo`` guard uses ``aws``'s shared DynamoDB client when given (its owner closes
    it), else AWS clients of its own, closed with the guard. SQLite and DynamoDB are imported
    only when chosen.
    """
    store = nonce_store(settings)
    if store == "sqlite":
        from tpf.stores.nonces.sqlite import SqliteNonceGuard

        return await SqliteNonceGuard.open(
            nonce_path(settings), clock, synchronous=settings.sqlite.synchronous
        )
    if store == "dynamo":
        return await _open_dynamo(settings, clock, aws)
    return MemoryNonceGuard(clock)


async def _open_dynamo(settings: Settings, clock: Clock, aws: AwsClients | None) -> NonceGuard:
    from tpf.aws.clients import AwsClients
    from tpf.stores.nonces.dynamo import DynamoNonceGuard

    if aws is not None:
        return await DynamoNonceGuard.open(await aws.client("dynamodb"), settings, clock)
    own = AwsClients(settings)
    try:
        client = await own.client("dynamodb")
        return await DynamoNonceGuard.open(client, settings, clock, closer=own.close)
    except BaseException:
        await own.close()
        raise


def __getattr__(name: str) -> object:
    # The SQLite and DynamoDB guards load on first use: botocore only where DynamoDB is used.
    if name == "SqliteNonceGuard":
        from tpf.stores.nonces.sqlite import SqliteNonceGuard

        return SqliteNonceGuard
    if name == "DynamoNonceGuard":
        from tpf.stores.nonces.dynamo import DynamoNonceGuard

        return DynamoNonceGuard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
