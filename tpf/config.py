"""Build one :class:`~tpf.settings.Settings` from files, the environment and CLI flags.

This is the only module that reads the environment. It accepts the original's property names
(``pipeline.orchestrator.<key>`` from spec §8, plus the related ``pipeline.*`` / ``tpf.await.*``
keys) and our own ``tpf.*`` keys, from these sources, highest precedence first:

1. ``overrides`` (CLI flags): full property names, or names relative to ``pipeline.orchestrator.``.
2. Short ``TPF_*`` environment variables (below).
3. Environment forms of property names: upper-case, ``.`` and ``-`` become ``_``
   (``pipeline.orchestrator.max-retries`` <-> ``PIPELINE_ORCHESTRATOR_MAX_RETRIES``).
4. A Java ``.properties`` file: the ``config_file`` argument, else ``$TPF_CONFIG``.
5. The ``Settings`` defaults.

Short forms: ``TPF_STATE_PROVIDER``, ``TPF_DISPATCHER_PROVIDER``, ``TPF_DLQ_PROVIDER``,
``TPF_AWAIT_TRANSPORT``, ``TPF_STATE_DIR``, ``TPF_RELEASES_REGISTRY_PROVIDER``,
``TPF_RELEASES_STORAGE_PROVIDER``, ``TPF_WORKER_LIFECYCLE_PROVIDER``, ``TPF_IDEMPOTENCY_POLICY``,
``TPF_MAX_RETRIES``, ``TPF_LEASE_MS``, ``TPF_SQLITE_SYNCHRONOUS``, ``TPF_HTTP_HOST``,
``TPF_HTTP_PORT`` and ``TPF_ORCHESTRATOR_MAX_RETRIES`` (the name the original's incident demo
uses).

Our own keys: ``tpf.state-dir``, ``tpf.sqlite.path``, ``tpf.sqlite.synchronous``,
``tpf.retry-jitter``, ``tpf.await-transport``, ``tpf.lease-renew-fraction``,
``tpf.dead-letter-batch``, ``tpf.ask-timeout``, ``tpf.http.host``, ``tpf.http.port``,
``tpf.http.max-body-bytes``, ``tpf.http.max-wait``, ``tpf.http.max-upload-bytes``.

Strictness: a misspelt key must fail startup rather than silently fall back to a default, so an
unknown key under ``pipeline.orchestrator.`` or ``tpf.`` (file, override, or a
``PIPELINE_ORCHESTRATOR_*`` variable) is a :class:`ConfigError` that suggests the closest known
key. Keys the original defines but this build does not implement (Dynamo, SQS, remote workers,
tenancy, ...) are accepted and recorded in ``Settings.unsupported`` so the caller can warn; they
are never mapped onto something that merely looks similar. Other namespaces (``quarkus.*``, other
``pipeline.*`` keys) are ignored, as are unrelated environment variables. An empty value means
"unset", as in MicroProfile Config.
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from tpf.durations import parse_duration_ms
from tpf.errors import ConfigError
from tpf.records import IdempotencyPolicy
from tpf.settings import (
    ARTIFACT_STORAGE_PROVIDERS,
    AWAIT_TRANSPORTS,
    DISPATCHER_PROVIDERS,
    DLQ_PROVIDERS,
    RELEASE_REGISTRY_PROVIDERS,
    SQLITE_SYNCHRONOUS,
    STATE_PROVIDERS,
    WORKER_LIFECYCLE_PROVIDERS,
    Settings,
)

_P = "pipeline.orchestrator."
_ENV_PREFIX = "PIPELINE_ORCHESTRATOR_"

Parser = Callable[[str, str], Any]  # (text, key) -> value; raises ConfigError naming the key

# --- value parsers -------------------------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() would also take "1_000" and "١٢"
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _text(text: str, key: str) -> str:
    return text


def _int(minimum: int) -> Parser:
    def parse(text: str, key: str) -> int:
        if not _INT_RE.fullmatch(text):
            raise ConfigError(f"{key}: expected an integer, got {text!r}")
        value = int(text)
        if value < minimum:
            raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
        return value

    return parse


def _float(ok: Callable[[float], bool], rule: str) -> Parser:
    def parse(text: str, key: str) -> float:
        if not _FLOAT_RE.fullmatch(text):
            raise ConfigError(f"{key}: expected a number, got {text!r}")
        value = float(text)
        if not math.isfinite(value) or not ok(value):
            raise ConfigError(f"{key}: {rule}, got {text}")
        return value

    return parse


def _bool(text: str, key: str) -> bool:
    # Only true/false: "yes", "1", "on" are accepted by some loaders and rejected by others.
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ConfigError(f"{key}: expected true or false, got {text!r}")
    return lowered == "true"


def _duration(minimum_ms: int) -> Parser:
    def parse(text: str, key: str) -> int:
        ms = parse_duration_ms(text, name=key)
        if ms < minimum_ms:
            raise ConfigError(f"{key}: must be at least {minimum_ms} ms, got {text!r} ({ms} ms)")
        return ms

    return parse


def _choice(valid: tuple[str, ...], what: str = "provider") -> Parser:
    def parse(text: str, key: str) -> str:
        wanted = text.lower().replace("-", "_")  # Quarkus enum converters accept queue-async too
        for candidate in valid:
            if candidate.lower() == wanted:
                return candidate
        raise ConfigError(f"{key}: unknown {what} {text!r}; valid values: {', '.join(valid)}")

    return parse


_policy_name = _choice(tuple(IdempotencyPolicy), "policy")
_mode_name = _choice(("QUEUE_ASYNC",), "mode")


def _policy(text: str, key: str) -> IdempotencyPolicy:
    return IdempotencyPolicy(_policy_name(text, key))


def _mode(text: str, key: str) -> str:
    if text.upper() == "SYNC":
        raise ConfigError(
            f"{key}: SYNC is not supported; this coordinator always runs executions durably "
            "(QUEUE_ASYNC). Set it to QUEUE_ASYNC or remove the key."
        )
    return str(_mode_name(text, key))


# --- the key table -------------------------------------------------------------------------------

# Keys this build implements: property name -> (Settings field, parser).
_SUPPORTED: dict[str, tuple[str, Parser]] = {
    _P + "mode": ("mode", _mode),
    _P + "default-tenant": ("default_tenant", _text),
    _P + "pipeline-id": ("pipeline_id", _text),
    _P + "release-version": ("release_version", _text),
    _P + "execution-ttl-days": ("execution_ttl_days", _int(1)),
    _P + "lease-ms": ("lease_ms", _int(1)),
    _P + "max-retries": ("max_retries", _int(0)),
    _P + "retry-delay": ("retry_delay_ms", _duration(0)),
    # The original clamps to 1.0 silently; a shrinking backoff is a mistake worth failing on.
    _P + "retry-multiplier": ("retry_multiplier", _float(lambda v: v >= 1.0, "must be >= 1.0")),
    _P + "sweep-interval": ("sweep_interval_ms", _duration(1_000)),
    _P + "sweep-limit": ("sweep_limit", _int(1)),
    _P + "idempotency-policy": ("idempotency_policy", _policy),
    _P + "strict-startup": ("strict_startup", _bool),
    _P + "state-provider": ("state_provider", _choice(STATE_PROVIDERS)),
    _P + "dispatcher-provider": ("dispatcher_provider", _choice(DISPATCHER_PROVIDERS)),
    _P + "dlq-provider": ("dlq_provider", _choice(DLQ_PROVIDERS)),
    _P + "releases.registry.provider": (
        "releases_registry_provider",
        _choice(RELEASE_REGISTRY_PROVIDERS),
    ),
    _P + "releases.storage.provider": (
        "releases_storage_provider",
        _choice(ARTIFACT_STORAGE_PROVIDERS),
    ),
    _P + "releases.storage.root": ("releases_storage_root", _text),
    _P + "worker.max-in-flight": ("worker_max_in_flight", _int(1)),
    _P + "worker.saturated-delay": ("worker_saturated_delay_ms", _duration(0)),
    _P + "worker.artifact-id": ("worker_artifact_id", _text),
    _P + "worker.artifact-digest": ("worker_artifact_digest", _text),
    _P + "worker.lifecycle.provider": (
        "worker_lifecycle_provider",
        _choice(WORKER_LIFECYCLE_PROVIDERS),
    ),
    _P + "worker.lifecycle.stale-after": ("worker_stale_after_ms", _duration(1)),
    "tpf.state-dir": ("state_dir", _text),
    "tpf.sqlite.path": ("sqlite_path", _text),
    "tpf.sqlite.synchronous": ("sqlite_synchronous", _choice(SQLITE_SYNCHRONOUS, "mode")),
    "tpf.retry-jitter": ("retry_jitter", _float(lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]")),
    "tpf.await-transport": ("await_transport", _choice(AWAIT_TRANSPORTS, "transport")),
    "tpf.lease-renew-fraction": (
        "lease_renew_fraction",
        _float(lambda v: 0.0 < v < 1.0, "must be strictly between 0 and 1"),
    ),
    "tpf.dead-letter-batch": ("dead_letter_batch", _int(1)),
    _P + "control-plane.enabled": ("control_plane_enabled", _bool),
    _P + "control-plane.admin-token": ("control_plane_token", _text),
    _P + "control-plane.admin-token-ref": ("control_plane_token_ref", _text),
    _P + "control-plane.require-remote-worker": ("control_plane_require_remote_worker", _bool),
    _P + "admin.enabled": ("admin_enabled", _bool),
    _P + "admin.admin-token": ("admin_token", _text),
    _P + "admin.admin-token-ref": ("admin_token_ref", _text),
    _P + "resume-token-secret": ("resume_token_secret", _text),
    _P + "dynamo.execution-table": ("dynamo_execution_table", _text),
    _P + "dynamo.execution-key-table": ("dynamo_execution_key_table", _text),
    _P + "dynamo.execution-payload-table": ("dynamo_execution_payload_table", _text),
    _P + "dynamo.await-interaction-table": ("dynamo_await_interaction_table", _text),
    _P + "dynamo.await-interaction-key-table": ("dynamo_await_interaction_key_table", _text),
    _P + "dynamo.release-table": ("dynamo_release_table", _text),
    _P + "dynamo.worker-table": ("dynamo_worker_table", _text),
    _P + "dynamo.region": ("dynamo_region", _text),
    _P + "dynamo.endpoint-override": ("dynamo_endpoint_override", _text),
    "tpf.dynamo.index.by-unit": ("dynamo_index_by_unit", _text),
    "tpf.dynamo.index.pending-by-tenant": ("dynamo_index_pending_by_tenant", _text),
    "tpf.dynamo.index.pending-by-assignee": ("dynamo_index_pending_by_assignee", _text),
    "tpf.dynamo.index.pending-by-group": ("dynamo_index_pending_by_group", _text),
    "tpf.dynamo.index.pending-by-step": ("dynamo_index_pending_by_step", _text),
    "tpf.dynamo.index.pending-by-deadline": ("dynamo_index_pending_by_deadline", _text),
    "tpf.dynamo.index.execution-due": ("dynamo_index_execution_due", _text),
    "tpf.dynamo.index.execution-dead-letters": ("dynamo_index_execution_dead_letters", _text),
    "tpf.dynamo.index.unapplied": ("dynamo_index_unapplied", _text),
    "tpf.dynamo.shards": ("dynamo_shards", _int(1)),
    _P + "sqs.region": ("sqs_region", _text),
    _P + "sqs.endpoint-override": ("sqs_endpoint_override", _text),
    _P + "sqs.local-loopback": ("sqs_local_loopback", _bool),
    _P + "sqs.poll-start-delay": ("sqs_poll_start_delay_ms", _duration(0)),
    "tpf.sqs.receivers": ("sqs_receivers", _int(1)),
    _P + "queue-url": ("queue_url", _text),
    _P + "dlq-url": ("dlq_url", _text),
    _P + "releases.storage.s3.bucket": ("s3_bucket", _text),
    _P + "releases.storage.s3.prefix": ("s3_prefix", _text),
    _P + "releases.storage.s3.region": ("s3_region", _text),
    _P + "releases.storage.s3.endpoint-override": ("s3_endpoint_override", _text),
    _P + "releases.storage.s3.path-style-access": ("s3_path_style_access", _bool),
    "tpf.sweeper.leader-election": ("sweeper_leader_election", _bool),
    "tpf.sweeper.leader-lease": ("sweeper_leader_lease_ms", _duration(1_000)),
    "tpf.http.host": ("http_host", _text),
    "tpf.http.port": ("http_port", _int(0)),
    "tpf.http.max-body-bytes": ("http_max_body_bytes", _int(1024)),
    "tpf.http.max-wait": ("http_max_wait_ms", _duration(0)),
    "tpf.http.max-upload-bytes": ("http_max_upload_bytes", _int(1024)),
    "tpf.ask-timeout": ("ask_timeout_ms", _duration(1)),
}


def _grouped(spec: str, prefix: str = "") -> frozenset[str]:
    """Expand ``group [group ...]: leaf ...`` lines into ``<prefix><group>.<leaf>`` keys."""
    keys: set[str] = set()
    for line in spec.strip().splitlines():
        groups, _, leaves = line.partition(":")
        for head in [f"{prefix}{g}." for g in groups.split()] or [prefix]:
            keys.update(head + leaf for leaf in leaves.split())
    return frozenset(keys)


# Keys the original defines (spec §8) whose feature this build does not have yet.
_UNSUPPORTED = _grouped(
    """
