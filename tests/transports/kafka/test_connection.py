"""KafkaConnection: the aiokafka keyword arguments for each security protocol, and the
configuration mistakes it refuses, each naming the key to fix. Pure: no broker."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tpf.core.errors import ConfigError
from tpf.kafka.connection import KafkaConnection


def write_ca(path: Path, common_name: str = "tpf-test-ca") -> Path:
    """A self-signed CA certificate in PEM, made here (nothing downloaded or shipped)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_plaintext_passes_servers_and_client_id_only() -> None:
    connection = KafkaConnection(bootstrap_servers=" k1:9092, k2:9092 ,", client_id="coord-a")
    assert connection.client_kwargs() == {
        "bootstrap_servers": ["k1:9092", "k2:9092"],
        "client_id": "coord-a",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_plaintext_passes_the_resolved_credentials() -> None:
    connection = KafkaConnection(
        bootstrap_servers="k1:9092",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="tpf",
        sasl_password="s3cret",
    )
    kwargs = connection.client_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "tpf"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert "ssl_context" not in kwargs
    assert "s3cret" not in repr(connection)  # never in a log line


def test_sasl_ssl_with_a_ca_file_trusts_that_ca(tmp_path: Path) -> None:
    ca = write_ca(tmp_path / "ca.pem")
    connection = KafkaConnection(
        bootstrap_servers="k1:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="tpf",
        sasl_password="s3cret",
        ssl_ca_file=str(ca),
    )
    context = connection.client_kwargs()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    subjects = [dict(pair[0] for pair in c["subject"]) for c in context.get_ca_certs()]
    assert {"commonName": "tpf-test-ca"} in subjects


def test_ssl_without_a_ca_file_still_verifies() -> None:
    context = KafkaConnection(bootstrap_servers="k1:9093", security_protocol="SSL").client_kwargs()[
        "ssl_context"
    ]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"bootstrap_servers": " , "}, "kafka.bootstrap-servers is required"),
        ({"security_protocol": "TLS"}, "kafka.security.protocol=TLS is not one of"),
        ({"security_protocol": "SASL_SSL"}, "kafka.sasl.mechanism=(unset) is not one of"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"},
            "kafka.sasl.mechanism=GSSAPI",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
            "kafka.sasl.username and kafka.sasl.password required",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "u",
            },
            "kafka.sasl.password required",
        ),
        ({"sasl_username": "u"}, "kafka.sasl.* is set but kafka.security.protocol=PLAINTEXT"),
        ({"ssl_ca_file": "/ca.pem"}, "kafka.ssl.ca-file is set but"),
    ],
)
def test_mistakes_are_refused_naming_the_key(fields: dict[str, str], message: str) -> None:
    values = {"bootstrap_servers": "k1:9092"} | fields
    with pytest.raises(ConfigError) as raised:
        KafkaConnection(**values)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_an_unreadable_ca_file_is_named(tmp_path: Path) -> None:
    connection = KafkaConnection(
        bootstrap_servers="k1:9093", security_protocol="SSL", ssl_ca_file=str(tmp_path / "no.pem")
    )
    with pytest.raises(ConfigError, match=r"kafka.ssl.ca-file=.*no.pem could not be loaded"):
        connection.client_kwargs()
