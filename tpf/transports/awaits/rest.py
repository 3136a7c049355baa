"""The ``rest`` await channel: completions arrive through the REST edge
(``Coordinator.complete``), so there is nothing to publish to or consume from."""

from __future__ import annotations

from typing import Any

from tpf.core.records import AwaitInteraction
from tpf.transports.awaits.consume import Verdict
from tpf.transports.awaits.envelopes import DispatchEnvelope


class RestAwaitChannel:
    name = "rest"
    key = "interaction-api"
    publishes = False  # its interactions are dispatched at creation: the API serves them

    def transport_metadata(self, interaction: AwaitInteraction, now_ms: int) -> dict[str, Any]:
        return {"adapter": "interaction-api", "dispatchedAtEpochMs": now_ms}

    async def publish(self, interaction: AwaitInteraction, envelope: DispatchEnvelope) -> None:
        return None  # the pending-interactions API is the channel

    async def dead_letter(self, verdict: Verdict, body: bytes) -> bool:
        return True  # never called: REST completions are answered, never held or parked

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