: max-circuit-deferral
: await-aggregate-max-input-items await-aggregate-max-output-items
dynamo: await-unit-table await-admission-table
tenancy: allowed-tenants require-explicit-tenant
quotas: max-in-flight-transitions-per-tenant
worker: execution-mode allowed-payload-prefixes
worker.rest: base-url path capabilities-path connect-timeout request-timeout server-enabled
worker.grpc: endpoint plaintext request-timeout max-inbound-message-size server-enabled
worker.sqs: request-queue-url response-queue-url pipeline-id contract-version release-version
worker.sqs: artifact-id artifact-digest server-enabled request-timeout poll-start-delay
worker.sqs: visibility-timeout
worker.rest worker.grpc worker.sqs: shared-secret shared-secret-ref signature-tolerance
""",
    _P,
) | _grouped(
    """
pipeline: max-concurrency
pipeline.await-admission: enabled store
tpf.await.kafka.reactive-messaging: enabled
tpf.await.sqs: poller.enabled response-queue-url poll-start-delay visibility-timeout
tpf.await.sqs: completion-timeout wait-time-seconds max-messages
"""
)
# Open-ended families from the original: any key under these is accepted as unsupported.
_UNSUPPORTED_PREFIXES = (
    "pipeline.resilience.circuit.",
    "pipeline.resilience.shared.",
    "tpf.await.",
)
# Namespaces we own: an unknown key here is a typo, not someone else's setting.
_STRICT_PREFIXES = (_P, "tpf.")
# Values of these unsupported keys are secrets; keep them out of Settings (and so out of logs).
_SECRET_KEY = re.compile(r"(token|secret)$")

_KNOWN = frozenset(_SUPPORTED) | _UNSUPPORTED
_FIELD_TO_KEY = {field: key for key, (field, _) in _SUPPORTED.items()}


def _env_form(key: str) -> str:
    return key.upper().replace(".", "_").replace("-", "_")


# Built from the key list, so an env name maps back to exactly one property (checked below).
_ENV_TO_KEY = {_env_form(key): key for key in _KNOWN}
assert len(_ENV_TO_KEY) == len(_KNOWN), "two known keys share an environment form"

_SHORT_FORMS: dict[str, str] = {
    "TPF_STATE_PROVIDER": _P + "state-provider",
    "TPF_DISPATCHER_PROVIDER": _P + "dispatcher-provider",
    "TPF_DLQ_PROVIDER": _P + "dlq-provider",
    "TPF_AWAIT_TRANSPORT": "tpf.await-transport",
    "TPF_STATE_DIR": "tpf.state-dir",
    "TPF_RELEASES_REGISTRY_PROVIDER": _P + "releases.registry.provider",
    "TPF_RELEASES_STORAGE_PROVIDER": _P + "releases.storage.provider",
    "TPF_WORKER_LIFECYCLE_PROVIDER": _P + "worker.lifecycle.provider",
    "TPF_IDEMPOTENCY_POLICY": _P + "idempotency-policy",
    "TPF_MAX_RETRIES": _P + "max-retries",
    "TPF_LEASE_MS": _P + "lease-ms",
    "TPF_SQLITE_SYNCHRONOUS": "tpf.sqlite.synchronous",
    "TPF_ORCHESTRATOR_MAX_RETRIES": _P + "max-retries",
    "TPF_HTTP_HOST": "tpf.http.host",
    "TPF_HTTP_PORT": "tpf.http.port",
}


def known_keys() -> frozenset[str]:
    """Every exact property name this build accepts (supported or recorded as unsupported)."""
    return _KNOWN


def _is_known(key: str) -> bool:
    return key in _KNOWN or key.startswith(_UNSUPPORTED_PREFIXES)


def _unknown(name: str, candidates: Mapping[str, str] | frozenset[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ConfigError(f"{name}: unknown configuration key ({where}){hint}")


# --- .properties files ---------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.|$)", re.DOTALL)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_WS = " \t\f"


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1]
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, code)  # "\=" -> "=", "\\" -> "\", lone trailing "\" -> ""

    return _ESCAPE.sub(one, text)


def _continues(line: str) -> bool:
    # An odd number of trailing backslashes continues the line; "\\" is an escaped backslash.
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _logical_lines(text: str) -> Iterator[str]:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip(_WS)
        i += 1
        if not line or line[0] in "#!":
            continue  # comment lines never continue, as in java.util.Properties
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(_WS)
            i += 1
        yield line[:-1] if _continues(line) else line


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``.properties`` text; later duplicates win, as in ``java.util.Properties``."""
    result: dict[str, str] = {}
    for line in _logical_lines(text):
        i = 0
        while i < len(line) and line[i] not in "=:" + _WS:
            i += 2 if line[i] == "\\" else 1  # an escaped separator belongs to the key
        rest = line[i:].lstrip(_WS)
        if rest[:1] in ("=", ":") and rest:
            rest = rest[1:].lstrip(_WS)
        result[_unescape(line[:i])] = _unescape(rest.rstrip(_WS))
    return result


