"""The ``rest`` await channel: completions arrive through the REST edge
(``Coordinator.complete``), so there is nothing to publish to or consume from."""

from __future__ import annotations


class RestAwaitChannel:
    name = "rest"

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
