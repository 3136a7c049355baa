"""SqsWorkQueue against moto over HTTP: round trips, delays, batching, receivers, loopback,
visibility, malformed messages and errors, and a retry delivered through SQS end to end."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.aws_calls import CallLog
from tests.engine.harness import RecordingSink
from tests.engine.pipelines import FLAKY_ID, flaky_pipeline
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.clock import FakeClock, SystemClock
from tpf.core.errors import RetryableError
from tpf.core.records import ExecutionStatus, WorkItem
from tpf.engine.releases import build_release
from tpf.transports.work.sqs import SqsWorkQueue
from tpf.transports.work.sqs_batches import decode_item, delay_seconds


def item(n: int) -> WorkItem:
    return WorkItem(tenant_id="t1", execution_id=f"e-{n}")


async def take(queue: SqsWorkQueue, n: int, timeout_s: float = 10.0) -> list[WorkItem]:
    """Exactly ``n`` items, waiting on the queue (never on a sleep)."""
    got: list[WorkItem] = []
    async with asyncio.timeout(timeout_s):
        while len(got) < n:
            got += await queue.receive(n - len(got))
            if len(got) < n:
                await queue.wait_ready(timeout_s)
    return got


async def remote(aws: AwsClients, url: str) -> dict[str, int]:
    """The queue's visible / in-flight / delayed message counts, as SQS reports them."""
    sqs = await aws.client("sqs")
    response = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes = response["Attributes"]
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"]),
    }


async def raw_receive(aws: AwsClients, url: str) -> list[dict[str, Any]]:
    sqs = await aws.client("sqs")
    response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return list(response.get("Messages", []))


def url_of(settings: Settings) -> str:
    assert settings.sqs.queue_url is not None
    return settings.sqs.queue_url


@pytest.mark.parametrize(
    ("delay_ms", "seconds"),
    [
        (0, 0),
        (-5, 0),
        (1, 1),
        (1_000, 1),
        (1_001, 2),
        (899_001, 900),
        (900_000, 900),
        (10_000_000, 900),
    ],
)
def test_delay_seconds_round_up_and_cap_at_900(delay_ms: int, seconds: int) -> None:
    assert delay_seconds(delay_ms) == seconds


@pytest.mark.parametrize(
    "body", ["", "not json", "[]", '{"tenantId": "t"}', '{"tenantId": "", "executionId": "e"}']
)
def test_bodies_that_are_not_work_items_are_rejected(body: str) -> None:
    assert decode_item(body) is None


async def test_round_trip_and_delete_after_hand_off(
    sqs_settings: Settings, aws: AwsClients, sqs_calls: CallLog
) -> None:
    queue = SqsWorkQueue(aws, sqs_settings, SystemClock())
    try:
        await queue.enqueue(item(1))
        assert sqs_calls.sent("SendMessageBatch")[0]["Entries"] == [
            {"Id": "0", "MessageBody": '{"tenantId":"t1","executionId":"e-1"}', "DelaySeconds": 0}
        ]
        assert await take(queue, 1) == [item(1)]
        assert queue.delivered == 1
    finally:
        await queue.close()  # flushes the pending delete
    assert sqs_calls.calls["DeleteMessageBatch"] == 1
    assert await remote(aws, url_of(sqs_settings)) == {"visible": 0, "in_flight": 0, "delayed": 0}


async def test_delays_set_delay_seconds_capped_at_900(
    sqs_settings: Settings, aws: AwsClients, sqs_calls: CallLog
) -> None:
    queue = SqsWorkQueue(aws, sqs_settings, SystemClock())
    try:
        await queue.enqueue(item(1), 1_500)
        await queue.enqueue(item(2), 3_600_000)  # an hour: the sweeper covers the rest
        sent = sqs_calls.sent("SendMessageBatch")
        assert [e["DelaySeconds"] for p in sent for e in p["Entries"]] == [2, 900]
        assert (await remote(aws, url_of(sqs_settings)))["delayed"] == 2
        assert await raw_receive(aws, url_of(sqs_settings)) == []
    finally:
        await queue.close()