def read_properties(path: str) -> dict[str, str]:
    """Read a Java ``.properties`` file (UTF-8). A missing file is a ConfigError naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    return parse_properties(text)


# --- assembling Settings -------------------------------------------------------------------------


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    config_file: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every source (see the module docstring) into a validated :class:`Settings`."""
    env = os.environ if environ is None else environ
    layered: dict[str, tuple[str, str]] = {}  # key -> (raw value, where it came from)

    path = env.get("TPF_CONFIG") if config_file is None else config_file
    if path:
        for key, value in read_properties(path).items():
            if _is_known(key):
                layered[key] = (value, f"in {path}")
            elif key.startswith(_STRICT_PREFIXES):
                raise _unknown(key, _KNOWN, f"in {path}")

    for name, value in env.items():
        prop = _ENV_TO_KEY.get(name)
        if prop is not None and name not in _SHORT_FORMS:
            layered[prop] = (value, f"set by {name}")
        elif prop is None and name.startswith(_ENV_PREFIX):
            raise _unknown(name, _ENV_TO_KEY, "environment variable")

    short: dict[str, tuple[str, str]] = {}
    for name, key in _SHORT_FORMS.items():
        if name not in env:
            continue
        earlier = short.get(key)
        if earlier and earlier[0].strip() != env[name].strip():
            # Two aliases of one key disagreeing is ambiguous; refuse rather than pick one.
            raise ConfigError(f"{key}: {earlier[1][7:]} and {name} disagree; set only one")
        short[key] = (env[name], f"set by {name}")
    layered.update(short)

    for name, value in (overrides or {}).items():
        if _is_known(name):
            layered[name] = (value, "")
        elif _is_known(_P + name):
            layered[_P + name] = (value, "")
        else:
            relative = {k.removeprefix(_P) for k in _KNOWN}  # flags may omit the prefix
            raise _unknown(name, _KNOWN | relative, "override")

    return _build(layered)


