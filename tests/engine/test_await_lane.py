"""Which channel a parking interaction goes to (tpf.engine.await_lane): the configured one for
steps that pin none or pin the same; a step pinned elsewhere is refused when hosted."""

from __future__ import annotations

from typing import Any

import pytest

from tpf.authoring.await_transports import InteractionApi, Kafka
from tpf.authoring.pipeline import Pipeline
from tpf.config import load_settings
from tpf.core import interactions as inter
from tpf.core.errors import ConfigError
from tpf.core.records import AwaitInteraction, DispatchState
from tpf.engine.await_lane import AwaitLane
from tpf.transports.awaits.rest import RestAwaitChannel

KAFKA = {"tpf.await-transport": "kafka", "kafka.bootstrap-servers": "127.0.0.1:9"}


class FakeKafkaChannel:
    name = "kafka"
    publishes = True

    def transport_metadata(self, interaction: AwaitInteraction, now_ms: int) -> dict[str, Any]:
        return {}

    async def publish(self, interaction: AwaitInteraction, envelope: Any) -> None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def interaction(transport_type: str) -> AwaitInteraction:
    return inter.new_interaction(
        tenant_id="t",
        execution_id="e",
        step_id="Approve",
        step_index=1,
        attempt=0,
        output_type="Decision",
        request_payload={"orderId": "o-1"},
        key_fields=(),
        timeout_ms=60_000,
        now_ms=1_000,
        transport_type=transport_type,
    )


def pinned(transport: Any) -> Pipeline:
    p = Pipeline("pinned")

    @p.step("Prepare")
    async def prepare(value: dict[str, Any]) -> dict[str, Any]:
        return value

    p.await_step("Approve", step_id="Approve", output=dict, timeout="PT1H", transport=transport)
    return p


def test_an_unpinned_await_goes_into_the_outbox_of_the_configured_channel() -> None:
    lane = AwaitLane(load_settings({}, overrides=KAFKA), FakeKafkaChannel())
    routed = lane.route(interaction("interaction-api"))
    assert routed.dispatch_state is DispatchState.CREATED
    assert routed.transport_type == "kafka"
    assert lane.resolve(routed) is lane.channel


def test_on_the_rest_lane_nothing_enters_the_outbox() -> None:
    lane = AwaitLane(load_settings({}), RestAwaitChannel())
    routed = lane.route(interaction("interaction-api"))
    assert routed.dispatch_state is DispatchState.DISPATCHED
    assert lane.resolve(routed) is None


def test_a_step_pinned_to_the_configured_transport_is_hosted() -> None:
    settings = load_settings({}, overrides=KAFKA)
    lane = AwaitLane(settings, FakeKafkaChannel())
    same = Kafka(settings.awaits.kafka_request_topic, settings.awaits.kafka_response_topic)
    lane.check_hosted(pinned(same))
    lane.check_hosted(pinned(None))  # pins nothing


@pytest.mark.parametrize(
    "transport", [Kafka("other-requests", "other-responses"), InteractionApi()]
)
def test_a_step_pinned_elsewhere_is_refused_naming_it(transport: Any) -> None:
    lane = AwaitLane(load_settings({}, overrides=KAFKA), FakeKafkaChannel())
    with pytest.raises(ConfigError, match="await step 'Approve' of pipeline 'pinned'"):
        lane.check_hosted(pinned(transport))
