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
``tpf.http.max-body-bytes``, ``tpf.http.max-wait``, ``tpf.http.max-upload-bytes``,
``tpf.releases.import-roots``, ``tpf.http.metrics-token``, ``tpf.worker.step-threads``,
``tpf.aws.access-key-id``,
``tpf.aws.secret-access-key``.

Strictness: a misspelt key must fail startup rather than silently fall back to a default, so an
unknown key under ``pipeline.orchestrator.`` or ``tpf.`` (file, override, or a
``PIPELINE_ORCHESTRATOR_*`` variable) is a :class:`ConfigError` that suggests the closest known
key. Keys the original defines but this build does not implement (Dynamo, SQS, remote workers,
tenancy, ...) are accepted and recorded in ``Settings.unsupported`` so the caller can warn; they
are never mapped onto something that merely looks similar. Other namespaces (``quarkus.*``, other
``pipeline.*`` keys) are ignored, as are unrelated environment variables (but not ``TPF_*``
ones that set nothing: see :mod:`tpf.config_check`). An empty value means
"unset", as in MicroProfile Config.

Errors are collected, not raised one at a time: :func:`read_sources` and :func:`parse_values`
return every problem they meet, :mod:`tpf.config_check` adds the checks across keys, and
:func:`load_settings` raises one :class:`ConfigError` listing them all.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tpf.durations import parse_duration_ms
from tpf.engine.transport_providers import AWAIT_CHANNELS, DLQ_SINKS, WORK_QUEUES
from tpf.errors import ConfigError
from tpf.records import IdempotencyPolicy
from tpf.settings import (
    SQLITE_SYNCHRONOUS,
    Settings,
)
from tpf.stores.providers import ARTIFACT_STORAGE, RELEASE_REGISTRY, STATE, WORKER_LIFECYCLE

_P = "pipeline.orchestrator."
_ENV_PREFIX = "PIPELINE_ORCHESTRATOR_"

Parser = Callable[[str, str], Any]  # (text, key) -> value; raises ConfigError naming the key

# --- value parsers -------------------------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() would also take "1_000" and "١٢"
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _text(text: str, key: str) -> str:
    return text


def _int(minimum: int, maximum: int | None = None) -> Parser:
    def parse(text: str, key: str) -> int:
        if not _INT_RE.fullmatch(text):
            raise ConfigError(f"{key}: expected an integer, got {text!r}")
        value = int(text)
        if value < minimum:
            raise ConfigError(f"{key}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{key}: must be at most {maximum}, got {value}")
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


def _directories(text: str, key: str) -> tuple[str, ...]:
    """Comma-separated absolute directories (blank entries ignored), as given."""
    entries = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    for entry in entries:
        if "\x00" in entry or not os.path.isabs(entry):
            raise ConfigError(f"{key}: expected absolute directories, got {entry!r}")
    return entries


def _duration(minimum_ms: int) -> Parser:
    def parse(text: str, key: str) -> int:
        ms = parse_duration_ms(text, name=key)
        if ms < minimum_ms:
            raise ConfigError(f"{key}: must be at least {minimum_ms} ms, got {text!r} ({ms} ms)")
        return ms

    return parse