def _build(layered: Mapping[str, tuple[str, str]]) -> Settings:
    values: dict[str, Any] = {}
    unsupported: dict[str, str] = {}
    for key, (raw, source) in sorted(layered.items()):
        text = raw.strip()
        if not text:
            continue  # empty means unset
        spec = _SUPPORTED.get(key)
        if spec is None:
            unsupported[key] = "<redacted>" if _SECRET_KEY.search(key) else text
            continue
        field_name, parse = spec
        try:
            values[field_name] = parse(text, key)
        except ConfigError as exc:
            if not source:
                raise
            raise ConfigError(f"{exc.message} ({source})") from None
    settings = Settings(**values, unsupported=unsupported)
    _check_surfaces(settings)
    return settings


def _check_surfaces(settings: Settings) -> None:
    """An enabled REST surface needs exactly one of its token and its token reference."""
    for surface, enabled, token, ref in (
        (
            "control-plane",
            settings.control_plane_enabled,
            settings.control_plane_token,
            settings.control_plane_token_ref,
        ),
        ("admin", settings.admin_enabled, settings.admin_token, settings.admin_token_ref),
    ):
        if enabled and not (token or ref):
            raise ConfigError(
                f"{_P}{surface}.enabled=true needs {_P}{surface}.admin-token or "
                f"{_P}{surface}.admin-token-ref"
            )
        if token and ref:
            raise ConfigError(
                f"{_P}{surface}.admin-token and {_P}{surface}.admin-token-ref are both set; "
                "set exactly one"
            )


