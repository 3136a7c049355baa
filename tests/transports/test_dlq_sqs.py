"""SqsDeadLetterSink: the spec §3.6 envelope lands on the SQS DLQ; failures raise."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tpf.aws.clients import AwsClients
from tpf.config.providers import ClosingStack, OpenContext
from tpf.config.settings import DlqSettings, Settings, StateSettings, WorkQueueSettings
from tpf.core.clock import SystemClock
from tpf.core.errors import ConfigError, RetryableError
from tpf.core.records import DeadLetterEnvelope
from tpf.transports.dlq.sqs import SqsDeadLetterSink
from tpf.transports.providers import DLQ_SINKS, WORK_QUEUES
from tpf.transports.work.sqs import SqsWorkQueue

ENVELOPE = DeadLetterEnvelope(
    tenant_id="restaurant-demo",
    execution_id="exec-1",
    execution_key="order-1",
    correlation_id="order-1",
    transition_key="exec-1:3:0",
    transport="REST",
    error_code="TransitionWorkerFailureException",
    error_message="kitchen on fire",
    retries_observed=3,
    created_at_epoch_ms=1_760_000_002_000,
)

# The Java record's field names, in the spec's order (§3.6).
SPEC_FIELDS = [
    "tenantId",
    "executionId",
    "executionKey",
    "correlationId",
    "transitionKey",
    "resourceType",
    "resourceName",
    "transport",
    "platform",
    "terminalStatus",
    "terminalReason",
    "errorCode",
    "errorMessage",
    "retryable",
    "retriesObserved",
    "createdAtEpochMs",
]


async def test_envelope_lands_on_the_dlq_with_the_spec_field_names(
    sqs_settings: Settings, aws: AwsClients
) -> None:
    sink = SqsDeadLetterSink(aws, sqs_settings)
    await sink.publish(ENVELOPE)
    assert sink.published == 1
    sqs = await aws.client("sqs")
    response = await sqs.receive_message(QueueUrl=sqs_settings.sqs.dlq_url, WaitTimeSeconds=1)
    [message] = response["Messages"]
    body = json.loads(message["Body"])
    assert list(body) == SPEC_FIELDS
    assert body == {
        "tenantId": "restaurant-demo",
        "executionId": "exec-1",
        "executionKey": "order-1",
        "correlationId": "order-1",
        "transitionKey": "exec-1:3:0",
        "resourceType": "tpf.orchestrator.execution",
        "resourceName": "OrchestratorService/Run",
        "transport": "REST",
        "platform": "COMPUTE",
        "terminalStatus": "FAILED",
        "terminalReason": "retry_exhausted",
        "errorCode": "TransitionWorkerFailureException",
        "errorMessage": "kitchen on fire",
        "retryable": True,
        "retriesObserved": 3,
        "createdAtEpochMs": 1_760_000_002_000,
    }


async def test_a_failed_publish_raises_for_the_supervisor_to_retry(
    sqs_settings: Settings, aws: AwsClients
) -> None:
    assert sqs_settings.sqs.dlq_url is not None
    missing = replace(
        sqs_settings,
        sqs=replace(sqs_settings.sqs, dlq_url=sqs_settings.sqs.dlq_url.replace("dlq", "gone")),
    )
    sink = SqsDeadLetterSink(aws, missing)
    with pytest.raises(RetryableError, match="exec-1"):
        await sink.publish(ENVELOPE)
    assert sink.published == 0


async def test_factory_opens_the_sqs_providers(sqs_settings: Settings, aws: AwsClients) -> None:
    ctx = OpenContext(sqs_settings, SystemClock(), aws, ClosingStack())
    async with ctx.stack:
        queue = await WORK_QUEUES.open(ctx)
        assert isinstance(queue, SqsWorkQueue)
        assert isinstance(await DLQ_SINKS.open(ctx), SqsDeadLetterSink)


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("sqs__queue_url", "pipeline.orchestrator.queue-url"),
        ("sqs__dlq_url", "pipeline.orchestrator.dlq-url"),
    ],
)
async def test_factory_names_a_missing_queue_url(tmp_path: Path, field: str, key: str) -> None:
    urls = {"sqs__queue_url": "http://localhost/1/q", "sqs__dlq_url": "http://localhost/1/d"}
    urls[field] = None
    settings = Settings(
        state=StateSettings(dir=str(tmp_path)),
        work_queue=WorkQueueSettings(provider="sqs"),
        dlq=DlqSettings(provider="sqs"),
    ).replace(**urls)
    aws = AwsClients(settings)  # no client is created, so nothing to close
    ctx = OpenContext(settings, SystemClock(), aws, ClosingStack())
    async with ctx.stack:
        with pytest.raises(ConfigError, match=key):
            await WORK_QUEUES.open(ctx)
            await DLQ_SINKS.open(ctx)
