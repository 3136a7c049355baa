"""``DynamoNonceGuard``: nonces as items of a DynamoDB table, for worker replicas anywhere.

A claim is one conditional ``PutItem``: it writes the nonce's item if there is none, or if the
one there has expired (``expires_epoch_ms < now``: DynamoDB's native TTL deletes expired items
only eventually, up to days later, and an expired nonce's request is refused by its timestamp
anyway, so a leftover must not block). A lost condition means another replica, or an earlier
request, holds the nonce: refused. Any other failure raises (the store's error, mapped by
:class:`~tpf.stores.dynamo.client.Dynamo`): a guard that cannot tell must not let a request
through, so the verifier fails the request instead of accepting a possible replay.

``ttl_epoch_s`` (the table's TTL attribute, whole seconds rounded up) lets DynamoDB delete the
items; ``expires_epoch_ms`` is the exact expiry the condition compares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tpf.config.settings import Settings
from tpf.core.clock import Clock
from tpf.core.errors import StoreUnusable
from tpf.stores.dynamo.client import CheckFailed, Dynamo
from tpf.stores.dynamo.codec import N, S
from tpf.stores.dynamo.schema import describe, not_active
from tpf.stores.health import StoreHealth

_CONDITION = "attribute_not_exists(#nonce) OR expires_epoch_ms < :now"


class DynamoNonceGuard:
    """A :class:`~tpf.transports.workers.remote.nonces.NonceGuard` on a DynamoDB table."""

    def __init__(
        self,
        client: Any,
        table: str,
        clock: Clock,
        closer: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._db = Dynamo(client)
        self._table = table
        self._clock = clock
        self._closer = closer  # closes the client when this guard opened it for itself

    @classmethod
    async def open(
        cls,
        client: Any,
        settings: Settings,
        clock: Clock,
        closer: Callable[[], Awaitable[None]] | None = None,
    ) -> DynamoNonceGuard:
        """The guard on ``tpf.worker.nonce-table``, refused if the table is not there: every
        request would fail on it otherwise, and creating it here could start an empty table
        in the wrong account or region beside the real one."""
        table = settings.workers.nonce_table
        pending = not_active(await describe(Dynamo(client), table))
        if pending:
            raise StoreUnusable(
                f"the DynamoDB nonce table {table} (tpf.worker.nonce-table) is not ready "
                f"({', '.join(pending)}); create it with `tpf bootstrap aws`"
            )
        return cls(client, table, clock, closer)

    @property
    def health(self) -> StoreHealth:
        return self._db.health

    async def claim(self, nonce: str, expires_at_ms: int) -> bool:
        item = {
            "nonce": S(nonce),
            "expires_epoch_ms": N(expires_at_ms),
            "ttl_epoch_s": N(-(-expires_at_ms // 1000)),  # rounded up: never before expiry
        }
        try:
            await self._db.put_item(
                self._table,
                item,
                condition=_CONDITION,
                names={"#nonce": "nonce"},
                values={":now": N(self._clock.now_ms())},
            )
        except CheckFailed:
            return False
        return True

    async def aclose(self) -> None:
        # A shared client is closed by whoever opened it (the process's AwsClients).
        closer, self._closer = self._closer, None
        if closer is not None:
            await closer()