async def test_a_delayed_item_arrives_once_due(sqs_settings: Settings, aws: AwsClients) -> None:
    queue = SqsWorkQueue(aws, sqs_settings, SystemClock())
    try:
        await queue.enqueue(item(1), 1_000)
        assert await queue.receive(10) == []
        assert await take(queue, 1) == [item(1)]
    finally:
        await queue.close()


async def test_concurrent_enqueues_share_batched_sends_and_deletes(
    sqs_settings: Settings, aws: AwsClients, sqs_calls: CallLog
) -> None:
    # One receiver, started after the sends: it gets the 25 messages in three polls.
    queue = SqsWorkQueue(
        aws, replace(sqs_settings, sqs=replace(sqs_settings.sqs, receivers=1)), SystemClock()
    )
    try:
        await asyncio.gather(*(queue.enqueue(item(n)) for n in range(25)))
        assert sqs_calls.calls["SendMessageBatch"] == 3
        assert [len(p["Entries"]) for p in sqs_calls.sent("SendMessageBatch")] == [10, 10, 5]
        got = await take(queue, 25)
        assert sorted(i.execution_id for i in got) == sorted(f"e-{n}" for n in range(25))
    finally:
        await queue.close()
    deletes = [len(p["Entries"]) for p in sqs_calls.sent("DeleteMessageBatch")]
    assert sum(deletes) == 25 and max(deletes) <= 10 and len(deletes) <= 3
    assert await remote(aws, url_of(sqs_settings)) == {"visible": 0, "in_flight": 0, "delayed": 0}


async def test_several_receivers_long_poll_concurrently(
    sqs_settings: Settings, aws: AwsClients, sqs_calls: CallLog
) -> None:
    queue = SqsWorkQueue(
        aws, replace(sqs_settings, sqs=replace(sqs_settings.sqs, receivers=4)), SystemClock()
    )
    try:
        await queue.start()
        await sqs_calls.wait_for_peak("ReceiveMessage", 4)
        assert all(p["WaitTimeSeconds"] == 20 for p in sqs_calls.sent("ReceiveMessage"))
        await asyncio.gather(*(queue.enqueue(item(n)) for n in range(40)))
        # A standard queue delivers at least once (moto's concurrent receives too), so wait
        # for every item rather than for 40 deliveries.
        wanted = {item(n) for n in range(40)}
        seen: set[WorkItem] = set()
        async with asyncio.timeout(10):
            while True:
                seen.update(await queue.receive(100))
                if seen == wanted:
                    break
                await queue.wait_ready(10)
        assert sqs_calls.calls["ReceiveMessage"] > 4
    finally:
        async with asyncio.timeout(5):  # receivers parked in 20 s long polls stop at once
            await queue.close()


async def test_malformed_messages_are_deleted_and_counted(
    sqs_settings: Settings, aws: AwsClients
) -> None:
    sqs = await aws.client("sqs")
    url = url_of(sqs_settings)
    for body in ("not json", '{"tenantId": "t1"}', '{"tenantId":"t1","executionId":"e-1"}'):
        await sqs.send_message(QueueUrl=url, MessageBody=body)
    queue = SqsWorkQueue(
        aws, replace(sqs_settings, sqs=replace(sqs_settings.sqs, receivers=1)), SystemClock()
    )
    try:
        assert await take(queue, 1) == [item(1)]
        assert queue.malformed == 2
    finally:
        await queue.close()
    assert await remote(aws, url) == {"visible": 0, "in_flight": 0, "delayed": 0}


