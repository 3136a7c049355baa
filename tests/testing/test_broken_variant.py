"""The exhaustive check catches a broken outbox: a DLQ sink that acknowledges an envelope before
it is durable (it keeps it in memory until its next publish or a clean close) loses the envelope
when the coordinator dies after the outbox mark was cleared, and the checker reports it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.flows import RESTAURANT_PAIRS, RESTAURANT_PIPELINE
from tpf.core import crash_points as cp
from tpf.core.records import DeadLetterEnvelope
from tpf.testing import RecordingSink, TestEnv
from tpf.testing import exhaustive as ex


class AckBeforeDurableSink:
    """Broken on purpose: ``publish`` returns before the envelope reaches the recording."""

    def __init__(self, durable: RecordingSink) -> None:
        self._durable = durable
        self._buffer: list[DeadLetterEnvelope] = []

    async def publish(self, envelope: DeadLetterEnvelope) -> None:
        for held in self._buffer:
            await self._durable.publish(held)
        self._buffer = [envelope]

    async def aclose(self) -> None:
        for held in self._buffer:
            await self._durable.publish(held)
        self._buffer = []


def _env(broken: bool) -> Any:
    wrap = AckBeforeDurableSink if broken else None
    return lambda: TestEnv(RESTAURANT_PIPELINE, dlq_sink=wrap)


@pytest.mark.parametrize("point", [cp.DLQ_PUBLISH, cp.DLQ_CLEAR])
async def test_the_correct_outbox_survives_both_dlq_crash_points(point: str) -> None:
    reference = await ex.run(_env(False), RESTAURANT_PAIRS)
    ex.check(await ex.run(_env(False), RESTAURANT_PAIRS, [(point, 1)]), reference)


async def test_a_sink_that_acks_before_it_is_durable_is_caught() -> None:
    reference = await ex.run(_env(False), RESTAURANT_PAIRS)
    broken_clean = await ex.run(_env(True), RESTAURANT_PAIRS)
    ex.check(broken_clean, reference)  # without a crash the broken sink looks fine
    crashed = await ex.run(_env(True), RESTAURANT_PAIRS, [(cp.DLQ_CLEAR, 1)])
    with pytest.raises(ex.CrashCheckFailed) as caught:
        ex.check(crashed, reference)
    assert caught.value.problems == [
        "timeout: the DLQ envelope of its AWAIT_TIMED_OUT (step 2, attempt 0) was never published"
    ]
