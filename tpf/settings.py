"""The coordinator's typed settings, with the original's defaults.

:mod:`tpf.config` is the only module that reads the environment and ``.properties`` files; it
produces one :class:`Settings`. Everything else receives a ``Settings`` (tests build one
directly), so no other module looks at ``os.environ``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpf.records import IdempotencyPolicy

# Provider names are listed once, in the provider tables (tpf/engine/transport_providers.py,
# tpf/stores/providers.py), which configuration validation reads.
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL")


@dataclass(frozen=True)
class Settings:
    """Every setting the coordinator uses. Durations are milliseconds (``*_ms``)."""

    # Execution lifecycle (pipeline.orchestrator.*)
    mode: str = "QUEUE_ASYNC"
    default_tenant: str = "default"
    execution_ttl_days: int = 7
    lease_ms: int = 30_000
    max_retries: int = 3
    retry_delay_ms: int = 10_000
    retry_multiplier: float = 2.0
    retry_jitter: float = 0.1  # ± fraction of each backoff delay (the original has none)
    sweep_interval_ms: int = 30_000
    sweep_limit: int = 100
    idempotency_policy: IdempotencyPolicy = IdempotencyPolicy.OPTIONAL_CLIENT_KEY
    strict_startup: bool = True

    # Providers
    state_provider: str = "sqlite"
    dispatcher_provider: str = "event"
    dlq_provider: str = "log"
    await_transport: str = "rest"
    releases_registry_provider: str = "file"
    releases_storage_provider: str = "local"
    worker_lifecycle_provider: str = "sqlite"

    # Embedded state: every file of the one-process default lives under this directory.
    state_dir: str = ".tpf"
    sqlite_path: str | None = None  # default: <state_dir>/tpf.sqlite3
    sqlite_synchronous: str = "NORMAL"
    releases_storage_root: str | None = None  # default: <state_dir>/releases
    # Directories a path registration may read descriptors and artifacts from (symlinks and
    # ``..`` resolved first); empty: anywhere, as in the original. Uploads are always allowed.
    releases_import_roots: tuple[str, ...] = ()

    # Local worker and admission
    worker_max_in_flight: int = 64
    worker_step_threads: int = 40  # threads running sync step code at once (tpf/step_threads.py)
    worker_stale_after_ms: int = 120_000
    worker_artifact_id: str | None = None
    worker_artifact_digest: str | None = None

    # Supervisors
    lease_renew_fraction: float = 0.5  # renew when this fraction of the lease has elapsed
    dead_letter_batch: int = 100
    ask_timeout_ms: int = 30_000

    # REST edge (``tpf serve``). Each surface is off unless enabled, and then needs exactly one
    # of its token or token reference (``env:NAME``, resolved at request time).
    http_host: str = "127.0.0.1"
    http_port: int = 8081
    http_max_body_bytes: int = 1_048_576
    http_max_wait_ms: int = 30_000  # cap on ?waitMs= long polls
    # Multipart release uploads carry artifacts, which outgrow JSON bodies; they stream to disk.
    http_max_upload_bytes: int = 268_435_456
    # Nesting bound of every JSON text from clients (bodies, envelope payload texts, descriptor
    # parts), checked before decoding so deep input is a 400, not a RecursionError.
    http_max_json_depth: int = 64
    # Bearer token /q/metrics requires (a literal or ``env:NAME``, resolved per request); unset,
    # metrics are public like the health probes.
    http_metrics_token: str | None = None
    control_plane_enabled: bool = False
    control_plane_token: str | None = None
    control_plane_token_ref: str | None = None
    control_plane_require_remote_worker: bool = False
    admin_enabled: bool = False
    admin_token: str | None = None
    admin_token_ref: str | None = None
    # HMAC secret of await resume tokens (spec §4.6); a literal or ``env:NAME``, resolved once
    # when the REST edge starts. Unset: pending interactions carry no token and completing by
    # token is refused.
    resume_token_secret: str | None = None

    # AWS: DynamoDB stores, SQS work queue and DLQ, S3 artifacts (the durable HA shape).
    # Names default to the original's; ``*_endpoint_override`` points at a local endpoint.
    dynamo_execution_table: str = "tpf_execution"
    dynamo_execution_key_table: str = "tpf_execution_key"
    dynamo_execution_payload_table: str = "tpf_execution_payload"
    dynamo_await_interaction_table: str = "tpf_await_interaction"
    dynamo_await_interaction_key_table: str = "tpf_await_interaction_key"
    dynamo_release_table: str = "tpf_release_registry"
    dynamo_worker_table: str = "tpf_worker_registry"
    dynamo_region: str | None = None
    dynamo_endpoint_override: str | None = None
    # The six await-interaction GSIs of the original, plus our sharded execution indexes.
    dynamo_index_by_unit: str = "await-interaction-by-unit"
    dynamo_index_pending_by_tenant: str = "await-interaction-pending-by-tenant"
    dynamo_index_pending_by_assignee: str = "await-interaction-pending-by-assignee"
    dynamo_index_pending_by_group: str = "await-interaction-pending-by-group"
    dynamo_index_pending_by_step: str = "await-interaction-pending-by-step"
    dynamo_index_pending_by_deadline: str = "await-interaction-pending-by-deadline"
    dynamo_index_execution_due: str = "execution-due"
    dynamo_index_execution_dead_letters: str = "execution-dead-letters"
    dynamo_index_unapplied: str = "await-interaction-unapplied"
    dynamo_shards: int = 16  # spreads due/overdue index partitions (no single hot key)
    # Startup adds the indexes and tables this build needs beyond the original's layout
    # (tpf.stores.dynamo.schema_upgrade), waiting this long for each to become ACTIVE; with
    # ``False`` strict startup names them instead.
    dynamo_schema_upgrade: bool = True
    dynamo_schema_upgrade_timeout_ms: int = 600_000
    sqs_region: str | None = None
    sqs_endpoint_override: str | None = None
    sqs_local_loopback: bool = True
    sqs_poll_start_delay_ms: int = 0
    sqs_receivers: int = 4
    queue_url: str | None = None
    dlq_url: str | None = None
    s3_bucket: str | None = None
    s3_prefix: str = "tpf/releases"
    s3_region: str | None = None
    s3_endpoint_override: str | None = None
    s3_path_style_access: bool = False
    # Static AWS credentials for every AWS client (a local endpoint needs some, any will do).
    # Unset: botocore's usual chain (environment, profile, instance role), as in production.
    # The secret may be a reference (env:NAME).
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    # Optional sweeper leadership: one coordinator sweeps, elected through a lease item.
    sweeper_leader_election: bool = False
    sweeper_leader_lease_ms: int = 15_000

    # Everything the configuration named that this build recognises but does not use yet.
    unsupported: dict[str, str] = field(default_factory=dict)

    @property
    def resolved_sqlite_path(self) -> str:
        return self.sqlite_path or f"{self.state_dir}/tpf.sqlite3"

    @property
    def resolved_releases_root(self) -> str:
        return self.releases_storage_root or f"{self.state_dir}/releases"

    @property
    def execution_ttl_ms(self) -> int:
        return max(1, self.execution_ttl_days) * 86_400_000