def resolve_secret(ref_or_value: str, environ: Mapping[str, str] | None = None) -> str:
    """Resolve ``env:NAME`` from the environment; any other value is taken literally."""
    env = os.environ if environ is None else environ
    if ref_or_value.startswith("env:"):
        name = ref_or_value[4:].strip()
        if not name:
            raise ConfigError("secret reference 'env:' names no environment variable")
        value = env.get(name)
        if not value:  # an empty secret is always a deployment mistake
            state = "is not set" if value is None else "is empty"
            raise ConfigError(f"secret reference env:{name}: environment variable {name} {state}")
        return value
    for prefix in ("sys:", "config:"):
        if ref_or_value.startswith(prefix):
            # There are no JVM system properties here, and config-to-config refs invite cycles.
            raise ConfigError(
                f"secret reference {ref_or_value!r}: {prefix} references are not supported, "
                "use env:NAME"
            )
    return ref_or_value


def describe(settings: Settings) -> list[str]:
    """Human-readable lines for each setting that differs from its default (for a startup log)."""
    defaults = Settings()
    lines: list[str] = []
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.name == "unsupported" or value == getattr(defaults, f.name):
            continue
        shown = value.value if isinstance(value, enum.Enum) else value
        if _SECRET_KEY.search(f.name) and not str(value).startswith("env:"):
            shown = "<redacted>"  # literal tokens and secrets stay out of startup logs
        lines.append(f"{_FIELD_TO_KEY.get(f.name, f.name)} = {shown}")
    return lines


def unsupported_warnings(settings: Settings) -> list[str]:
    """One warning per accepted-but-unimplemented key, naming the key but never its value."""
    return [
        f"{key} is accepted but not supported yet by this build; it has no effect"
        for key in sorted(settings.unsupported)
    ]


@dataclass(frozen=True)
class ClientDefaults:
    """Defaults of the ``tpf`` operator commands (the REST client side), from the environment.

    ``TPF_BASE_URL`` (``http://127.0.0.1:8081``), ``TPF_TENANT`` (``restaurant-demo``, as in the
    original's demos), ``TPF_CONTROL_PLANE_TOKEN`` and ``TPF_ADMIN_TOKEN``.
    """

    base_url: str
    tenant: str
    control_plane_token: str | None
    admin_token: str | None


def client_defaults(environ: Mapping[str, str] | None = None) -> ClientDefaults:
    env = os.environ if environ is None else environ
    return ClientDefaults(
        base_url=env.get("TPF_BASE_URL") or "http://127.0.0.1:8081",
        tenant=env.get("TPF_TENANT") or "restaurant-demo",
        control_plane_token=env.get("TPF_CONTROL_PLANE_TOKEN") or None,
        admin_token=env.get("TPF_ADMIN_TOKEN") or None,
    )