def _choice(valid: Sequence[str], what: str = "provider") -> Parser:
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
    _P + "state-provider": ("state_provider", _choice(STATE.names)),
    _P + "dispatcher-provider": ("dispatcher_provider", _choice(WORK_QUEUES.names)),
    _P + "dlq-provider": ("dlq_provider", _choice(DLQ_SINKS.names)),
    _P + "releases.registry.provider": (
        "releases_registry_provider",
        _choice(RELEASE_REGISTRY.names),
    ),
    _P + "releases.storage.provider": (
        "releases_storage_provider",
        _choice(ARTIFACT_STORAGE.names),
    ),
    _P + "releases.storage.root": ("releases_storage_root", _text),
    "tpf.releases.import-roots": ("releases_import_roots", _directories),
    _P + "worker.max-in-flight": ("worker_max_in_flight", _int(1)),
    "tpf.worker.step-threads": ("worker_step_threads", _int(1)),
    _P + "worker.artifact-id": ("worker_artifact_id", _text),
    _P + "worker.artifact-digest": ("worker_artifact_digest", _text),
    _P + "worker.lifecycle.provider": (
        "worker_lifecycle_provider",
        _choice(WORKER_LIFECYCLE.names),
    ),
    # PT0S turns staleness off (tpf.admission.effective_state).
    _P + "worker.lifecycle.stale-after": ("worker_stale_after_ms", _duration(0)),
    "tpf.state-dir": ("state_dir", _text),
    "tpf.sqlite.path": ("sqlite_path", _text),
    "tpf.sqlite.synchronous": ("sqlite_synchronous", _choice(SQLITE_SYNCHRONOUS, "mode")),
    "tpf.retry-jitter": ("retry_jitter", _float(lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]")),
    "tpf.await-transport": ("await_transport", _choice(AWAIT_CHANNELS.names, "transport")),
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
    "tpf.dynamo.schema-upgrade": ("dynamo_schema_upgrade", _bool),
    "tpf.dynamo.schema-upgrade-timeout": ("dynamo_schema_upgrade_timeout_ms", _duration(1_000)),
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
    "tpf.aws.access-key-id": ("aws_access_key_id", _text),
    "tpf.aws.secret-access-key": ("aws_secret_access_key", _text),
    "tpf.sweeper.leader-election": ("sweeper_leader_election", _bool),
    "tpf.sweeper.leader-lease": ("sweeper_leader_lease_ms", _duration(1_000)),
    "tpf.http.host": ("http_host", _text),
    "tpf.http.port": ("http_port", _int(0, 65535)),
    "tpf.http.max-body-bytes": ("http_max_body_bytes", _int(1024)),
    "tpf.http.max-wait": ("http_max_wait_ms", _duration(0)),
    "tpf.http.max-upload-bytes": ("http_max_upload_bytes", _int(1024)),
    "tpf.http.max-json-depth": ("http_max_json_depth", _int(1)),
    "tpf.http.metrics-token": ("http_metrics_token", _text),
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
: max-circuit-deferral pipeline-id release-version
: await-aggregate-max-input-items await-aggregate-max-output-items
dynamo: await-unit-table await-admission-table
tenancy: allowed-tenants require-explicit-tenant
quotas: max-in-flight-transitions-per-tenant
worker: execution-mode allowed-payload-prefixes saturated-delay
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
_SECRET_KEY = re.compile(r"(token|secret|secret[-_]access[-_]key)$")

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


# Every TPF_* name that sets a key: the short forms and the environment forms of tpf.* keys.
_TPF_NAMES = frozenset(_SHORT_FORMS) | {name for name in _ENV_TO_KEY if name.startswith("TPF_")}


def known_keys() -> frozenset[str]:
    """Every exact property name this build accepts (supported or recorded as unsupported)."""
    return _KNOWN


def supported_keys() -> dict[str, str]:
    """Each implemented property name and the :class:`Settings` field it sets, in table order."""
    return {key: field for key, (field, _) in _SUPPORTED.items()}


def setting_variables() -> frozenset[str]:
    """Every ``TPF_*`` variable that sets a key: short forms and environment forms of ``tpf.*``."""
    return _TPF_NAMES


def is_secret(name: str) -> bool:
    """Whether a key or field name holds a token or secret (kept out of logs)."""
    return _SECRET_KEY.search(name) is not None


def _is_known(key: str) -> bool:
    return key in _KNOWN or key.startswith(_UNSUPPORTED_PREFIXES)


def _unknown(name: str, candidates: Mapping[str, str] | frozenset[str], where: str) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{name}: unknown configuration key ({where}){hint}"


# --- .properties files ---------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.|$)", re.DOTALL)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_WS = " \t\f"


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1]
        if len(code) == 5:
            return chr(int(code[1:], 16))
        if code == "u":  # java.util.Properties refuses it too
            raise ConfigError("malformed \\uxxxx escape (expected four hex digits)")
        return _ESCAPES.get(code, code)  # "\=" -> "=", "\\" -> "\", lone trailing "\" -> ""

    return _ESCAPE.sub(one, text)


def _continues(line: str) -> bool:
    # An odd number of trailing backslashes continues the line; "\\" is an escaped backslash.
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(number of its first physical line, logical line)`` for each non-comment line."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].lstrip(_WS)
        i += 1
        if not line or line[0] in "#!":
            continue  # comment lines never continue, as in java.util.Properties
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(_WS)
            i += 1
        yield number, line[:-1] if _continues(line) else line