async def test_loopback_delivers_in_process_and_still_sends_to_sqs(
    sqs_settings: Settings, aws: AwsClients, sqs_calls: CallLog
) -> None:
    clock = FakeClock()
    queue = SqsWorkQueue(
        aws, replace(sqs_settings, sqs=replace(sqs_settings.sqs, local_loopback=True)), clock
    )
    try:
        await queue.enqueue(item(1))
        assert await queue.receive(10) == [item(1)]  # before any SQS round trip
        await queue.enqueue(item(2), 5_000)
        await queue.wait_ready(0)
        assert await queue.receive(10) == []
        assert queue.depth() == 1
        clock.advance(5_000)
        assert await queue.receive(10) == [item(2)]
    finally:
        await queue.close()  # flushes the SQS copies
    # The poller never runs in loopback mode; the copies are there for other coordinators.
    assert sqs_calls.calls["ReceiveMessage"] == 0
    assert await remote(aws, url_of(sqs_settings)) == {"visible": 1, "in_flight": 0, "delayed": 1}


async def test_buffered_messages_keep_their_visibility_and_are_released_on_close(
    sqs_settings: Settings, aws: AwsClients, sqs_calls: CallLog
) -> None:
    clock = FakeClock()
    queue = SqsWorkQueue(
        aws, replace(sqs_settings, sqs=replace(sqs_settings.sqs, receivers=1)), clock
    )
    try:
        await queue.enqueue(item(1))
        await queue.wait_ready(10)  # buffered, not handed off
        assert queue.depth() == 1
        clock.advance(14_000)
        assert await queue.maintain() == 0
        clock.advance(1_000)  # half the 30 s visibility timeout
        assert await queue.maintain() == 1
        [extend] = sqs_calls.sent("ChangeMessageVisibilityBatch")
        assert extend["Entries"][0]["VisibilityTimeout"] == 30
        assert queue.depth() == 1  # buffer + the (empty) remote backlog
    finally:
        await queue.close()
    # Never handed off, so given back: visible again at once for another coordinator.
    release = sqs_calls.sent("ChangeMessageVisibilityBatch")[-1]
    assert release["Entries"][0]["VisibilityTimeout"] == 0
    [message] = await raw_receive(aws, url_of(sqs_settings))
    assert decode_item(message["Body"]) == item(1)


async def test_sqs_failures_are_retryable(sqs_settings: Settings, aws: AwsClients) -> None:
    missing = replace(
        sqs_settings,
        sqs=replace(
            sqs_settings.sqs, queue_url=url_of(sqs_settings).replace("tpf-work", "missing")
        ),
    )
    queue = SqsWorkQueue(aws, missing, SystemClock())
    try:
        with pytest.raises(RetryableError, match=r"NonExistentQueue|QueueDoesNotExist"):
            await queue.enqueue(item(1))
    finally:
        await queue.close()
    with pytest.raises(RetryableError, match="closed"):
        await queue.enqueue(item(2))


async def test_a_retry_travels_through_sqs(
    sqs_settings: Settings, aws: AwsClients, tmp_path: Path
) -> None:
    """A failed transition's retry is enqueued with a delay, received by a long-poll receiver
    and run; the sweeper is kept out of it (it would find the execution due as well)."""
    settings = replace(
        sqs_settings,
        dlq=replace(sqs_settings.dlq, provider="log"),
        retries=replace(sqs_settings.retries, delay_ms=1_000, jitter=0.0),
        sweeper=replace(sqs_settings.sweeper, interval_ms=3_600_000),
    )
    coordinator = await Coordinator.open(settings, dlq_sink=RecordingSink())
    try:
        pipeline, calls = flaky_pipeline(1)
        worker = coordinator.host(pipeline)
        descriptor = build_release(pipeline, tmp_path / "release")
        release = await coordinator.register_release("t1", FLAKY_ID, str(descriptor))
        await coordinator.activate_release("t1", FLAKY_ID, release.release_version)
        await coordinator.register_local_worker("t1", worker, "local-1")
        await coordinator.start()
        submitted = await coordinator.submit("t1", FLAKY_ID, {"value": "x"})
        done = await coordinator.wait_for(
            "t1", submitted.execution_id, [ExecutionStatus.SUCCEEDED], timeout_s=15
        )
        assert done.status is ExecutionStatus.SUCCEEDED and calls.count == 2
        queue = coordinator.engine.queue
        assert isinstance(queue, SqsWorkQueue) and queue.delivered == 1
    finally:
        await coordinator.close()
