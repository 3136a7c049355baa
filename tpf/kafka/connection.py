"""How to reach a Kafka cluster: one frozen value shared by every Kafka client we open.

The configuration module resolves the operator's keys (``kafka.bootstrap-servers``, client id,
``security.protocol``, the SASL mechanism/user/password, the latter two by ``env:`` reference,
and a TLS CA file) into a :class:`KafkaConnection`; the producers, consumers and admin clients
of :mod:`tpf.transports.kafka` all take their connection keyword arguments from
:meth:`KafkaConnection.client_kwargs`, so the rules live in one place and are checked once, at
startup, with the key named in the error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpf.config.broker_settings import KAFKA_SASL_MECHANISMS, KAFKA_SECURITY_PROTOCOLS
from tpf.core.errors import ConfigError

SECURITY_PROTOCOLS = KAFKA_SECURITY_PROTOCOLS
# The mechanisms that need nothing beyond a user and a password (GSSAPI and OAUTHBEARER need a
# Kerberos setup or a token provider, which no configuration key describes yet).
SASL_MECHANISMS = KAFKA_SASL_MECHANISMS


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaConnection:
    """Connection settings, validated on construction.

    ``sasl_password`` is already resolved (the ``env:`` reference is the config module's job)
    and kept out of ``repr`` so it never reaches a log line.
    """

    bootstrap_servers: str
    client_id: str = "tpf-coordinator"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.servers():
            raise ConfigError("kafka.bootstrap-servers is required (host:port[,host:port...])")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"kafka.security.protocol={self.security_protocol} is not one of "
                f"{', '.join(SECURITY_PROTOCOLS)}"
            )
        if self.uses_sasl:
            self._check_sasl()
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            # Credentials that would silently go unused usually mean a mistyped protocol.
            raise ConfigError(
                f"kafka.sasl.* is set but kafka.security.protocol={self.security_protocol} "
                "does not use SASL (SASL_PLAINTEXT or SASL_SSL)"
            )
        if self.ssl_ca_file and not self.uses_tls:
            raise ConfigError(
                f"kafka.ssl.ca-file is set but kafka.security.protocol={self.security_protocol} "
                "does not use TLS (SSL or SASL_SSL)"
            )

    def _check_sasl(self) -> None:
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"kafka.sasl.mechanism={self.sasl_mechanism or '(unset)'} is not one of "
                f"{', '.join(SASL_MECHANISMS)} (required with {self.security_protocol})"
            )
        missing = [
            key
            for key, value in (
                ("kafka.sasl.username", self.sasl_username),
                ("kafka.sasl.password", self.sasl_password),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"{' and '.join(missing)} required with {self.security_protocol}")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def servers(self) -> list[str]:
        """``bootstrap_servers`` split on commas, blanks dropped."""
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and
        ``AIOKafkaAdminClient``: the same for all three."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.servers(),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        if self.uses_tls:
            # aiokafka needs a context for TLS; without a CA file it verifies against the
            # system's trust store, as the Java client does by default.
            kwargs["ssl_context"] = self._ssl_context()
        return kwargs

    def _ssl_context(self) -> Any:
        from aiokafka.helpers import create_ssl_context

        try:
            return create_ssl_context(cafile=self.ssl_ca_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"kafka.ssl.ca-file={self.ssl_ca_file} could not be loaded: {exc}"
            ) from exc
