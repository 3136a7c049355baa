"""The DynamoDB tables and indexes the ``dynamo`` providers need, derived from Settings.

:func:`table_specs` is the single description of the layout (spec §9 plus our sharded indexes);
:func:`create_tables` creates whatever of it is missing (``tpf bootstrap aws``, tests), adding
missing indexes to tables that exist, and :func:`missing_resources` lists it for strict startup;
:mod:`.schema_upgrade` adds, at startup, what this build needs beyond the original's layout.
Every table is ``PAY_PER_REQUEST``.

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

from tpf.config.nonces import nonce_store
from tpf.config.settings import Settings
from tpf.core.errors import TpfError, Unavailable
from tpf.stores.dynamo.client import Dynamo

_ACTIVE_POLL_S = 0.5  # how often to look whether a new table or index is ACTIVE
_ACTIVE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class IndexSpec:
    name: str
    hash_key: tuple[str, str]  # (attribute, "S" | "N" | "B")
    range_key: tuple[str, str] | None
    projection: str  # "ALL" | "KEYS_ONLY" | "INCLUDE" (of ``include``)
    include: tuple[str, ...] = ()

    def definition(self) -> dict[str, Any]:
        schema = [{"AttributeName": self.hash_key[0], "KeyType": "HASH"}]
        if self.range_key is not None:
            schema.append({"AttributeName": self.range_key[0], "KeyType": "RANGE"})
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.include:
            projection["NonKeyAttributes"] = list(self.include)
        return {"IndexName": self.name, "KeySchema": schema, "Projection": projection}


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


# What the search indexes project besides the keys: the attributes a search filters on, so a
# Query's FilterExpression applies them in the index, and only a page's hits are read back
# (one BatchGetItem) rather than every record the walk passes (dynamo/search.py).
SEARCH_PROJECTION = (
    "status",
    "pipeline_id",
    "release_version",
    "current_step_id",
    "error_code",
    "ttl_epoch_s",
)


def _search(name: str, hash_attribute: str) -> IndexSpec:
    return IndexSpec(
        name, (hash_attribute, "S"), ("search_sort", "S"), "INCLUDE", SEARCH_PROJECTION
    )


def state_tables(s: Settings) -> list[TableSpec]:
    """Executions, execution keys, payload chunks, stream items, interactions and interaction
    keys."""
    return [
        TableSpec(
            s.dynamo.execution_table,
            ("tenant_id", "S"),
            ("execution_id", "S"),
            (
                IndexSpec(
                    s.dynamo.index_execution_due,
                    ("due_shard", "S"),
                    ("next_due_epoch_ms", "N"),
                    "KEYS_ONLY",
                ),
                IndexSpec(
                    s.dynamo.index_execution_dead_letters,
                    ("dead_letter_shard", "S"),
                    ("dead_letter_key", "S"),
                    "KEYS_ONLY",
                ),
                _search(s.dynamo.index_execution_search, "search_key"),
                _search(s.dynamo.index_execution_search_status, "search_status_key"),
                _search(s.dynamo.index_execution_search_pipeline, "search_pipeline_key"),
            ),
            ttl_attribute="ttl_epoch_s",
        ),
        TableSpec(
            s.dynamo.execution_key_table, ("tenant_execution_key", "S"), ttl_attribute="ttl_epoch_s"
        ),
        TableSpec(
            s.dynamo.execution_payload_table,
            ("payload_id", "S"),
            ("payload_part", "S"),
            ttl_attribute="ttl_epoch_s",
        ),
        # Stream items (issue 13): one partition per execution, items in index order. Native
        # TTL: an item carries ``ttl_epoch_s`` only once its execution's retention is set.
        TableSpec(
            s.dynamo.execution_item_table,
            ("execution_key", "S"),
            ("item_index", "N"),
            ttl_attribute="ttl_epoch_s",
        ),
        TableSpec(
            s.dynamo.await_interaction_table,
            ("tenant_id", "S"),
            ("interaction_id", "S"),
            (
                IndexSpec(
                    s.dynamo.index_by_unit,
                    ("query_unit_key", "S"),
                    ("query_unit_sort", "S"),
                    "ALL",
                ),
                _pending(s.dynamo.index_pending_by_tenant, "query_pending_tenant_key"),
                _pending(s.dynamo.index_pending_by_assignee, "query_pending_assignee_key"),
                _pending(s.dynamo.index_pending_by_group, "query_pending_group_key"),
                _pending(s.dynamo.index_pending_by_step, "query_pending_step_key"),
                IndexSpec(
                    s.dynamo.index_pending_by_deadline,
                    ("query_deadline_key", "S"),
                    ("query_deadline_sort", "S"),
                    "KEYS_ONLY",
                ),
                IndexSpec(
                    s.dynamo.index_unapplied,
                    ("unapplied_shard", "S"),
                    ("interaction_id", "S"),
                    "KEYS_ONLY",
                ),
                # An execution's interactions by creation (any status): the status route's
                # open interactions, the history view, page_pending with an execution filter.
                IndexSpec(
                    s.dynamo.index_interaction_by_execution,
                    ("query_execution_key", "S"),
                    ("query_execution_sort", "S"),
                    "ALL",
                ),
            ),
        ),
        TableSpec(s.dynamo.await_interaction_key_table, ("lookup_key", "S")),
    ]


def release_table(s: Settings) -> TableSpec:
    return TableSpec(s.dynamo.release_table, ("registry_key", "S"), ("registry_sort", "S"))


def worker_table(s: Settings) -> TableSpec:
    return TableSpec(s.dynamo.worker_table, ("registry_key", "S"), ("registry_sort", "S"))


def nonce_table(s: Settings) -> TableSpec:
    """Worker request nonces (:mod:`tpf.stores.nonces.dynamo`); native TTL deletes the old."""
    return TableSpec(s.workers.nonce_table, ("nonce", "S"), ttl_attribute="ttl_epoch_s")


def admission_table(s: Settings) -> TableSpec:
    """Await admission slots (:mod:`tpf.stores.budget.dynamo`); native TTL on ``expires_at``
    deletes slots nobody released (an expired slot is free anyway)."""
    return TableSpec(
        s.dynamo.await_admission_table,
        ("scope_key", "S"),
        ("slot", "N"),
        ttl_attribute="expires_at",
    )


def bootstrap_specs(settings: Settings) -> list[TableSpec]:
    """What ``tpf bootstrap aws`` creates: the stores' tables and, with the ``dynamo`` nonce
    store, the worker nonce table (a worker checks that one itself when it opens its guard, so
    a coordinator's startup checks and schema upgrade leave it out)."""
    extra = [nonce_table(settings)] if nonce_store(settings) == "dynamo" else []
    return table_specs(settings) + extra


def table_specs(settings: Settings) -> list[TableSpec]:
    """The tables of every provider ``settings`` sets to ``dynamo`` (none if none does)."""
    specs: list[TableSpec] = []
    if settings.state.provider == "dynamo":
        specs += state_tables(settings)
    if settings.releases.registry_provider == "dynamo":
        specs.append(release_table(settings))
    if settings.workers.lifecycle_provider == "dynamo":
        specs.append(worker_table(settings))
    if settings.await_admission.on_dynamo:
        specs.append(admission_table(settings))
    return specs


async def describe(db: Dynamo, name: str) -> dict[str, Any] | None:
    """``DescribeTable``'s ``Table``, or ``None`` if the table does not exist."""
    try:
        result = await db.call("describe_table", TableName=name)
    except Unavailable:  # ResourceNotFoundException: the table does not exist
        return None
    table: dict[str, Any] = result["Table"]
    return table


def index_names(table: dict[str, Any]) -> set[str]:
    return {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}


def _missing_in(spec: TableSpec, table: dict[str, Any] | None) -> list[str]:
    if table is None:
        return [f"table {spec.name}"]
    present = index_names(table)
    return [f"table {spec.name}: index {i.name}" for i in spec.indexes if i.name not in present]


async def missing_resources(client: Any, settings: Settings) -> list[str]:
    """Every table and index the configured ``dynamo`` providers need that does not exist.

    Names them precisely (``table tpf_execution``, ``table tpf_await_interaction: index
    await-interaction-pending-by-group``) so strict startup can say what to create.
    """
    db = Dynamo(client)
    specs = table_specs(settings)
    tables = await asyncio.gather(*(describe(db, spec.name) for spec in specs))
    return [
        line for spec, table in zip(specs, tables, strict=True) for line in _missing_in(spec, table)
    ]


def not_active(table: dict[str, Any] | None) -> list[str]:
    """What of a described table is not ``ACTIVE`` yet (``table X: CREATING``, ``index Y:
    CREATING``); empty once it and every index are."""
    if table is None:
        return ["table: absent"]
    pending = []
    if table.get("TableStatus") != "ACTIVE":
        pending.append(f"table: {table.get('TableStatus')}")
    for index in table.get("GlobalSecondaryIndexes", []):
        status = index.get("IndexStatus", "ACTIVE")
        if status != "ACTIVE":
            pending.append(f"index {index['IndexName']}: {status}")
    return pending


async def wait_active(db: Dynamo, name: str, timeout_s: float = _ACTIVE_TIMEOUT_S) -> None:
    """Until the table and all its indexes are ACTIVE (moto and DynamoDB Local: at once).

    Raises :class:`TpfError` naming what is still not ACTIVE after ``timeout_s``: DynamoDB
    goes on building it, so starting again later finds it (and waits for it) again.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        pending = not_active(await describe(db, name))
        if not pending:
            return
        if loop.time() >= deadline:
            raise TpfError(
                f"DynamoDB table {name} is not ACTIVE after {timeout_s:g} s ("
                + ", ".join(pending)
                + "); DynamoDB keeps building it: start again once "
                f"`aws dynamodb describe-table --table-name {name}` shows it ACTIVE",
                code="DYNAMO_SCHEMA_TIMEOUT",
            )
        await asyncio.sleep(_ACTIVE_POLL_S)


async def create_table(db: Dynamo, spec: TableSpec, timeout_s: float = _ACTIVE_TIMEOUT_S) -> bool:
    """Create ``spec`` and wait until it is ACTIVE; ``False`` if someone else created it first."""
    try:
        await db.call("create_table", **spec.create_request())
    except TpfError as exc:
        if exc.code == "DYNAMO_ResourceInUseException":
            # A concurrent bootstrap won the race: fine, it is the same layout.
            await wait_active(db, spec.name, timeout_s)
            return False
        raise
    await wait_active(db, spec.name, timeout_s)
    if spec.ttl_attribute is not None:
        # Native TTL only garbage-collects what logical expiry already treats as absent (items
        # without the attribute never expire); the original left expired rows forever.
        await db.call(
            "update_time_to_live",
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
    return True


async def add_index(
    db: Dynamo, spec: TableSpec, index: IndexSpec, timeout_s: float = _ACTIVE_TIMEOUT_S
) -> bool:
    """Add ``index`` to the existing table and wait until it is ACTIVE; ``False`` if another
    process (a coordinator starting beside this one) added it first."""
    # DynamoDB builds one new index per UpdateTable call and table at a time: callers add them
    # one by one, each waited for. The call must define the index's key attributes; the table's
    # own definitions go along (moto replaces the table's list with the call's).
    names = {index.hash_key[0]} | ({index.range_key[0]} if index.range_key else set())
    table = await describe(db, spec.name) or {}
    definitions = {d["AttributeName"]: d for d in table.get("AttributeDefinitions", [])}
    definitions.update({d["AttributeName"]: d for d in spec.attribute_definitions(names)})
    try:
        await db.call(
            "update_table",
            TableName=spec.name,
            AttributeDefinitions=list(definitions.values()),
            GlobalSecondaryIndexUpdates=[{"Create": index.definition()}],
        )
    except TpfError:
        # Lost the race (the index exists now, or the table is busy adding it): wait for it.
        if index.name not in index_names(await describe(db, spec.name) or {}):
            raise
        await wait_active(db, spec.name, timeout_s)
        return False
    await wait_active(db, spec.name, timeout_s)
    return True


async def create_tables(client: Any, settings: Settings) -> list[str]:
    """Create every missing table and index the configured ``dynamo`` providers (and the
    ``dynamo`` nonce store) need.

    Idempotent; adds missing indexes to tables that exist (the original's layout, say), one at a
    time. Waits until each is ACTIVE and returns what it created, named as
    :func:`missing_resources` names it.
    """
    db = Dynamo(client)
    created: list[str] = []
    for spec in bootstrap_specs(settings):
        table = await describe(db, spec.name)
        if table is None:
            if await create_table(db, spec):
                created.append(f"created table {spec.name}")
                continue
            table = await describe(db, spec.name)
        present = index_names(table or {})
        for index in spec.indexes:
            if index.name not in present and await add_index(db, spec, index):
                created.append(f"created table {spec.name}: index {index.name}")
    return created
