"""Schema upgrade on launch: add what this build needs beyond the original's DynamoDB layout.

Tables provisioned with the original's bootstrap scripts hold its layout: ``tpf_execution`` with
no index, ``tpf_await_interaction`` with its six await GSIs, and the key, release and worker
tables. They lack what this build adds: the sharded ``execution-due`` and
``execution-dead-letters`` indexes, the operator's ``execution-search`` (``-by-status``,
``-by-pipeline``) and ``await-interaction-by-execution`` indexes,
``await-interaction-unapplied``, and the ``tpf_execution_payload`` and ``tpf_execution_item``
(stream items, issue 13) tables those scripts never created (nor, except the CSV demo's, the
``tpf_await_admission`` table the ``dynamo`` admission budget needs). (An execution item written
before the search indexes existed carries none of their keys: it enters them, and the status
counts, on its next write.) With
``tpf.dynamo.schema-upgrade=true`` (the default) a starting coordinator adds them itself, the
way DBOS migrates its system database on launch: one ``UpdateTable`` (a GSI ``Create``) per
missing index, since DynamoDB builds one new index per call, and one ``CreateTable`` per missing
added table, in order, each waited for until ``ACTIVE`` (at most
``tpf.dynamo.schema-upgrade-timeout`` each) and logged as one line. It is idempotent: a second
start finds nothing to add, and a coordinator starting beside one that is adding an index waits
for that index instead of adding it twice. An index that exists but is still being built (a
previous start timed out waiting) is waited for too, since DynamoDB refuses queries on it.

It never creates another table of the original's layout: a missing one usually means a wrong
region, account or table name, and creating it there would start an empty store beside the
real one. Then it adds nothing, and strict startup names everything missing (``tpf bootstrap
aws`` creates it). Nor does it turn on native TTL on a table that exists (it may hold items
whose ``ttl_epoch_s`` an older writer set on live executions); the payload and item tables
it creates get TTL as ``tpf bootstrap aws`` would give them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from tpf.config.settings import Settings
from tpf.stores.dynamo.client import Dynamo
from tpf.stores.dynamo.schema import (
    IndexSpec,
    TableSpec,
    add_index,
    create_table,
    describe,
    index_names,
    not_active,
    table_specs,
    wait_active,
)

LOG = logging.getLogger("tpf.schema")


@dataclass(frozen=True)
class Addition:
    """One index to add to an existing table, or (``index`` is ``None``) a table to create."""

    table: TableSpec
    index: IndexSpec | None = None

    @property
    def missing(self) -> str:
        """Named as :func:`~tpf.stores.dynamo.schema.missing_resources` names it."""
        if self.index is None:
            return f"table {self.table.name}"
        return f"table {self.table.name}: index {self.index.name}"

    @property
    def done(self) -> str:
        if self.index is None:
            return f"created table {self.table.name}"
        return f"added index {self.index.name} to table {self.table.name}"


def added_tables(settings: Settings) -> frozenset[str]:
    """The tables this build adds to the original's layout (created at startup if absent)."""
    added: set[str] = set()
    if settings.state.provider == "dynamo":
        added.add(settings.dynamo.execution_payload_table)
        added.add(settings.dynamo.execution_item_table)
    if settings.await_admission.on_dynamo:
        # The original's layout has it, but only its CSV demo's bootstrap created it (the
        # restaurant's never did), and the budget was opt-in there and unsupported here until
        # now: its absence says "not provisioned yet", not "wrong region or account". It is
        # still created only when every table of the original's layout is there.
        added.add(settings.dynamo.await_admission_table)
    return frozenset(added)


@dataclass(frozen=True)
class Plan:
    additions: list[Addition]
    building: list[str]  # tables that exist with an index (or themselves) not ACTIVE yet


async def plan_upgrade(client: Any, settings: Settings) -> Plan:
    """What the upgrade would add; nothing if a table of the original's layout is missing."""
    db = Dynamo(client)
    specs = table_specs(settings)
    tables = await asyncio.gather(*(describe(db, spec.name) for spec in specs))
    added = added_tables(settings)
    found = list(zip(specs, tables, strict=True))
    if any(table is None and spec.name not in added for spec, table in found):
        return Plan([], [])
    additions: list[Addition] = []
    building: list[str] = []
    for spec, table in found:
        if table is None:
            additions.append(Addition(spec))
            continue
        present = index_names(table)
        additions += [Addition(spec, i) for i in spec.indexes if i.name not in present]
        if not_active(table):
            building.append(spec.name)
    return Plan(additions, building)


async def upgrade_schema(client: Any, settings: Settings) -> list[str]:
    """Add every missing index and added table (see the module docstring); one line, also
    logged, per addition this process made. Raises if one is not ACTIVE in time."""
    return await apply_upgrade(client, settings, await plan_upgrade(client, settings))


async def apply_upgrade(client: Any, settings: Settings, plan: Plan) -> list[str]:
    """Carry out ``plan``; an addition someone else made meanwhile is waited for, not made."""
    db = Dynamo(client)
    timeout_s = settings.dynamo.schema_upgrade_timeout_ms / 1000
    for name in plan.building:
        LOG.info("schema upgrade: waiting for table %s to become ACTIVE", name)
        await wait_active(db, name, timeout_s)
    done: list[str] = []
    for addition in plan.additions:
        if addition.index is None:
            made = await create_table(db, addition.table, timeout_s)
        else:
            made = await add_index(db, addition.table, addition.index, timeout_s)
        if made:
            LOG.info("schema upgrade: %s (ACTIVE)", addition.done)
            done.append(addition.done)
    return done