def _parse_properties(text: str) -> tuple[dict[str, str], list[str]]:
    """The entries, and one ``line N: ...`` message per malformed line (which is skipped)."""
    result: dict[str, str] = {}
    problems: list[str] = []
    for number, line in _logical_lines(text):
        i = 0
        while i < len(line) and line[i] not in "=:" + _WS:
            i += 2 if line[i] == "\\" else 1  # an escaped separator belongs to the key
        rest = line[i:].lstrip(_WS)
        separated = rest[:1] in ("=", ":")
        if separated:
            rest = rest[1:].lstrip(_WS)
        # java.util.Properties takes both as keys with an empty value; both are typos in a
        # coordinator's configuration ("max-retries3", "=5"), so say so instead of ignoring them.
        if i == 0:
            problems.append(f"line {number}: no key before the separator in {line!r}")
            continue
        if not separated and not rest:
            problems.append(f"line {number}: {line!r} has no value (expected key=value)")
            continue
        try:
            result[_unescape(line[:i])] = _unescape(rest.rstrip(_WS))
        except ConfigError as exc:
            problems.append(f"line {number}: {exc.message} in {line!r}")
    return result, problems


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``.properties`` text; later duplicates win, as in ``java.util.Properties``.

    A malformed line (no value, no key, a bad ``\\u`` escape) is a :class:`ConfigError`."""
    result, problems = _parse_properties(text)
    if problems:
        raise ConfigError(format_errors(problems))
    return result


def _read_properties(path: str) -> tuple[dict[str, str], list[str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}, [f"configuration file not found: {path}"]
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"cannot read configuration file {path}: {exc}"]
    result, problems = _parse_properties(text)
    return result, [f"{path} {problem}" for problem in problems]


def read_properties(path: str) -> dict[str, str]:
    """Read a Java ``.properties`` file (UTF-8). A missing file or a malformed line is a
    ConfigError naming it."""
    result, problems = _read_properties(path)
    if problems:
        raise ConfigError(format_errors(problems))
    return result


def format_errors(errors: Sequence[str]) -> str:
    """One error as it is; several as a count and a list, so each is fixed in one go."""
    if len(errors) == 1:
        return errors[0]
    return f"{len(errors)} configuration errors:\n" + "\n".join(f"  - {e}" for e in errors)


# --- assembling Settings -------------------------------------------------------------------------

Layered = dict[str, tuple[str, str]]  # key -> (raw value, where it came from; "" = an override)


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    config_file: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every source (see the module docstring) into a validated :class:`Settings`.

    Raises one :class:`ConfigError` listing every error, not only the first."""
    # The checks across settings live in tpf.config_check, which builds on this module's
    # tables; imported here rather than at the top, where it would be circular.
    from tpf.config_check import check_configuration

    report = check_configuration(environ, config_file=config_file, overrides=overrides)
    if report.errors:
        raise ConfigError(format_errors(report.errors))
    return report.settings


def read_sources(
    env: Mapping[str, str],
    *,
    config_file: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> tuple[Layered, list[str]]:
    """Every configured value by key, highest precedence winning, and the errors met reading
    them: an unreadable file, malformed lines, unknown keys and variables, disagreeing aliases."""
    errors: list[str] = []
    layered: Layered = {}

    path = env.get("TPF_CONFIG") if config_file is None else config_file
    if path:
        properties, problems = _read_properties(path)
        errors += problems
        for key, value in properties.items():
            if _is_known(key):
                layered[key] = (value, f"in {path}")
            elif key.startswith(_STRICT_PREFIXES):
                errors.append(_unknown(key, _KNOWN, f"in {path}"))

    for name, value in env.items():
        prop = _ENV_TO_KEY.get(name)
        if prop is not None and name not in _SHORT_FORMS:
            layered[prop] = (value, f"set by {name}")
        elif prop is None and name.startswith(_ENV_PREFIX):
            errors.append(_unknown(name, _ENV_TO_KEY, "environment variable"))

    short: Layered = {}
    for name, key in _SHORT_FORMS.items():
        if name not in env:
            continue
        earlier = short.get(key)
        if earlier and earlier[0].strip() != env[name].strip():
            # Two aliases of one key disagreeing is ambiguous; refuse rather than pick one.
            errors.append(f"{key}: {earlier[1][7:]} and {name} disagree; set only one")
        short[key] = (env[name], f"set by {name}")
    layered.update(short)

    for name, value in (overrides or {}).items():
        if _is_known(name):
            layered[name] = (value, "")
        elif _is_known(_P + name):
            layered[_P + name] = (value, "")
        else:
            relative = {k.removeprefix(_P) for k in _KNOWN}  # flags may omit the prefix
            errors.append(_unknown(name, _KNOWN | relative, "override"))
    return layered, errors


def parse_values(layered: Layered, errors: list[str]) -> Settings:
    """Settings from the values that parse; each value that does not is one entry in errors."""
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
            errors.append(f"{exc.message} ({source})" if source else exc.message)
    return Settings(**values, unsupported=unsupported)


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


def unsupported_warnings(settings: Settings) -> list[str]:
    """One warning per accepted-but-unimplemented key, naming the key but never its value."""
    return [
        f"{key} is accepted but not supported yet by this build; it has no effect"
        for key in sorted(settings.unsupported)
    ]


def process_environment(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """``environ`` if given, else this process's environment (read here and nowhere else)."""
    return os.environ if environ is None else environ


# The TPF_* variables the tpf command reads that are not settings (so never typos of one).
CLIENT_VARIABLES = frozenset(
    {"TPF_CONFIG", "TPF_BASE_URL", "TPF_TENANT", "TPF_CONTROL_PLANE_TOKEN", "TPF_ADMIN_TOKEN"}
)


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
