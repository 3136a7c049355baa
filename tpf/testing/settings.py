"""The settings a :class:`~tpf.testing.TestEnv` runs on: small, fast, deterministic.

Everything lives under the env's directory; the retry backoff has no jitter (a test computes
the due times), leases and sweeps are short so a takeover needs little clock, and the DLQ is the
env's recording sink. A test's own ``settings`` or ``overrides`` win.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tpf.config.settings import Settings

# The providers of each store choice: memory keeps everything in this process's objects (the
# env hands the same objects to a restarted coordinator); sqlite keeps it in files.
PROVIDERS: dict[str, dict[str, str]] = {
    "memory": {
        "state__provider": "memory",
        "workers__lifecycle_provider": "memory",
        "releases__registry_provider": "memory",
    },
    "sqlite": {
        "state__provider": "sqlite",
        "workers__lifecycle_provider": "sqlite",
        "releases__registry_provider": "file",
    },
    # Shared state the env's successive coordinators keep using (as memory's objects).
    "dynamo": {
        "state__provider": "dynamo",
        "workers__lifecycle_provider": "memory",
        "releases__registry_provider": "memory",
        "releases__storage_provider": "local",
    },
}

DEFAULTS: dict[str, Any] = {
    "retries__delay_ms": 1_000,
    "retries__jitter": 0.0,
    "execution__lease_ms": 10_000,
    "sweeper__interval_ms": 1_000,
}


def env_settings(
    root: Path, store: str, base: Settings | None, overrides: dict[str, Any]
) -> Settings:
    if store not in PROVIDERS:
        raise ValueError(f"store must be one of {', '.join(PROVIDERS)}, got {store!r}")
    settings = base or Settings().replace(**DEFAULTS)
    settings = replace(settings, state=replace(settings.state, dir=str(root / "state")))
    return settings.replace(**PROVIDERS[store], **overrides)
