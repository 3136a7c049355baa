"""The coordinator's typed settings, in sections, with the original's defaults.

:mod:`tpf.config` is the only package that reads the environment and ``.properties`` files; it
produces one :class:`Settings`. Everything else receives a ``Settings`` (tests build one
directly, or change one with :meth:`Settings.replace`), so no other module looks at
``os.environ``.

A ``Settings`` holds one frozen section per concern (``settings.execution.lease_ms``,
``settings.http.port``, ``settings.dynamo.region``, ...), so a component can be handed the one
section it needs and a new provider adds a section instead of a dozen prefixed fields. The key
names operators write are unchanged: :mod:`tpf.config.keys` maps each one to ``section.field``.
Durations are milliseconds (``*_ms``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from tpf.config.broker_settings import AwaitSettings, KafkaSettings
from tpf.config.worker_settings import GrpcWorkerSettings, RestWorkerSettings, SqsWorkerSettings
from tpf.core.records import IdempotencyPolicy

__all__ = [
    "SQLITE_SYNCHRONOUS",
    "AwaitAdmissionSettings",
    "AwaitSettings",
    "AwsSettings",
    "ControlPlaneSettings",
    "DlqSettings",
    "DynamoSettings",
    "ExecutionSettings",
    "GrpcWorkerSettings",
    "HttpSettings",
    "KafkaSettings",
    "ReleaseSettings",
    "RestWorkerSettings",
    "RetrySettings",
    "S3Settings",
    "Settings",
    "SqliteSettings",
    "SqsSettings",
    "SqsWorkerSettings",
    "StartupSettings",
    "StateSettings",
    "SurfaceSettings",
    "SweeperSettings",
    "WorkQueueSettings",
    "WorkerSettings",
    "field_paths",
    "value_at",
]

# Provider names are listed once, in the provider tables (tpf/stores/providers.py,
# tpf/engine/transport_providers.py), which configuration validation reads.
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL")


@dataclass(frozen=True)
class ExecutionSettings:
    """The execution lifecycle (``pipeline.orchestrator.*``): leases, retention, dedupe."""

    mode: str = "QUEUE_ASYNC"
    default_tenant: str = "default"
    ttl_days: int = 7
    lease_ms: int = 30_000
    lease_renew_fraction: float = 0.5  # renew when this fraction of the lease has elapsed
    idempotency_policy: IdempotencyPolicy = IdempotencyPolicy.OPTIONAL_CLIENT_KEY
    ask_timeout_ms: int = 30_000
    # Bound of the step outputs stored for later steps' ``ctx`` (pipeline.context.max-bytes).
    context_max_bytes: int = 262_144
    # Streams (issue 13): items of one execution dispatched and not yet answered
    # (pipeline.max-concurrency), and the most item outputs sent whole to a remote aggregation.
    max_concurrency: int = 128
    aggregate_max_items: int = 10_000

    @property
    def ttl_ms(self) -> int:
        return max(1, self.ttl_days) * 86_400_000


@dataclass(frozen=True)
class StartupSettings:
    """What startup does about a deployment that is not ready (missing tables, queues...)."""

    strict: bool = True


@dataclass(frozen=True)
class RetrySettings:
    """Backoff of retryable transition failures."""

    max_retries: int = 3
    delay_ms: int = 10_000
    multiplier: float = 2.0
    jitter: float = 0.1  # ± fraction of each backoff delay (the original has none)


@dataclass(frozen=True)
class SweeperSettings:
    """The sweeper's pass (due executions, overdue awaits) and its optional leadership."""

    interval_ms: int = 30_000
    limit: int = 100
    # Optional sweeper leadership: one coordinator sweeps, elected through a lease item.
    leader_election: bool = False
    leader_lease_ms: int = 15_000


@dataclass(frozen=True)
class StateSettings:
    """Where execution and await state lives. Every file of the one-process default lives
    under ``dir``."""

    provider: str = "sqlite"
    dir: str = ".tpf"


@dataclass(frozen=True)
class SqliteSettings:
    """The embedded SQLite store."""

    path: str | None = None  # default: <state dir>/tpf.sqlite3 (Settings.resolved_sqlite_path)
    synchronous: str = "NORMAL"


@dataclass(frozen=True)
class ReleaseSettings:
    """The release registry and its artifact storage."""

    registry_provider: str = "file"
    storage_provider: str = "local"
    storage_root: str | None = None  # default: <state dir>/releases (resolved_releases_root)
    # Directories a path registration may read descriptors and artifacts from (symlinks and
    # ``..`` resolved first); empty: anywhere, as in the original. Uploads are always allowed.
    import_roots: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkQueueSettings:
    """How work items ("look at execution X now") travel between coordinators."""

    provider: str = "event"


@dataclass(frozen=True)
class DlqSettings:
    """Where terminal failures are published."""

    provider: str = "log"
    publish_batch: int = 100  # dead-letter envelopes the dead letters supervisor sends per pass


