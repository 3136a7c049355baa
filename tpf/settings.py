"""The coordinator's typed settings, with the original's defaults.

:mod:`tpf.config` is the only module that reads the environment and ``.properties`` files; it
produces one :class:`Settings`. Everything else receives a ``Settings`` (tests build one
directly), so no other module looks at ``os.environ``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tpf.records import IdempotencyPolicy

STATE_PROVIDERS = ("memory", "sqlite", "dynamo")
DISPATCHER_PROVIDERS = ("event", "sqs")
DLQ_PROVIDERS = ("log", "sqs", "kafka")
AWAIT_TRANSPORTS = ("rest", "sqs", "kafka")
RELEASE_REGISTRY_PROVIDERS = ("memory", "file", "dynamo")
ARTIFACT_STORAGE_PROVIDERS = ("local", "s3")
WORKER_LIFECYCLE_PROVIDERS = ("memory", "sqlite", "dynamo")
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL")


@dataclass(frozen=True)
class Settings:
    """Every setting the coordinator uses. Durations are milliseconds (``*_ms``)."""

    # Execution lifecycle (pipeline.orchestrator.*)
    mode: str = "QUEUE_ASYNC"
    default_tenant: str = "default"
    pipeline_id: str = "local-pipeline"
    release_version: str = "local-contract"
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

    # Local worker and admission
    worker_max_in_flight: int = 64
    worker_saturated_delay_ms: int = 1_000
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
    control_plane_enabled: bool = False
    control_plane_token: str | None = None
    control_plane_token_ref: str | None = None
    control_plane_require_remote_worker: bool = False
    admin_enabled: bool = False
    admin_token: str | None = None
    admin_token_ref: str | None = None

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
