"""The moto fixture answers real AWS API calls over HTTP through our shared clients."""

from __future__ import annotations

from tpf.aws.clients import AwsClients, error_code
from tpf.config.settings import Settings


async def test_clients_reach_moto_and_count_requests(aws_settings: Settings) -> None:
    clients = AwsClients(aws_settings)
    try:
        sqs = await clients.client("sqs")
        created = await sqs.create_queue(QueueName="probe")
        assert created["QueueUrl"].endswith("/probe")
        dynamo = await clients.client("dynamodb")
        try:
            await dynamo.describe_table(TableName="missing")
        except Exception as exc:
            assert error_code(exc) == "ResourceNotFoundException"
        else:
            raise AssertionError("describe_table of a missing table must fail")
        assert clients.requests["sqs"] == 1 and clients.requests["dynamodb"] == 1
    finally:
        await clients.close()
