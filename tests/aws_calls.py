"""Count AWS API calls by operation name, through the client's own botocore events.

``AwsClients.requests`` counts HTTP requests per service; tests that assert *which* calls were
made (one ``SendMessageBatch`` for ten enqueues, no ``PutObject`` on a repeated upload) use this.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any


class CallLog:
    """Every operation a client makes after :meth:`attach`, plus the parameters it sent."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.params: list[tuple[str, dict[str, Any]]] = []
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.changed = asyncio.Event()

    def attach(self, client: Any) -> CallLog:
        service = client.meta.service_model.endpoint_prefix
        client.meta.events.register(f"provide-client-params.{service}", self._params)
        client.meta.events.register(f"before-call.{service}", self._before)
        client.meta.events.register(f"after-call.{service}", self._after)
        client.meta.events.register(f"after-call-error.{service}", self._after)
        return self

    def _params(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.params.append((model.name, dict(params)))

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every ``operation`` call, in order."""
        return [params for name, params in self.params if name == operation]

    def _before(self, model: Any, **kwargs: Any) -> None:
        name = model.name
        self.calls[name] += 1
        self.in_flight[name] += 1
        self.peak[name] = max(self.peak[name], self.in_flight[name])
        self.changed.set()

    def _after(self, model: Any, **kwargs: Any) -> None:
        self.in_flight[model.name] -= 1

    async def wait_for_peak(self, operation: str, count: int, timeout_s: float = 10.0) -> None:
        """Return once ``count`` calls of ``operation`` were in flight at the same time."""
        async with asyncio.timeout(timeout_s):
            while self.peak[operation] < count:
                self.changed.clear()
                await self.changed.wait()


def store_calls(store: object) -> Counter[str] | None:
    """The operations a DynamoDB-backed ``store`` sends from now on, by name (a live
    :attr:`CallLog.calls`); ``None`` for a store without an AWS client (memory, SQLite)."""
    client = getattr(getattr(store, "_db", None), "client", None)
    if client is None or not hasattr(client, "meta"):
        return None
    return CallLog().attach(client).calls
