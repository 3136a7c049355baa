"""``tpf.dev_moto``'s TransactWriteItems: a refused transaction leaves every item it named as it
was, without moto's copy of each whole table it names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.backends import get_backend

from tests.aws import REGION
from tpf.config.settings import Settings

ACCOUNT = "123456789012"  # the account moto serves
TABLE = "journal-probe"


@pytest.fixture
def dynamo(aws_settings: Settings) -> Iterator[Any]:
    client = boto3.client(
        "dynamodb", region_name=REGION, endpoint_url=aws_settings.dynamo.endpoint_override
    )
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(
        TableName=TABLE, Item={"pk": {"S": "a"}, "v": {"N": "1"}, "tags": {"SS": ["x"]}}
    )
    client.put_item(TableName=TABLE, Item={"pk": {"S": "gone"}, "v": {"N": "1"}})
    yield client
    client.close()


def items(client: Any) -> dict[str, dict[str, Any]]:
    return {item["pk"]["S"]: item for item in client.scan(TableName=TABLE)["Items"]}


def writes_then_a_failed_check() -> list[dict[str, Any]]:
    """A put, an update (in place on a set too) and a delete that apply, then a check that fails."""
    key = {"pk": {"S": "a"}}
    return [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "v": {"N": "9"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": key,
                "UpdateExpression": "SET v = :two ADD tags :y",
                "ExpressionAttributeValues": {":two": {"N": "2"}, ":y": {"SS": ["y"]}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "gone"}}}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "missing"}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]


def test_a_cancelled_transaction_restores_every_item_it_named(dynamo: Any) -> None:
    before = items(dynamo)
    table = get_backend("dynamodb")[ACCOUNT][REGION].tables[TABLE]
    with pytest.raises(ClientError) as refused:
        dynamo.transact_write_items(TransactItems=writes_then_a_failed_check())
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert items(dynamo) == before
    # The journal restored the items in the live table: moto's copy of it was never made.
    assert get_backend("dynamodb")[ACCOUNT][REGION].tables[TABLE] is table


def test_a_transaction_naming_one_item_twice_changes_nothing(dynamo: Any) -> None:
    before = items(dynamo)
    put = {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "twice"}, "v": {"N": "1"}}}}
    with pytest.raises(ClientError) as refused:
        dynamo.transact_write_items(TransactItems=[put, put])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert items(dynamo) == before


def test_a_transaction_that_passes_applies_every_write(dynamo: Any) -> None:
    dynamo.transact_write_items(TransactItems=writes_then_a_failed_check()[:3])
    after = items(dynamo)
    assert set(after) == {"a", "new"}
    assert after["a"]["v"] == {"N": "2"} and sorted(after["a"]["tags"]["SS"]) == ["x", "y"]