@dataclass(frozen=True)
class WorkerSettings:
    """Transition workers: the local worker's bounds, worker lifecycle and admission."""

    max_in_flight: int = 64
    step_threads: int = 40  # threads running sync step code at once (tpf/step_threads.py)
    stale_after_ms: int = 120_000
    artifact_id: str | None = None
    artifact_digest: str | None = None
    lifecycle_provider: str = "sqlite"
    # Replay protection of signed worker requests, shared by a worker's replicas (resolved by
    # tpf.config.nonces: "auto" follows the stores; a path of None is under the state dir).
    nonce_store: str = "auto"
    nonce_path: str | None = None
    nonce_table: str = "tpf_worker_nonce"


@dataclass(frozen=True)
class AwaitAdmissionSettings:
    """The durable await admission budget (spec §4.9, ``pipeline.await-admission.*``): at most
    ``pipeline.max-concurrency`` unresolved interactions per (pipeline, await step, endpoint).

    ``store`` names its provider (``tpf/stores/providers.py``): ``memory`` bounds one process,
    ``dynamo`` every coordinator sharing ``dynamo.await_admission_table``. With ``enabled``
    false nothing is budgeted (:mod:`tpf.stores.budget`)."""

    enabled: bool = True
    store: str = "memory"

    @property
    def on_dynamo(self) -> bool:
        """Enabled and on DynamoDB: its table is needed (bootstrap, startup checks)."""
        return self.enabled and self.store == "dynamo"


@dataclass(frozen=True)
class HttpSettings:
    """The REST edge (``tpf serve``) and its input bounds."""

    host: str = "127.0.0.1"
    port: int = 8081
    max_body_bytes: int = 1_048_576
    max_wait_ms: int = 30_000  # cap on ?waitMs= long polls
    # Multipart release uploads carry artifacts, which outgrow JSON bodies; they stream to disk.
    max_upload_bytes: int = 268_435_456
    # Nesting bound of every JSON text from clients (bodies, envelope payload texts, descriptor
    # parts), checked before decoding so deep input is a 400, not a RecursionError.
    max_json_depth: int = 64
    # Bearer token /q/metrics requires (a literal or ``env:NAME``, resolved per request); unset,
    # metrics are public like the health probes.
    metrics_token: str | None = None
    event_loop: str = "uvloop"  # tpf serve's loop (keys.EVENT_LOOPS): uvloop measured faster


@dataclass(frozen=True)
class SurfaceSettings:
    """One REST surface. It is off unless enabled, and then needs exactly one of its token or
    token reference (``env:NAME``, resolved at request time)."""

    enabled: bool = False
    token: str | None = None
    token_ref: str | None = None


@dataclass(frozen=True)
class ControlPlaneSettings(SurfaceSettings):
    """The control plane surface (submit, status, complete)."""

    require_remote_worker: bool = False


@dataclass(frozen=True)
class AwsSettings:
    """Static AWS credentials for every AWS client (a local endpoint needs some, any will do).
    Unset: botocore's usual chain (environment, profile, instance role), as in production. The
    secret may be a reference (``env:NAME``)."""

    access_key_id: str | None = None
    secret_access_key: str | None = None


@dataclass(frozen=True)
class DynamoSettings:
    """DynamoDB stores. Names default to the original's; ``endpoint_override`` points at a
    local endpoint."""

    execution_table: str = "tpf_execution"
    execution_key_table: str = "tpf_execution_key"
    execution_payload_table: str = "tpf_execution_payload"
    # An expanded execution's items (issue 13), one item per stream item.
    execution_item_table: str = "tpf_execution_item"
    await_interaction_table: str = "tpf_await_interaction"
    await_interaction_key_table: str = "tpf_await_interaction_key"
    release_table: str = "tpf_release_registry"
    worker_table: str = "tpf_worker_registry"
    # Await admission slots (tpf.stores.budget.dynamo), used with await-admission.store=dynamo.
    await_admission_table: str = "tpf_await_admission"
    region: str | None = None
    endpoint_override: str | None = None
    # The six await-interaction GSIs of the original, plus our sharded execution indexes.
    index_by_unit: str = "await-interaction-by-unit"
    index_pending_by_tenant: str = "await-interaction-pending-by-tenant"
    index_pending_by_assignee: str = "await-interaction-pending-by-assignee"
    index_pending_by_group: str = "await-interaction-pending-by-group"
    index_pending_by_step: str = "await-interaction-pending-by-step"
    index_pending_by_deadline: str = "await-interaction-pending-by-deadline"
    index_execution_due: str = "execution-due"
    index_execution_dead_letters: str = "execution-dead-letters"
    index_unapplied: str = "await-interaction-unapplied"
    # The operator's search (issue 12): sharded by (tenant, shard), one per common filter.
    index_execution_search: str = "execution-search"
    index_execution_search_status: str = "execution-search-by-status"
    index_execution_search_pipeline: str = "execution-search-by-pipeline"
    index_interaction_by_execution: str = "await-interaction-by-execution"
    shards: int = 16  # spreads due/overdue index partitions (no single hot key)
    # Shards of each tenant's search partitions: a search page is one Query per shard.
    search_shards: int = 8
    # Status counter items (dynamo/status_counts.py): a count reads them in one BatchGetItem.
    count_shards: int = 32
    # Startup adds the indexes and tables this build needs beyond the original's layout
    # (tpf.stores.dynamo.schema_upgrade), waiting this long for each to become ACTIVE; with
    # ``False`` strict startup names them instead.
    schema_upgrade: bool = True
    schema_upgrade_timeout_ms: int = 600_000


