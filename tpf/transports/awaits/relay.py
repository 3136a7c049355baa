"""The completion sink a channel is built with before the coordinator that admits exists.

Channels are opened with the other providers, before the coordinator's awaits supervisor is
built; the relay is what they hold, and the coordinator binds it once it can admit. A
completion that arrives before that is a transient failure: the broker redelivers it.
"""

from __future__ import annotations

from tpf.core.errors import RetryableError
from tpf.transports.awaits.consume import Admission, CompletionSink, Origin
from tpf.transports.awaits.envelopes import CompletionEnvelope


class CompletionRelay:
    def __init__(self) -> None:
        self._target: CompletionSink | None = None

    def bind(self, sink: CompletionSink) -> None:
        self._target = sink

    async def __call__(self, envelope: CompletionEnvelope, origin: Origin) -> Admission:
        if self._target is None:
            # Retryable: not acknowledged, so the broker delivers it again.
            raise RetryableError("the coordinator is not ready to admit completions yet")
        return await self._target(envelope, origin)
