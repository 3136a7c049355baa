"""DynamoDB tables created once per session on its moto server and emptied before each test.

Creating the stores' tables costs more than most tests they serve (a second or more on a busy
machine); ``dynamo_settings`` gives a test settings pointed at a server holding every store
table and not one item.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws import REGION, CountingMotoServer, reset_moto, settings_for
from tpf.aws.clients import AwsClients
from tpf.config.settings import Settings
from tpf.stores.dynamo import create_tables


class SharedTables:
    """Every table of the DynamoDB stores, created once on a reset server and emptied per test.

    Emptying is a reset exactly when the server has seen nothing but DynamoDB item operations
    since the tables were created (:attr:`CountingMotoServer.changes`): then tables, indexes, TTL
    settings, queues and buckets are as creation left them and only items differ. Anything else
    (another test's reset, a deleted table or index, an SQS call) makes the next test start
    again from a reset server, so no test sees another's state.
    """

    def __init__(self, server: CountingMotoServer) -> None:
        self._server = server
        self._created_at: int | None = None
        self._keys: dict[str, list[str]] = {}  # table -> its key attributes
        self._sync: Any = None  # a plain boto3 client: not bound to any test's event loop

    def prepare(self, settings: Settings) -> None:
        """Leave the server holding every store table and not one item."""
        if self._created_at == self._server.changes:
            self._empty()
            return
        reset_moto(self._server.endpoint)
        # A fixture of an async fixture may run inside the test's running loop, which cannot
        # run another coroutine to completion: the creation gets a loop of its own.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(asyncio.run, self._create(settings)).result()
        client = self._client()
        self._keys = {
            name: [
                key["AttributeName"]
                for key in client.describe_table(TableName=name)["Table"]["KeySchema"]
            ]
            for name in client.list_tables()["TableNames"]
        }
        self._created_at = self._server.changes

    @staticmethod
    async def _create(settings: Settings) -> None:
        # The admission budget's table too: it is only in the layout with the budget on
        # DynamoDB, which the recipe's settings leave off (memory is the default).
        settings = settings.replace(await_admission__store="dynamo", await_admission__enabled=True)
        clients = AwsClients(settings)
        try:
            await create_tables(await clients.client("dynamodb"), settings)
        finally:
            await clients.close()

    def _client(self) -> Any:
        if self._sync is None:
            self._sync = boto3.client(
                "dynamodb", region_name=REGION, endpoint_url=self._server.endpoint
            )
        return self._sync

    def _empty(self) -> None:
        client = self._client()
        for table, keys in self._keys.items():
            names = {f"#k{i}": key for i, key in enumerate(keys)}
            scan: dict[str, Any] = {
                "TableName": table,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
            while True:
                page = client.scan(**scan)
                items = page["Items"]
                for start in range(0, len(items), 25):  # BatchWriteItem's limit
                    pending = {
                        table: [
                            {"DeleteRequest": {"Key": key}} for key in items[start : start + 25]
                        ]
                    }
                    while pending:
                        pending = client.batch_write_item(RequestItems=pending)["UnprocessedItems"]
                if "LastEvaluatedKey" not in page:
                    break
                scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture(scope="session")
def shared_tables(moto_server: CountingMotoServer) -> SharedTables:
    return SharedTables(moto_server)


@pytest.fixture
def dynamo_settings(shared_tables: SharedTables, moto_endpoint: str, tmp_path: Path) -> Settings:
    """Like ``aws_settings``, on a server holding every store table and not one item."""
    settings = settings_for(moto_endpoint, tmp_path)
    shared_tables.prepare(settings)
    return settings