@dataclass(frozen=True)
class SqsSettings:
    """The SQS work queue and DLQ."""

    region: str | None = None
    endpoint_override: str | None = None
    local_loopback: bool = True
    poll_start_delay_ms: int = 0
    receivers: int = 4
    queue_url: str | None = None
    dlq_url: str | None = None


@dataclass(frozen=True)
class S3Settings:
    """S3 release artifact storage."""

    bucket: str | None = None
    prefix: str = "tpf/releases"
    region: str | None = None
    endpoint_override: str | None = None
    path_style_access: bool = False


@dataclass(frozen=True)
class Settings:
    """Every setting the coordinator uses, one section per concern."""

    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    startup: StartupSettings = field(default_factory=StartupSettings)
    retries: RetrySettings = field(default_factory=RetrySettings)
    sweeper: SweeperSettings = field(default_factory=SweeperSettings)
    state: StateSettings = field(default_factory=StateSettings)
    sqlite: SqliteSettings = field(default_factory=SqliteSettings)
    releases: ReleaseSettings = field(default_factory=ReleaseSettings)
    work_queue: WorkQueueSettings = field(default_factory=WorkQueueSettings)
    dlq: DlqSettings = field(default_factory=DlqSettings)
    awaits: AwaitSettings = field(default_factory=AwaitSettings)
    await_admission: AwaitAdmissionSettings = field(default_factory=AwaitAdmissionSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    control_plane: ControlPlaneSettings = field(default_factory=ControlPlaneSettings)
    admin: SurfaceSettings = field(default_factory=SurfaceSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    dynamo: DynamoSettings = field(default_factory=DynamoSettings)
    sqs: SqsSettings = field(default_factory=SqsSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    # Remote transition workers, per protocol (tpf.config.worker_settings).
    worker_rest: RestWorkerSettings = field(default_factory=RestWorkerSettings)
    worker_grpc: GrpcWorkerSettings = field(default_factory=GrpcWorkerSettings)
    worker_sqs: SqsWorkerSettings = field(default_factory=SqsWorkerSettings)

    # Everything the configuration named that this build recognises but does not use yet.
    unsupported: dict[str, str] = field(default_factory=dict)

    @property
    def resolved_sqlite_path(self) -> str:
        return self.sqlite.path or f"{self.state.dir}/tpf.sqlite3"

    @property
    def resolved_releases_root(self) -> str:
        return self.releases.storage_root or f"{self.state.dir}/releases"

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``section__field=value`` changes (or a whole ``section=...``).

        The one spelling for changes whose names are data (test helpers forwarding
        ``**overrides``); code that names a field should use ``dataclasses.replace`` on the
        section, which mypy checks. An unknown name is a ``TypeError`` naming the closest one.
        """
        whole: dict[str, Any] = {}
        parts: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            section, nested, leaf = name.partition("__")
            if section not in _SECTIONS and section != "unsupported":
                raise TypeError(_unknown_change(name))
            if not nested:
                whole[section] = value
            elif section in _SECTIONS and leaf in _SECTIONS[section]:
                parts.setdefault(section, {})[leaf] = value
            else:
                raise TypeError(_unknown_change(name))
        merged = dataclasses.replace(self, **whole)
        sections = {
            section: dataclasses.replace(getattr(merged, section), **values)
            for section, values in parts.items()
        }
        return dataclasses.replace(merged, **sections)


def _section_fields() -> dict[str, tuple[str, ...]]:
    sections: dict[str, tuple[str, ...]] = {}
    for top in dataclasses.fields(Settings):
        section = getattr(Settings(), top.name)
        if dataclasses.is_dataclass(section):
            sections[top.name] = tuple(f.name for f in dataclasses.fields(section))
    return sections


_SECTIONS = _section_fields()


def field_paths() -> list[str]:
    """Every ``section.field`` of :class:`Settings`, in declaration order."""
    return [f"{section}.{leaf}" for section, leaves in _SECTIONS.items() for leaf in leaves]


def value_at(settings: Settings, path: str) -> Any:
    """The value of ``section.field`` in ``settings``."""
    section, _, leaf = path.partition(".")
    return getattr(getattr(settings, section), leaf)


def _unknown_change(name: str) -> str:
    known = [path.replace(".", "__") for path in field_paths()] + list(_SECTIONS)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"Settings has no {name!r} (write section__field){hint}"
