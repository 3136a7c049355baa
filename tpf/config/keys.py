"""The configuration keys this build knows, and how each value is parsed.

:data:`_SUPPORTED` maps each implemented property name to the ``section.field`` of
:class:`~tpf.config.settings.Settings` it sets and the parser of its text;
the original's keys this build accepts without implementing them, the environment forms of
every key and the short ``TPF_*`` forms are derived from the same tables, so a key is added in
one place. :mod:`tpf.config.loader` reads the sources with them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from tpf.config.broker_keys import BROKER_KEYS, TRANSPORT_SWITCHES
from tpf.config.nonces import NONCE_STORES
from tpf.config.parsers import (
    Parser,
    _bool,
    _choice,
    _directories,
    _duration,
    _float,
    _int,
    _mode,
    _policy,
    _provider,
    _text,
)
from tpf.config.settings import SQLITE_SYNCHRONOUS, field_paths
from tpf.config.worker_keys import WORKER_PROTOCOL_KEYS

# ``tpf serve --loop`` (tpf.cli.event_loops): uvloop by default (a dependency), or asyncio.
EVENT_LOOPS = ("asyncio", "uvloop")

_P = "pipeline.orchestrator."
_ENV_PREFIX = "PIPELINE_ORCHESTRATOR_"

# --- the key table -------------------------------------------------------------------------------

# Keys this build implements: property name -> (Settings ``section.field``, parser).
_SUPPORTED: dict[str, tuple[str, Parser]] = {
    _P + "mode": ("execution.mode", _mode),
    _P + "default-tenant": ("execution.default_tenant", _text),
    _P + "execution-ttl-days": ("execution.ttl_days", _int(1)),
    _P + "lease-ms": ("execution.lease_ms", _int(1)),
    # Ours (issue 13): the JSON bytes of step outputs kept for later steps' StepContext.
    "pipeline.context.max-bytes": ("execution.context_max_bytes", _int(1)),
    # Streams (issue 13): the live window of an itemized await (items dispatched and not yet
    # answered, per execution; also the admission budget's capacity), and the most items an
    # aggregation receives in one command when its worker is remote.
    "pipeline.max-concurrency": ("execution.max_concurrency", _int(1)),
    _P + "await-aggregate-max-input-items": ("execution.aggregate_max_items", _int(1)),
    _P + "max-retries": ("retries.max_retries", _int(0)),
    _P + "retry-delay": ("retries.delay_ms", _duration(0)),
    # The original clamps to 1.0 silently; a shrinking backoff is a mistake worth failing on.
    _P + "retry-multiplier": ("retries.multiplier", _float(lambda v: v >= 1.0, "must be >= 1.0")),
    _P + "sweep-interval": ("sweeper.interval_ms", _duration(1_000)),
    _P + "sweep-limit": ("sweeper.limit", _int(1)),
    _P + "idempotency-policy": ("execution.idempotency_policy", _policy),
    _P + "strict-startup": ("startup.strict", _bool),
    _P + "state-provider": ("state.provider", _provider("state.provider")),
    _P + "dispatcher-provider": ("work_queue.provider", _provider("work_queue.provider")),
    _P + "dlq-provider": ("dlq.provider", _provider("dlq.provider")),
    _P + "releases.registry.provider": (
        "releases.registry_provider",
        _provider("releases.registry_provider"),
    ),
    _P + "releases.storage.provider": (
        "releases.storage_provider",
        _provider("releases.storage_provider"),
    ),
    _P + "releases.storage.root": ("releases.storage_root", _text),
    "tpf.releases.import-roots": ("releases.import_roots", _directories),
    _P + "worker.max-in-flight": ("workers.max_in_flight", _int(1)),
    "tpf.worker.step-threads": ("workers.step_threads", _int(1)),
    _P + "worker.artifact-id": ("workers.artifact_id", _text),
    _P + "worker.artifact-digest": ("workers.artifact_digest", _text),
    _P + "worker.lifecycle.provider": (
        "workers.lifecycle_provider",
        _provider("workers.lifecycle_provider"),
    ),
    # PT0S turns staleness off (tpf.engine.admission.effective_state).
    _P + "worker.lifecycle.stale-after": ("workers.stale_after_ms", _duration(0)),
    # Worker nonce store (tpf.config.nonces): replay refused across a worker's replicas.
    "tpf.worker.nonce-store": ("workers.nonce_store", _choice(NONCE_STORES, "nonce store")),
    "tpf.worker.nonce-path": ("workers.nonce_path", _text),
    "tpf.worker.nonce-table": ("workers.nonce_table", _text),
    "tpf.state-dir": ("state.dir", _text),
    "tpf.sqlite.path": ("sqlite.path", _text),
    "tpf.sqlite.synchronous": ("sqlite.synchronous", _choice(SQLITE_SYNCHRONOUS, "mode")),
    "tpf.retry-jitter": ("retries.jitter", _float(lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]")),
    "tpf.lease-renew-fraction": (
        "execution.lease_renew_fraction",
        _float(lambda v: 0.0 < v < 1.0, "must be strictly between 0 and 1"),
    ),
    "tpf.dead-letter-batch": ("dlq.publish_batch", _int(1)),
    _P + "control-plane.enabled": ("control_plane.enabled", _bool),
    _P + "control-plane.admin-token": ("control_plane.token", _text),
    _P + "control-plane.admin-token-ref": ("control_plane.token_ref", _text),
    _P + "control-plane.require-remote-worker": ("control_plane.require_remote_worker", _bool),
    _P + "admin.enabled": ("admin.enabled", _bool),
    _P + "admin.admin-token": ("admin.token", _text),
    _P + "admin.admin-token-ref": ("admin.token_ref", _text),
    # The durable await admission budget (spec §4.9; tpf.stores.budget).
    "pipeline.await-admission.enabled": ("await_admission.enabled", _bool),
    "pipeline.await-admission.store": (
        "await_admission.store",
        _provider("await_admission.store", "await admission store"),
    ),
    _P + "resume-token-secret": ("awaits.resume_token_secret", _text),
    _P + "dynamo.execution-table": ("dynamo.execution_table", _text),
    _P + "dynamo.execution-key-table": ("dynamo.execution_key_table", _text),
    _P + "dynamo.execution-payload-table": ("dynamo.execution_payload_table", _text),
    _P + "dynamo.execution-item-table": ("dynamo.execution_item_table", _text),
    _P + "dynamo.await-interaction-table": ("dynamo.await_interaction_table", _text),
    _P + "dynamo.await-interaction-key-table": ("dynamo.await_interaction_key_table", _text),
    _P + "dynamo.release-table": ("dynamo.release_table", _text),
    _P + "dynamo.worker-table": ("dynamo.worker_table", _text),
    _P + "dynamo.await-admission-table": ("dynamo.await_admission_table", _text),
    _P + "dynamo.region": ("dynamo.region", _text),
    _P + "dynamo.endpoint-override": ("dynamo.endpoint_override", _text),
    "tpf.dynamo.index.by-unit": ("dynamo.index_by_unit", _text),
    "tpf.dynamo.index.pending-by-tenant": ("dynamo.index_pending_by_tenant", _text),
    "tpf.dynamo.index.pending-by-assignee": ("dynamo.index_pending_by_assignee", _text),
    "tpf.dynamo.index.pending-by-group": ("dynamo.index_pending_by_group", _text),
    "tpf.dynamo.index.pending-by-step": ("dynamo.index_pending_by_step", _text),
    "tpf.dynamo.index.pending-by-deadline": ("dynamo.index_pending_by_deadline", _text),
    "tpf.dynamo.index.execution-due": ("dynamo.index_execution_due", _text),
    "tpf.dynamo.index.execution-dead-letters": ("dynamo.index_execution_dead_letters", _text),
    "tpf.dynamo.index.unapplied": ("dynamo.index_unapplied", _text),
    "tpf.dynamo.index.execution-search": ("dynamo.index_execution_search", _text),
    "tpf.dynamo.index.execution-search-by-status": (
        "dynamo.index_execution_search_status",
        _text,
    ),
    "tpf.dynamo.index.execution-search-by-pipeline": (
        "dynamo.index_execution_search_pipeline",
        _text,
    ),
    "tpf.dynamo.index.interaction-by-execution": ("dynamo.index_interaction_by_execution", _text),
    "tpf.dynamo.shards": ("dynamo.shards", _int(1)),
    "tpf.dynamo.search-shards": ("dynamo.search_shards", _int(1)),
    "tpf.dynamo.count-shards": ("dynamo.count_shards", _int(1)),
    "tpf.dynamo.schema-upgrade": ("dynamo.schema_upgrade", _bool),
    "tpf.dynamo.schema-upgrade-timeout": ("dynamo.schema_upgrade_timeout_ms", _duration(1_000)),
    _P + "sqs.region": ("sqs.region", _text),
    _P + "sqs.endpoint-override": ("sqs.endpoint_override", _text),
    _P + "sqs.local-loopback": ("sqs.local_loopback", _bool),
    _P + "sqs.poll-start-delay": ("sqs.poll_start_delay_ms", _duration(0)),
    "tpf.sqs.receivers": ("sqs.receivers", _int(1)),
    _P + "queue-url": ("sqs.queue_url", _text),
    _P + "dlq-url": ("sqs.dlq_url", _text),
    _P + "releases.storage.s3.bucket": ("s3.bucket", _text),
    _P + "releases.storage.s3.prefix": ("s3.prefix", _text),
    _P + "releases.storage.s3.region": ("s3.region", _text),
    _P + "releases.storage.s3.endpoint-override": ("s3.endpoint_override", _text),
    _P + "releases.storage.s3.path-style-access": ("s3.path_style_access", _bool),
    "tpf.aws.access-key-id": ("aws.access_key_id", _text),
    "tpf.aws.secret-access-key": ("aws.secret_access_key", _text),
    "tpf.sweeper.leader-election": ("sweeper.leader_election", _bool),
    "tpf.sweeper.leader-lease": ("sweeper.leader_lease_ms", _duration(1_000)),
    "tpf.http.host": ("http.host", _text),
    "tpf.http.port": ("http.port", _int(0, 65535)),
    "tpf.http.max-body-bytes": ("http.max_body_bytes", _int(1024)),
    "tpf.http.max-wait": ("http.max_wait_ms", _duration(0)),
    "tpf.http.max-upload-bytes": ("http.max_upload_bytes", _int(1024)),
    "tpf.http.max-json-depth": ("http.max_json_depth", _int(1)),
    "tpf.http.metrics-token": ("http.metrics_token", _text),
    "tpf.http.event-loop": ("http.event_loop", _choice(EVENT_LOOPS, "event loop")),
    "tpf.ask-timeout": ("execution.ask_timeout_ms", _duration(1)),
    **BROKER_KEYS,  # await channels and Kafka (tpf.config.broker_keys)
    **WORKER_PROTOCOL_KEYS,  # remote workers: REST, gRPC, SQS (tpf.config.worker_keys)
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
: await-aggregate-max-output-items
dynamo: await-unit-table
tenancy: allowed-tenants require-explicit-tenant
quotas: max-in-flight-transitions-per-tenant
worker: execution-mode allowed-payload-prefixes saturated-delay
""",
    _P,
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
_SECRET_KEY = re.compile(r"(token|secret|secret[-_]access[-_]key|password)$")

_KNOWN = frozenset(_SUPPORTED) | _UNSUPPORTED | frozenset(TRANSPORT_SWITCHES)
# Every section.field is set by exactly one key, and every key names a real field.
assert sorted(path for path, _ in _SUPPORTED.values()) == sorted(field_paths()), (
    "the key table and the Settings sections disagree"
)


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
    """Each implemented property name and the ``section.field`` it sets, in table order."""
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
