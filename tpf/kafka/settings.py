"""A :class:`~tpf.kafka.connection.KafkaConnection` from the configured ``kafka`` section, and
the Kafka topics a configuration uses (for strict startup and ``tpf bootstrap kafka``).

The SASL password may be an ``env:NAME`` reference; it is resolved here, when a connection is
built, by the configuration's one secret resolver.
"""

from __future__ import annotations

from collections.abc import Mapping

from tpf.config.loader import resolve_secret
from tpf.config.settings import Settings
from tpf.kafka.connection import KafkaConnection


def kafka_connection(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> KafkaConnection:
    """The connection ``settings`` describe; :class:`ConfigError` naming the key otherwise."""
    section = settings.kafka
    password = section.sasl_password
    if password:
        password = resolve_secret(password, environ)
    return KafkaConnection(
        bootstrap_servers=section.bootstrap_servers or "",
        client_id=section.client_id,
        security_protocol=section.security_protocol,
        sasl_mechanism=section.sasl_mechanism,
        sasl_username=section.sasl_username,
        sasl_password=password,
        ssl_ca_file=section.ssl_ca_file,
    )
