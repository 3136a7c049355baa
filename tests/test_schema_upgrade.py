"""A coordinator starts on the tables the original's bootstrap scripts create.

:func:`provision_like_the_original` builds, on the moto server, what the original's
``bootstrap-localstack.sh`` creates (spec §9, recipe): its tables with their key schemas, the
await table's six ALL-projected GSIs and nothing more (no ``execution-due``,
``execution-dead-letters`` or ``await-interaction-unapplied`` index, no
``tpf_execution_payload`` or ``tpf_execution_item`` table), and the recipe's queues and bucket.
A coordinator then starts on the recipe's own configuration
(:data:`tests.recipe.RECIPE_MINIMUM`, strict startup on) plus the local endpoint overrides.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from demos.restaurant_approval import pipeline as restaurant
from tests.aws import reset_moto
from tests.engine.harness import ORDER, PIPELINE_ID, TENANT, accepted
from tests.ha.cluster import ROOT, child_env, endpoint_overrides, tpf
from tests.recipe import RECIPE_MINIMUM, RECIPE_REST_WORKER, WORKER_SECRET_ENV
from tpf.aws.clients import AwsClients
from tpf.config import load_settings
from tpf.config.settings import Settings
from tpf.coordinator import Coordinator
from tpf.core.errors import ConfigError, TpfError
from tpf.core.records import ExecutionStatus
from tpf.engine.releases import build_release
from tpf.engine.startup_checks import upgrade_dynamo_schema
from tpf.stores.dynamo import missing_resources
from tpf.stores.dynamo.schema_upgrade import apply_upgrade, plan_upgrade, upgrade_schema

TOKENS = {
    "TPF_CONTROL_PLANE_TOKEN": "cp-token",
    "TPF_ADMIN_TOKEN": "admin-token",
    **WORKER_SECRET_ENV,
}
# What this build needs beyond the original's layout, as strict startup names it.
ADDED = [
    "table tpf_execution: index execution-due",
    "table tpf_execution: index execution-dead-letters",
    # The operator's search (issue 12).
    "table tpf_execution: index execution-search",
    "table tpf_execution: index execution-search-by-status",
    "table tpf_execution: index execution-search-by-pipeline",
    "table tpf_execution_payload",
    "table tpf_execution_item",  # stream items (issue 13)
    "table tpf_await_interaction: index await-interaction-unapplied",
    "table tpf_await_interaction: index await-interaction-by-execution",
]
UPGRADE_LOG = [
    "schema upgrade: added index execution-due to table tpf_execution (ACTIVE)",
    "schema upgrade: added index execution-dead-letters to table tpf_execution (ACTIVE)",
    "schema upgrade: added index execution-search to table tpf_execution (ACTIVE)",
    "schema upgrade: added index execution-search-by-status to table tpf_execution (ACTIVE)",
    "schema upgrade: added index execution-search-by-pipeline to table tpf_execution (ACTIVE)",
    "schema upgrade: created table tpf_execution_payload (ACTIVE)",
    "schema upgrade: created table tpf_execution_item (ACTIVE)",
    "schema upgrade: added index await-interaction-unapplied to table tpf_await_interaction "
    "(ACTIVE)",
    "schema upgrade: added index await-interaction-by-execution to table "
    "tpf_await_interaction (ACTIVE)",
]


def _keys(hash_key: str, range_key: tuple[str, str] | None = None) -> dict[str, Any]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    definitions = [{"AttributeName": hash_key, "AttributeType": "S"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        definitions.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    return {"KeySchema": schema, "AttributeDefinitions": definitions}


def _gsi(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


async def provision_like_the_original(aws: AwsClients) -> None:
    """The original's bootstrap: tables, the six await GSIs, the queues and the bucket."""
    dynamo = await aws.client("dynamodb")
    plain = {
        "tpf_execution": _keys("tenant_id", ("execution_id", "S")),
        "tpf_execution_key": _keys("tenant_execution_key"),
        "tpf_await_interaction_key": _keys("lookup_key"),
        "tpf_await_unit": _keys("tenant_id", ("unit_id", "S")),
        "tpf_await_admission": _keys("scope_key", ("slot", "N")),
        "tpf_release_registry": _keys("registry_key", ("registry_sort", "S")),
        "tpf_worker_registry": _keys("registry_key", ("registry_sort", "S")),
    }
    for name, keys in plain.items():
        await dynamo.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **keys)
    pending_sort = "query_pending_deadline_sort"
    indexes = [
        _gsi("await-interaction-by-unit", "query_unit_key", "query_unit_sort"),
        _gsi("await-interaction-pending-by-tenant", "query_pending_tenant_key", pending_sort),
        _gsi("await-interaction-pending-by-assignee", "query_pending_assignee_key", pending_sort),
        _gsi("await-interaction-pending-by-group", "query_pending_group_key", pending_sort),
        _gsi("await-interaction-pending-by-step", "query_pending_step_key", pending_sort),
        _gsi("await-interaction-pending-by-deadline", "query_deadline_key", "query_deadline_sort"),
    ]
    attributes = {a for i in indexes for a in (k["AttributeName"] for k in i["KeySchema"])}
    keys = _keys("tenant_id", ("interaction_id", "S"))
    keys["AttributeDefinitions"] += [
        {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
    ]
    await dynamo.create_table(
        TableName="tpf_await_interaction",
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=indexes,
        **keys,
    )
    sqs = await aws.client("sqs")
    for queue in ("tpf-work", "tpf-execution-dlq"):
        await sqs.create_queue(QueueName=queue)
    s3 = await aws.client("s3")
    await s3.create_bucket(
        Bucket="tpf-release-artifacts",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )


@pytest.fixture
def recipe_file(moto_endpoint: str, tmp_path: Path) -> Path:
    """The recipe's block, verbatim, plus the local endpoint and a state directory."""
    reset_moto(moto_endpoint)
    config = tmp_path / "coordinator.properties"
    config.write_text(
        RECIPE_MINIMUM
        + RECIPE_REST_WORKER
        + endpoint_overrides(moto_endpoint)
        + f"tpf.state-dir={tmp_path}/state\n"
    )
    return config


@pytest.fixture
def recipe(recipe_file: Path) -> Settings:
    return load_settings(TOKENS, config_file=str(recipe_file))


@pytest.fixture
async def aws(recipe: Settings) -> AsyncIterator[AwsClients]:
    """The original's layout provisioned, and clients to look at it."""
    clients = AwsClients(recipe)
    try:
        await provision_like_the_original(clients)
        yield clients
    finally:
        await clients.close()


def upgrade_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tpf.schema"]


async def run_a_restaurant_order(coordinator: Coordinator, tmp_path: Path) -> None:
    worker = coordinator.host(restaurant)
    descriptor = build_release(restaurant, tmp_path / "release")
    release = await coordinator.register_release(TENANT, PIPELINE_ID, str(descriptor))
    await coordinator.activate_release(TENANT, PIPELINE_ID, release.release_version)
    await coordinator.register_local_worker(TENANT, worker, "local-1")
    await coordinator.start()
    submitted = await coordinator.submit(TENANT, PIPELINE_ID, ORDER, idempotency_key="order-1")
    eid = submitted.execution_id
    parked = await coordinator.wait_for(
        TENANT, eid, [ExecutionStatus.WAITING_EXTERNAL], timeout_s=15
    )
    assert parked.status is ExecutionStatus.WAITING_EXTERNAL
    [pending] = [p for p in await coordinator.pending(TENANT) if p.execution_id == eid]
    order_id = pending.request_payload["orderId"]
    await coordinator.complete(
        TENANT, interaction_id=pending.interaction_id, response=accepted(order_id)
    )
    done = await coordinator.wait_for(TENANT, eid, [ExecutionStatus.SUCCEEDED], timeout_s=15)
    assert done.status is ExecutionStatus.SUCCEEDED


async def test_a_strict_coordinator_upgrades_the_originals_tables_and_runs_on_them(
    recipe: Settings, aws: AwsClients, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    assert recipe.startup.strict and recipe.dynamo.schema_upgrade
    dynamo = await aws.client("dynamodb")
    assert await missing_resources(dynamo, recipe) == ADDED  # what strict startup refused

    caplog.set_level(logging.INFO, logger="tpf.schema")
    coordinator = await Coordinator.open(recipe)
    try:
        assert upgrade_lines(caplog) == UPGRADE_LOG  # one line per addition
        assert await missing_resources(dynamo, recipe) == []
        for table, index in (
            ("tpf_execution", "execution-due"),
            ("tpf_execution", "execution-dead-letters"),
            ("tpf_await_interaction", "await-interaction-unapplied"),
        ):
            described = (await dynamo.describe_table(TableName=table))["Table"]
            [status] = [
                i["IndexStatus"]
                for i in described["GlobalSecondaryIndexes"]
                if i["IndexName"] == index
            ]
            assert status == "ACTIVE", (table, index)
        for added in ("tpf_execution_payload", "tpf_execution_item"):
            table = (await dynamo.describe_table(TableName=added))["Table"]
            assert table["TableStatus"] == "ACTIVE", added
            # A table the upgrade creates gets TTL as `tpf bootstrap aws` would give it.
            ttl = (await dynamo.describe_time_to_live(TableName=added))["TimeToLiveDescription"]
            assert ttl["TimeToLiveStatus"] == "ENABLED", added
        await run_a_restaurant_order(coordinator, tmp_path)
    finally:
        await coordinator.close()

    # The original's tables keep their TTL setting (off): the upgrade only adds.
    ttl = await dynamo.describe_time_to_live(TableName="tpf_execution")
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"

    caplog.clear()
    again = await Coordinator.open(recipe)  # a second start: nothing to add
    await again.close()
    assert upgrade_lines(caplog) == []


async def test_with_the_upgrade_off_strict_startup_names_each_missing_piece(
    recipe: Settings, aws: AwsClients, recipe_file: Path, moto_endpoint: str
) -> None:
    off = replace(recipe, dynamo=replace(recipe.dynamo, schema_upgrade=False))
    with pytest.raises(ConfigError) as refused:
        await Coordinator.open(off)
    message = refused.value.message
    assert message.startswith("strict startup: missing AWS resources: " + "; ".join(ADDED))
    assert "`tpf bootstrap aws`" in message
    dynamo = await aws.client("dynamodb")
    assert await missing_resources(dynamo, recipe) == ADDED  # it changed nothing

    # `tpf bootstrap aws` on the original's layout adds the indexes to the existing tables.
    done = await asyncio.to_thread(
        subprocess.run,
        tpf("bootstrap", "aws", "--endpoint-url", moto_endpoint, "--config", str(recipe_file)),
        cwd=ROOT,
        env=child_env(TOKENS),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # ... and creates the worker nonce table (the recipe's workers share it: tpf.stores.nonces).
    created = [*ADDED, "table tpf_worker_nonce"]
    assert sorted(done.stdout.splitlines()) == sorted(f"created {line}" for line in created)
    assert await missing_resources(dynamo, recipe) == []
    coordinator = await Coordinator.open(off)
    await coordinator.close()


async def test_no_table_of_the_originals_layout_is_created_at_startup(
    recipe: Settings, aws: AwsClients, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing one suggests a wrong region, account or name: the upgrade adds nothing there
    (not even the payload table), and strict startup names everything missing."""
    dynamo = await aws.client("dynamodb")
    await dynamo.delete_table(TableName="tpf_worker_registry")
    caplog.set_level(logging.INFO, logger="tpf.schema")
    with pytest.raises(ConfigError) as refused:
        await Coordinator.open(recipe)
    for line in [*ADDED, "table tpf_worker_registry"]:
        assert line in refused.value.message
    assert upgrade_lines(caplog) == []
    tables = (await dynamo.list_tables())["TableNames"]
    assert "tpf_execution_payload" not in tables and "tpf_execution_item" not in tables


async def test_the_admission_table_is_added_when_the_budget_is_on_dynamo(
    recipe: Settings, aws: AwsClients
) -> None:
    """The restaurant's original bootstrap never created it: with the budget moved to DynamoDB
    the upgrade creates it, with native TTL on the slots' expiry, and then nothing more."""
    dynamo = await aws.client("dynamodb")
    await dynamo.delete_table(TableName="tpf_await_admission")
    settings = recipe.replace(await_admission__store="dynamo")
    assert "table tpf_await_admission" in await missing_resources(dynamo, settings)
    assert "created table tpf_await_admission" in await upgrade_schema(dynamo, settings)
    assert await missing_resources(dynamo, settings) == []
    ttl = await dynamo.describe_time_to_live(TableName="tpf_await_admission")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert await upgrade_schema(dynamo, settings) == []


async def test_coordinators_starting_together_add_each_index_once(
    recipe: Settings, aws: AwsClients
) -> None:
    """Two coordinators both find the indexes missing; the one that comes second to each
    (DynamoDB refuses a second ``Create`` of an index; moto answers it with a 500) waits for
    the other's index instead of failing."""
    dynamo = await aws.client("dynamodb")
    # Tries once, as DynamoDB's refusal (a 400) is not retried (moto's 500 would be).
    async with aws.probe_client("dynamodb") as racer:
        late = await plan_upgrade(racer, recipe)
        assert [a.missing for a in late.additions] == ADDED
        assert await upgrade_schema(dynamo, recipe) == [
            line.removeprefix("schema upgrade: ").removesuffix(" (ACTIVE)") for line in UPGRADE_LOG
        ]
        assert await apply_upgrade(racer, recipe, late) == []
    assert await missing_resources(dynamo, recipe) == []
    execution = (await dynamo.describe_table(TableName="tpf_execution"))["Table"]
    assert len(execution["GlobalSecondaryIndexes"]) == 5  # each added once


class StillCreating:
    """The real client, except that the ``building`` indexes read as still ``CREATING``."""

    def __init__(self, client: Any, building: set[str]) -> None:
        self._client = client
        self.building = building

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def describe_table(self, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._client.describe_table(**params)
        for index in result["Table"].get("GlobalSecondaryIndexes", []):
            if index["IndexName"] in self.building:
                index["IndexStatus"] = "CREATING"
        return result


class Clients:
    """Stands in for :class:`AwsClients` with one DynamoDB client."""

    def __init__(self, dynamo: Any) -> None:
        self.dynamo = dynamo

    async def client(self, service: str) -> Any:
        assert service == "dynamodb"
        return self.dynamo


async def test_an_index_not_active_in_time_is_a_clear_refusal(
    recipe: Settings, aws: AwsClients, caplog: pytest.LogCaptureFixture
) -> None:
    """DynamoDB may take long to build an index on a big table: the wait is bounded, and the
    error says what is still building and what to do; the next start waits for it again."""
    dynamo = await aws.client("dynamodb")
    slow = StillCreating(dynamo, {"execution-due"})
    impatient = replace(recipe, dynamo=replace(recipe.dynamo, schema_upgrade_timeout_ms=0))
    with pytest.raises(TpfError) as timed_out:
        await upgrade_schema(slow, impatient)
    assert timed_out.value.code == "DYNAMO_SCHEMA_TIMEOUT"
    assert timed_out.value.message == (
        "DynamoDB table tpf_execution is not ACTIVE after 0 s (index execution-due: CREATING); "
        "DynamoDB keeps building it: start again once "
        "`aws dynamodb describe-table --table-name tpf_execution` shows it ACTIVE"
    )

    # The next start finds the index there but not ACTIVE, and waits for it again.
    with pytest.raises(ConfigError) as refused:
        await upgrade_dynamo_schema(impatient, Clients(slow))  # type: ignore[arg-type]
    assert refused.value.message.startswith(
        "strict startup: DynamoDB schema upgrade failed: DynamoDB table tpf_execution is not "
        "ACTIVE after 0 s (index execution-due: CREATING)"
    )
    lenient = replace(impatient, startup=replace(impatient.startup, strict=False))
    caplog.set_level(logging.INFO, logger="tpf.schema")
    caplog.clear()
    assert await upgrade_dynamo_schema(lenient, Clients(slow)) == []  # type: ignore[arg-type]
    [waiting, warning] = upgrade_lines(caplog)
    assert waiting == "schema upgrade: waiting for table tpf_execution to become ACTIVE"
    assert warning.startswith("schema upgrade failed: DynamoDB table tpf_execution is not ACTIVE")

    # Once it is ACTIVE, a start adds the rest.
    assert await upgrade_schema(dynamo, recipe) == [
        "added index execution-dead-letters to table tpf_execution",
        "added index execution-search to table tpf_execution",
        "added index execution-search-by-status to table tpf_execution",
        "added index execution-search-by-pipeline to table tpf_execution",
        "created table tpf_execution_payload",
        "created table tpf_execution_item",
        "added index await-interaction-unapplied to table tpf_await_interaction",
        "added index await-interaction-by-execution to table tpf_await_interaction",
    ]
