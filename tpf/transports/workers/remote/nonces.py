"""Nonce guards: a signed request's nonce is accepted once.

The original keeps nonces per process, so a request replayed to another replica of a worker is
accepted (spec §7.2 GAP). A :class:`NonceGuard` may be shared by every replica (the SQLite and
DynamoDB guards in :mod:`tpf.stores.nonces`, opened by
:func:`tpf.stores.nonces.open_nonce_guard` from ``tpf.worker.nonce-store``);
:class:`MemoryNonceGuard` is the per-process fallback for a worker without a store, bounded like
the original's (10 000 nonces). Both live in the stores layer (below this one, so the store
factory can build either) and are re-exported here, where the verifiers use them.
"""

from __future__ import annotations

from tpf.stores.base import NonceGuard
from tpf.stores.nonces.memory import MemoryNonceGuard

__all__ = ["MemoryNonceGuard", "NonceGuard"]
