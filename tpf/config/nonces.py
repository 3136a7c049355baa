"""Which nonce store a worker's signature checks use, and where it lives.

A signed worker request's nonce is accepted once (spec §7.2). The original remembers nonces per
process, so a request replayed to another replica is accepted (a GAP); ``tpf.worker.nonce-store``
picks a store every replica shares: ``sqlite`` (one file for the replicas on one host), ``dynamo``
(a table for replicas anywhere) or ``memory`` (per process, the original's behaviour). The
default, ``auto``, follows the process's own stores: DynamoDB if any of them is on DynamoDB, SQLite
if any is on SQLite (the embedded default), memory when they are all in memory (tests, demos).
The guards themselves are in :mod:`tpf.stores.nonces`.
"""

from __future__ import annotations

from tpf.config.settings import Settings

NONCE_STORES = ("auto", "memory", "sqlite", "dynamo")
NONCE_FILE = "worker-nonces.sqlite3"  # beside the state, not in it: replicas share this file


def nonce_store(settings: Settings) -> str:
    """The nonce store ``settings`` choose: ``memory``, ``sqlite`` or ``dynamo``."""
    chosen = settings.workers.nonce_store
    if chosen != "auto":
        return chosen
    stores = (settings.state.provider, settings.workers.lifecycle_provider)
    if "dynamo" in stores:
        return "dynamo"
    if "sqlite" in stores:
        return "sqlite"
    return "memory"


def nonce_path(settings: Settings) -> str:
    """The SQLite file of the ``sqlite`` nonce store (default: in the state directory)."""
    return settings.workers.nonce_path or f"{settings.state.dir}/{NONCE_FILE}"
