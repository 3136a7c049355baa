"""``tpf bootstrap kafka``: create the Kafka topics a configuration uses (development, tests).

``tpf bootstrap kafka [--config FILE] [--bootstrap-servers HOST:PORT] [--partitions N]
[--replication-factor N] [--topic NAME ...]`` creates, idempotently, every topic the chosen
providers use (the work topic of ``dispatcher-provider=kafka``, the DLQ topic of
``dlq-provider=kafka``, the await topics of ``tpf.await-transport=kafka``) plus any ``--topic``
(topics await steps pin in code), and prints what it created. Partitions and replicas default
to ``tpf.kafka.partitions`` / ``tpf.kafka.replication-factor``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import Any

from tpf.config import load_settings
from tpf.config.providers import kafka_topics
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError


async def _bootstrap(settings: Settings, topics: dict[str, str]) -> list[str]:
    from tpf.kafka.admin import bootstrap_kafka  # loads aiokafka: on demand
    from tpf.kafka.settings import kafka_connection

    return await bootstrap_kafka(
        kafka_connection(settings),
        topics,
        partitions=settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
    )


def _command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(config_file=args.config)
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("bootstrap_servers", args.bootstrap_servers),
                ("partitions", args.partitions),
                ("replication_factor", args.replication_factor),
            )
            if value is not None
        }
        settings = dataclasses.replace(
            settings, kafka=dataclasses.replace(settings.kafka, **changes)
        )
        topics = kafka_topics(settings)
        topics.update({f"--topic {name}": name for name in args.topic})
        if not topics:
            print("the configuration names no Kafka topic: nothing to create")
            return 0
        created = asyncio.run(_bootstrap(settings, topics))
    except ConfigError as exc:
        print(f"invalid configuration: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"bootstrap failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for line in created or ["nothing to create"]:
        print(line)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register_bootstrap(bootstrap_commands: Any) -> None:
    """``tpf bootstrap kafka``, under the ``tpf bootstrap`` parser of :mod:`tpf.cli.aws`."""
    kafka = bootstrap_commands.add_parser(
        "kafka", help="create the Kafka topics the configuration uses (idempotent)"
    )
    kafka.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    kafka.add_argument("--bootstrap-servers", help="overrides kafka.bootstrap-servers")
    kafka.add_argument("--partitions", type=_positive, help="overrides tpf.kafka.partitions")
    kafka.add_argument(
        "--replication-factor", type=_positive, help="overrides tpf.kafka.replication-factor"
    )
    kafka.add_argument(
        "--topic", action="append", default=[], help="also create this topic (repeatable)"
    )
    kafka.set_defaults(handler=_command)
