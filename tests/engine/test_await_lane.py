"""Which channel a parking interaction goes to (tpf.engine.await_lane): the configured one for
steps that pin none or pin the same; a channel of its own for a step pinned elsewhere, opened
when its code is hosted or from the stored interaction (another coordinator, a restart)."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace

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


class Builder:
    """The runtime's pinned-channel builder, recording what it was asked to open."""

    def __init__(self) -> None:
        self.built: list[Any] = []

    def __call__(self, spec: Any) -> FakeKafkaChannel:
        self.built.append(spec)
        return FakeKafkaChannel()


OTHER = Kafka("other-requests", "other-responses")


def parked(lane: AwaitLane, step: Any) -> AwaitInteraction:
    """What the local worker gives the lane for a step pinning ``step``'s transport."""
    from tpf.transports.workers.local import _await_metadata

    (spec,) = [s for s in pinned(step).steps if s.kind == "await"]
    fresh = interaction(spec.transport or "interaction-api")
    return replace(fresh, transport_metadata=fresh.transport_metadata | _await_metadata(spec))


def test_a_step_pinned_elsewhere_gets_a_channel_of_its_own() -> None:
    settings = load_settings({}, overrides=KAFKA)
    build = Builder()
    lane = AwaitLane(settings, FakeKafkaChannel(), build=build)
    lane.check_hosted(pinned(OTHER))  # opened when hosted: its completions are consumed
    assert len(build.built) == 1 and build.built[0].request_topic == "other-requests"
    (own,) = lane.channels()[1:]
    routed = lane.route(parked(lane, OTHER))
    assert routed.dispatch_state is DispatchState.CREATED
    assert routed.transport_metadata["inputType"] == pinned(OTHER).steps[1].input_type_id
    assert routed.transport_metadata["channel"].startswith("kafka:other-requests>")
    assert lane.resolve(routed) is own
    # Another coordinator (or this one restarted) opens the same channel from the stored record.
    other_build = Builder()
    other = AwaitLane(settings, FakeKafkaChannel(), build=other_build)
    assert other.resolve(routed) is other.channels()[1]
    assert other_build.built == build.built
    unpinned = lane.route(parked(lane, None))
    assert lane.resolve(unpinned) is lane.channel and len(build.built) == 1


def test_a_step_pinned_to_rest_on_a_broker_lane_stays_on_rest() -> None:
    build = Builder()
    lane = AwaitLane(load_settings({}, overrides=KAFKA), FakeKafkaChannel(), build=build)
    lane.check_hosted(pinned(InteractionApi()))  # hosted, and no channel opened for it
    assert build.built == []
    routed = lane.route(parked(lane, InteractionApi()))
    assert routed.dispatch_state is DispatchState.DISPATCHED
    assert "channel" not in routed.transport_metadata


def test_a_pinned_channel_that_cannot_be_opened_is_refused_naming_the_step() -> None:
    lane = AwaitLane(load_settings({}, overrides=KAFKA), FakeKafkaChannel())  # no builder
    with pytest.raises(ConfigError, match="await step 'Approve' of pipeline 'pinned'"):
        lane.check_hosted(pinned(OTHER))


def test_the_dispatcher_leaves_an_interaction_it_has_no_channel_for() -> None:
    lane = AwaitLane(load_settings({}, overrides=KAFKA), FakeKafkaChannel(), build=Builder())
    routed = lane.route(parked(lane, OTHER))
    fresh = AwaitLane(load_settings({}, overrides=KAFKA), FakeKafkaChannel())  # cannot open it
    with pytest.raises(ConfigError, match="can only open its configured channel"):
        fresh.resolve(routed)
