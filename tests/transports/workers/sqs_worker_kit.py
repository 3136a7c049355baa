"""Shared pieces of the SQS worker tests: a fake handler, queue inspection, waiting on calls."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tests.aws_calls import CallLog
from tpf.aws.clients import AwsClients

SECRET = "worker-secret"


class EchoHandler:
    """A :class:`~tpf.transports.workers.remote.contracts.WorkerHandler` that answers each
    command with a COMPLETED envelope carrying the command back, so a caller can tell its own
    result from another's. ``gate``, when set, holds every call until it is set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.commands: list[bytes] = []
        self.error = error
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def execute(self, command_envelope: bytes) -> bytes:
        self.commands.append(command_envelope)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return orjson.dumps({"outcome": "COMPLETED", "echo": orjson.loads(command_envelope)})

    async def capabilities(self, provider_name: str) -> bytes:
        return orjson.dumps({"providerName": provider_name})


def command(n: int, who: str = "c") -> bytes:
    return orjson.dumps({"tenantId": "t1", "executionId": f"{who}-{n}"})


async def create_queue(aws: AwsClients, name: str, visibility_s: int = 30) -> str:
    sqs = await aws.client("sqs")
    created = await sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(visibility_s)}
    )
    return str(created["QueueUrl"])


async def counts(aws: AwsClients, url: str) -> dict[str, int]:
    """The queue's visible / in-flight / delayed message counts, as SQS reports them."""
    sqs = await aws.client("sqs")
    response = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes = response["Attributes"]
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"]),
    }


EMPTY = {"visible": 0, "in_flight": 0, "delayed": 0}


async def receive_all(aws: AwsClients, url: str, wait_s: int = 0) -> list[dict[str, Any]]:
    sqs = await aws.client("sqs")
    response = await sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_s,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )
    return list(response.get("Messages", []))


async def send_raw(aws: AwsClients, url: str, body: str) -> None:
    sqs = await aws.client("sqs")
    await sqs.send_message(QueueUrl=url, MessageBody=body)


async def until_calls(log: CallLog, operation: str, count: int, timeout_s: float = 10.0) -> None:
    """Return once ``operation`` was called ``count`` times (waiting on the log's event)."""
    async with asyncio.timeout(timeout_s):
        while log.calls[operation] < count:
            log.changed.clear()
            await log.changed.wait()
