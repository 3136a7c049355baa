"""Which remote worker a coordinator targets, and the checks across the worker protocol keys.

A coordinator's *target* is the one remote worker it is configured to call (spec §6.4):
``worker.rest.base-url``, ``worker.grpc.endpoint`` or ``worker.sqs.request-queue-url``. None:
the local in-process worker. More than one is refused ("Ambiguous transition worker target"),
and so is ``control-plane.require-remote-worker=true`` with none, when the control plane is
enabled; :func:`worker_target` still reads them in the original's order (rest > grpc > sqs).

:func:`target_errors` is what ``Coordinator.open`` refuses (through
:func:`tpf.config.providers.check_chosen`) and ``tpf config check`` reports: besides the two
guards, the REST paths must be the defaults (the original's worker serves no others), the REST
base URL absolute, the gRPC endpoint ``host:port``; a gRPC server with TLS needs its certificate
and key; SQS needs both queues, standard ones, with a visibility timeout no shorter than the
request timeout. The secrets are checked by :mod:`tpf.config.worker_secrets`, which reads the
environment.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tpf.config.settings import Settings
from tpf.config.worker_settings import (
    DEFAULT_REST_CAPABILITIES_PATH,
    DEFAULT_REST_PATH,
    GrpcWorkerSettings,
    RestWorkerSettings,
    SqsWorkerSettings,
)

__all__ = [
    "PROTOCOLS",
    "TARGET_KEYS",
    "configured_targets",
    "in_use",
    "protocol_section",
    "target_errors",
    "worker_target",
]

_P = "pipeline.orchestrator."
_W = _P + "worker."
PROTOCOLS = ("rest", "grpc", "sqs")  # the original's selection order
# The key whose value makes a protocol the coordinator's target.
TARGET_KEYS = {
    "rest": _W + "rest.base-url",
    "grpc": _W + "grpc.endpoint",
    "sqs": _W + "sqs.request-queue-url",
}
Section = RestWorkerSettings | GrpcWorkerSettings | SqsWorkerSettings


def protocol_section(settings: Settings, protocol: str) -> Section:
    """The settings section of ``protocol`` (``rest``, ``grpc`` or ``sqs``)."""
    sections: dict[str, Section] = {
        "rest": settings.worker_rest,
        "grpc": settings.worker_grpc,
        "sqs": settings.worker_sqs,
    }
    return sections[protocol]


def _target_value(settings: Settings, protocol: str) -> str | None:
    values = {
        "rest": settings.worker_rest.base_url,
        "grpc": settings.worker_grpc.endpoint,
        "sqs": settings.worker_sqs.request_queue_url,
    }
    return values[protocol] or None


def configured_targets(settings: Settings) -> list[str]:
    """Every protocol with a target configured, in the original's order."""
    return [p for p in PROTOCOLS if _target_value(settings, p)]


def worker_target(settings: Settings) -> str | None:
    """The protocol of the coordinator's remote worker target, ``None`` for the local worker."""
    targets = configured_targets(settings)
    return targets[0] if targets else None


def in_use(settings: Settings, protocol: str) -> str | None:
    """Why ``protocol`` needs its secret (the key that enables it), or ``None``."""
    if _target_value(settings, protocol):
        return f"{TARGET_KEYS[protocol]} is configured"
    if protocol_section(settings, protocol).server_enabled:
        return f"{_W}{protocol}.server-enabled=true"
    return None


def target_errors(settings: Settings) -> list[str]:
    """The problems that do not depend on the environment: the two guards of spec §6.4 and
    each protocol's shape."""
    errors: list[str] = []
    targets = configured_targets(settings)
    if len(targets) > 1:
        keys = ", ".join(TARGET_KEYS[p] for p in targets)
        errors.append(
            f"Ambiguous transition worker target: {keys} are all set; configure exactly one "
            "remote worker target"
        )
    cp = settings.control_plane
    if cp.enabled and cp.require_remote_worker and not targets:
        errors.append(
            f"{_P}control-plane.require-remote-worker=true needs a remote transition worker "
            f"target: set one of {', '.join(TARGET_KEYS.values())}"
        )
    errors += _rest_errors(settings.worker_rest)
    errors += _grpc_errors(settings.worker_grpc)
    errors += _sqs_errors(settings.worker_sqs)
    return errors


def _rest_errors(rest: RestWorkerSettings) -> list[str]:
    errors: list[str] = []
    if rest.base_url:
        parts = urlsplit(rest.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.append(f"Invalid {_W}rest.base-url: {rest.base_url} (expected http(s)://host)")
    if rest.base_url or rest.server_enabled:
        # The original's worker serves only the default paths; a client signing another path
        # would be refused by every worker.
        for name, value, default in (
            ("path", rest.path, DEFAULT_REST_PATH),
            ("capabilities-path", rest.capabilities_path, DEFAULT_REST_CAPABILITIES_PATH),
        ):
            if value != default:
                errors.append(f"{_W}rest.{name}: only the default {default} is supported")
    return errors


def _grpc_errors(grpc: GrpcWorkerSettings) -> list[str]:
    errors: list[str] = []
    if grpc.endpoint:
        host, sep, port = grpc.endpoint.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            errors.append(f"Invalid {_W}grpc.endpoint: {grpc.endpoint} (expected host:port)")
    has_tls = bool(grpc.tls_cert_file and grpc.tls_key_file)
    if grpc.server_enabled and not grpc.plaintext and not has_tls:
        errors.append(
            f"{_W}grpc.server-enabled=true with TLS needs tpf.worker.grpc.tls-cert-file and "
            f"tpf.worker.grpc.tls-key-file (or {_W}grpc.plaintext=true)"
        )
    return errors


def _sqs_errors(sqs: SqsWorkerSettings) -> list[str]:
    errors: list[str] = []
    if not (sqs.request_queue_url or sqs.server_enabled):
        return errors
    why = (
        f"{TARGET_KEYS['sqs']} is configured"
        if sqs.request_queue_url
        else f"{_W}sqs.server-enabled=true"
    )
    for name, value in (
        ("request-queue-url", sqs.request_queue_url),
        ("response-queue-url", sqs.response_queue_url),
    ):
        if not value:
            errors.append(f"{_W}sqs.{name} is required when {why}")
        elif value.rstrip("/").endswith(".fifo"):
            errors.append(f"{_W}sqs.{name}: {value!r} is a FIFO queue; use a standard queue")
    if sqs.visibility_timeout_ms < sqs.request_timeout_ms:
        errors.append(
            f"{_W}sqs.visibility-timeout ({sqs.visibility_timeout_ms} ms) must be at least "
            f"{_W}sqs.request-timeout ({sqs.request_timeout_ms} ms), so a message is not "
            "delivered again while its transition may still be running"
        )
    return errors
