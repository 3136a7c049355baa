"""The store tests' shared DynamoDB tables: emptied between tests, rebuilt after any change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from tests.aws import REGION, CountingMotoServer, settings_for
from tests.shared_tables import SharedTables


def client_for(endpoint: str) -> Any:
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)


def test_items_are_emptied_and_the_tables_kept(
    shared_tables: SharedTables, moto_server: CountingMotoServer, tmp_path: Path
) -> None:
    settings = settings_for(moto_server.endpoint, tmp_path)
    shared_tables.prepare(settings)
    client = client_for(moto_server.endpoint)
    table = settings.dynamo.execution_table
    # More than one page of deletes (25 an item batch).
    for n in range(60):
        client.put_item(
            TableName=table, Item={"tenant_id": {"S": "t"}, "execution_id": {"S": f"e{n}"}}
        )
    created = client.describe_table(TableName=table)["Table"]["CreationDateTime"]
    changes = moto_server.changes

    shared_tables.prepare(settings)

    assert moto_server.changes == changes  # no reset, no table created
    assert client.describe_table(TableName=table)["Table"]["CreationDateTime"] == created
    for name in client.list_tables()["TableNames"]:
        assert client.scan(TableName=name)["Items"] == [], name


def test_a_changed_table_or_another_service_call_means_a_reset(
    shared_tables: SharedTables, moto_server: CountingMotoServer, tmp_path: Path
) -> None:
    settings = settings_for(moto_server.endpoint, tmp_path)
    shared_tables.prepare(settings)
    client = client_for(moto_server.endpoint)
    tables = sorted(client.list_tables()["TableNames"])
    client.delete_table(TableName=settings.dynamo.worker_table)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server.endpoint)
    sqs.create_queue(QueueName="left-behind")

    shared_tables.prepare(settings)

    assert sorted(client.list_tables()["TableNames"]) == tables
    assert sqs.list_queues().get("QueueUrls", []) == []
