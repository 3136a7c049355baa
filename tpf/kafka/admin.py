"""Kafka topics: the strict-startup existence check and ``tpf bootstrap kafka``'s creation.

Both take the topics as ``{config key: topic name}`` so every message names the key an
operator would fix, like the AWS checks (:mod:`tpf.engine.startup_checks`). Existence is read from
cluster metadata for *all* topics: a metadata request naming a topic can make a broker with
``auto.create.topics.enable`` create it, which would hide the very mistake being checked for.

:func:`bootstrap_kafka` is idempotent, like ``tpf bootstrap aws``: it creates only the topics
that are absent and returns one line per topic created (a topic another bootstrap created
meanwhile counts as present).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from tpf.core.errors import ConfigError
from tpf.kafka.connection import KafkaConnection

_TOPIC_ALREADY_EXISTS = 36  # the Kafka protocol's error code


@contextlib.asynccontextmanager
async def _admin(connection: KafkaConnection) -> AsyncIterator[Any]:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(**connection.client_kwargs())
    try:
        await client.start()
    except Exception as exc:
        with contextlib.suppress(Exception):
            await client.close()
        raise ConfigError(
            f"cannot reach Kafka at {connection.bootstrap_servers} "
            f"(kafka.bootstrap-servers): {type(exc).__name__}: {exc}"
        ) from exc
    try:
        yield client
    finally:
        await client.close()


async def topic_partitions(connection: KafkaConnection) -> dict[str, int]:
    """Every topic the cluster has, with its partition count."""
    async with _admin(connection) as client:
        described = await client.describe_topics()  # None: all topics, creates nothing
    return {str(t["topic"]): len(t.get("partitions") or []) for t in described}


async def missing_topics(connection: KafkaConnection, topics: Mapping[str, str]) -> list[str]:
    """The configured topics (``{key: name}``) the cluster lacks, as ``topic NAME (KEY)``."""
    present = await topic_partitions(connection)
    return [f"topic {name} ({key})" for key, name in topics.items() if name not in present]


async def check_kafka_topics(connection: KafkaConnection, topics: Mapping[str, str]) -> None:
    """Raise one :class:`ConfigError` naming every missing topic (strict startup)."""
    missing = await missing_topics(connection, topics)
    if missing:
        raise ConfigError(
            "strict startup: missing Kafka topics: "
            + "; ".join(missing)
            + " (create them, for example with `tpf bootstrap kafka`, "
            "or set pipeline.orchestrator.strict-startup=false)"
        )


async def bootstrap_kafka(
    connection: KafkaConnection,
    topics: Mapping[str, str],
    *,
    partitions: int = 1,
    replication_factor: int = 1,
) -> list[str]:
    """Create each configured topic that does not exist; one line per topic created."""
    if partitions < 1 or replication_factor < 1:
        raise ConfigError("Kafka topics need at least one partition and one replica")
    from aiokafka.admin import NewTopic

    async with _admin(connection) as client:
        present = {str(t["topic"]) for t in await client.describe_topics()}
        wanted = sorted({name for name in topics.values() if name not in present})
        if not wanted:
            return []
        response = await client.create_topics(
            [NewTopic(name, partitions, replication_factor) for name in wanted]
        )
    created: list[str] = []
    failed: list[str] = []
    for name, code, message, *_ in response.topic_errors:
        if code == 0:
            created.append(f"created topic {name} ({partitions} partitions)")
        elif code != _TOPIC_ALREADY_EXISTS:  # a concurrent bootstrap made it: present
            failed.append(f"{name}: error {code} {message or ''}".rstrip())
    if failed:
        raise ConfigError("could not create Kafka topics: " + "; ".join(failed))
    return created
