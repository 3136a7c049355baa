"""The DynamoDB tables and indexes the ``dynamo`` providers need, derived from Settings.

:func:`table_specs` is the single description of the layout (spec §9 plus our sharded indexes);
:func:`create_tables` creates whatever of it is missing (``tpf bootstrap aws``, tests) and
:func:`missing_resources` lists it for strict startup. Every table is ``PAY_PER_REQUEST``.

Index projections: the sweeper-facing indexes (due executions, dead letters, overdue and
unapplied interactions) are ``KEYS_ONLY`` and their hits are re-read with one consistent
``BatchGetItem``: supervisors act on what they find, so they should see fresh state, and a key
projection keeps an execution's (possibly large) record out of the index's write cost. The
pending-by-* and by-unit indexes serve operator and API queries that filter in memory, so they
project ``ALL`` and answer in one request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tpf.errors import TpfError, Unavailable
from tpf.settings import Settings
from tpf.stores.dynamo.client import Dynamo

_ACTIVE_POLL_S = 0.5  # how often to look whether a new table or index is ACTIVE
_ACTIVE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class IndexSpec:
    name: str
    hash_key: tuple[str, str]  # (attribute, "S" | "N" | "B")
    range_key: tuple[str, str] | None
    projection: str  # "ALL" | "KEYS_ONLY"

    def definition(self) -> dict[str, Any]:
        schema = [{"AttributeName": self.hash_key[0], "KeyType": "HASH"}]
        if self.range_key is not None:
            schema.append({"AttributeName": self.range_key[0], "KeyType": "RANGE"})
        return {
            "IndexName": self.name,
            "KeySchema": schema,
            "Projection": {"ProjectionType": self.projection},
        }


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None  # native TTL, only where logical expiry already applies
    attributes: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        keys = [self.hash_key, self.range_key]
        for index in self.indexes:
            keys += [index.hash_key, index.range_key]
        object.__setattr__(self, "attributes", {k[0]: k[1] for k in keys if k is not None})

    def attribute_definitions(self, names: set[str] | None = None) -> list[dict[str, str]]:
        return [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in self.attributes.items()
            if names is None or name in names
        ]

    def create_request(self) -> dict[str, Any]:
        schema = [{"AttributeName": self.hash_key[0], "KeyType": "HASH"}]
        if self.range_key is not None:
            schema.append({"AttributeName": self.range_key[0], "KeyType": "RANGE"})
        request: dict[str, Any] = {
            "TableName": self.name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": schema,
            "AttributeDefinitions": self.attribute_definitions(),
        }
        if self.indexes:
            request["GlobalSecondaryIndexes"] = [i.definition() for i in self.indexes]
        return request


def _pending(name: str, hash_attribute: str) -> IndexSpec:
    return IndexSpec(name, (hash_attribute, "S"), ("query_pending_deadline_sort", "S"), "ALL")


def state_tables(s: Settings) -> list[TableSpec]:
    """Executions, execution keys, payload chunks, interactions and interaction keys."""
    return [
        TableSpec(
            s.dynamo_execution_table,
            ("tenant_id", "S"),
            ("execution_id", "S"),
            (
                IndexSpec(
                    s.dynamo_index_execution_due,
                    ("due_shard", "S"),
                    ("next_due_epoch_ms", "N"),
                    "KEYS_ONLY",
                ),
                IndexSpec(
                    s.dynamo_index_execution_dead_letters,
                    ("dead_letter_shard", "S"),
                    ("dead_letter_key", "S"),
                    "KEYS_ONLY",
                ),
            ),
            ttl_attribute="ttl_epoch_s",
        ),
        TableSpec(
            s.dynamo_execution_key_table, ("tenant_execution_key", "S"), ttl_attribute="ttl_epoch_s"
        ),
        TableSpec(
            s.dynamo_execution_payload_table,
            ("payload_id", "S"),
            ("payload_part", "S"),
            ttl_attribute="ttl_epoch_s",
        ),
        TableSpec(
            s.dynamo_await_interaction_table,
            ("tenant_id", "S"),
            ("interaction_id", "S"),
            (
                IndexSpec(
                    s.dynamo_index_by_unit,
                    ("query_unit_key", "S"),
                    ("query_unit_sort", "S"),
                    "ALL",
                ),
                _pending(s.dynamo_index_pending_by_tenant, "query_pending_tenant_key"),
                _pending(s.dynamo_index_pending_by_assignee, "query_pending_assignee_key"),
                _pending(s.dynamo_index_pending_by_group, "query_pending_group_key"),
                _pending(s.dynamo_index_pending_by_step, "query_pending_step_key"),
                IndexSpec(
                    s.dynamo_index_pending_by_deadline,
                    ("query_deadline_key", "S"),
                    ("query_deadline_sort", "S"),
                    "KEYS_ONLY",
                ),
                IndexSpec(
                    s.dynamo_index_unapplied,
                    ("unapplied_shard", "S"),
                    ("interaction_id", "S"),
                    "KEYS_ONLY",
                ),
            ),
        ),
        TableSpec(s.dynamo_await_interaction_key_table, ("lookup_key", "S")),
    ]


def release_table(s: Settings) -> TableSpec:
    return TableSpec(s.dynamo_release_table, ("registry_key", "S"), ("registry_sort", "S"))


def worker_table(s: Settings) -> TableSpec:
    return TableSpec(s.dynamo_worker_table, ("registry_key", "S"), ("registry_sort", "S"))


def table_specs(settings: Settings) -> list[TableSpec]:
    """The tables of every provider ``settings`` sets to ``dynamo`` (none if none does)."""
    specs: list[TableSpec] = []
    if settings.state_provider == "dynamo":
        specs += state_tables(settings)
    if settings.releases_registry_provider == "dynamo":
        specs.append(release_table(settings))
    if settings.worker_lifecycle_provider == "dynamo":
        specs.append(worker_table(settings))
    return specs


async def _describe(db: Dynamo, name: str) -> dict[str, Any] | None:
    try:
        result = await db.call("describe_table", TableName=name)
    except Unavailable:  # ResourceNotFoundException: the table does not exist
        return None
    table: dict[str, Any] = result["Table"]
    return table


def _index_names(table: dict[str, Any]) -> set[str]:
    return {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}


def _missing_in(spec: TableSpec, table: dict[str, Any] | None) -> list[str]:
    if table is None:
        return [f"table {spec.name}"]
    present = _index_names(table)
    return [f"table {spec.name}: index {i.name}" for i in spec.indexes if i.name not in present]


async def missing_resources(client: Any, settings: Settings) -> list[str]:
    """Every table and index the configured ``dynamo`` providers need that does not exist.

    Names them precisely (``table tpf_execution``, ``table tpf_await_interaction: index
    await-interaction-pending-by-group``) so strict startup can say what to create.
    """
    db = Dynamo(client)
    specs = table_specs(settings)
    tables = await asyncio.gather(*(_describe(db, spec.name) for spec in specs))
    return [
        line for spec, table in zip(specs, tables, strict=True) for line in _missing_in(spec, table)
    ]


async def _wait_active(db: Dynamo, name: str) -> None:
    """Until the table and all its indexes are ACTIVE (moto and DynamoDB Local: at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _ACTIVE_TIMEOUT_S
    while True:
        table = await _describe(db, name)
        if table is not None and table.get("TableStatus") == "ACTIVE":
            indexes = table.get("GlobalSecondaryIndexes", [])
            if all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
                return
        if loop.time() > deadline:
            raise TpfError(f"DynamoDB table {name} did not become ACTIVE in time")
        await asyncio.sleep(_ACTIVE_POLL_S)


async def _create_table(db: Dynamo, spec: TableSpec) -> bool:
    """Create ``spec``; ``False`` if someone else created it first."""
    try:
        await db.call("create_table", **spec.create_request())
    except TpfError as exc:
        if exc.code == "DYNAMO_ResourceInUseException":
            return False  # a concurrent bootstrap won the race: fine, it is the same layout
        raise
    await _wait_active(db, spec.name)
    if spec.ttl_attribute is not None:
        # Native TTL only garbage-collects what logical expiry already treats as absent (items
        # without the attribute never expire); the original left expired rows forever.
        await db.call(
            "update_time_to_live",
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
    return True


async def _add_index(db: Dynamo, spec: TableSpec, index: IndexSpec) -> None:
    names = {index.hash_key[0]} | ({index.range_key[0]} if index.range_key else set())
    await db.call(
        "update_table",
        TableName=spec.name,
        AttributeDefinitions=spec.attribute_definitions(names),
        GlobalSecondaryIndexUpdates=[{"Create": index.definition()}],
    )
    # DynamoDB builds one new index per table at a time: wait before adding the next.
    await _wait_active(db, spec.name)


async def create_tables(client: Any, settings: Settings) -> list[str]:
    """Create every missing table and index the configured ``dynamo`` providers need.

    Idempotent. Waits until each is ACTIVE and returns what it created, named as
    :func:`missing_resources` names it.
    """
    db = Dynamo(client)
    created: list[str] = []
    for spec in table_specs(settings):
        table = await _describe(db, spec.name)
        if table is None:
            if await _create_table(db, spec):
                created.append(f"created table {spec.name}")
                continue
            await _wait_active(db, spec.name)
            table = await _describe(db, spec.name)
        present = _index_names(table or {})
        for index in spec.indexes:
            if index.name not in present:
                await _add_index(db, spec, index)
                created.append(f"created table {spec.name}: index {index.name}")
    return created
