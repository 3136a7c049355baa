"""The shared secrets of the worker protocols, and every check of their configuration.

A protocol in use (its client target is set, or ``server-enabled=true``) needs exactly one of
``worker.<protocol>.shared-secret`` and ``-shared-secret-ref``; a reference is ``env:NAME`` or
``file:PATH`` and is resolved by the configuration's one secret resolver
(:func:`tpf.config.loader.resolve_secret`) when a client or server is built. Split from
:mod:`tpf.config.worker_targets` because this module reads the environment (through the loader),
which the provider tables' startup check must not import.
"""

from __future__ import annotations

from collections.abc import Mapping

from tpf.config.loader import process_environment, resolve_secret
from tpf.config.settings import Settings
from tpf.config.worker_targets import PROTOCOLS, in_use, protocol_section, target_errors
from tpf.core.errors import ConfigError

__all__ = ["shared_secret", "worker_errors"]

_W = "pipeline.orchestrator.worker."


def shared_secret(
    settings: Settings, protocol: str, environ: Mapping[str, str] | None = None
) -> str:
    """The shared secret of ``protocol``, its reference resolved; :class:`ConfigError` naming
    the keys when neither or both are set, or the reference does not resolve."""
    section = protocol_section(settings, protocol)
    key = f"{_W}{protocol}.shared-secret"
    value, ref = section.shared_secret, section.shared_secret_ref
    if value and ref:
        raise ConfigError(f"{key} and {key}-ref are both set; set exactly one")
    if ref:
        if not ref.startswith(("env:", "file:")):
            raise ConfigError(f"{key}-ref: expected env:NAME or file:PATH, got {ref!r}")
        try:
            return resolve_secret(ref, process_environment(environ))
        except ConfigError as exc:
            raise ConfigError(f"{key}-ref: {exc.message}") from None
    if value:
        try:
            return resolve_secret(value, process_environment(environ))
        except ConfigError as exc:
            raise ConfigError(f"{key}: {exc.message}") from None
    why = in_use(settings, protocol) or "the protocol is used"
    raise ConfigError(f"{key} or {key}-ref is required when {why}")


def worker_errors(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of the worker protocol configuration (see the module docstring)."""
    errors = target_errors(settings)
    for protocol in PROTOCOLS:
        if in_use(settings, protocol) is None:
            continue
        try:
            shared_secret(settings, protocol, environ)
        except ConfigError as exc:
            errors.append(exc.message)
    return errors


def metrics_token(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """``tpf.http.metrics-token`` resolved (a worker checks it on ``/q/metrics`` as the
    coordinator does), or None when unset; :class:`ConfigError` naming the key when its
    reference does not resolve, so a worker refuses to start rather than serve metrics open."""
    token = settings.http.metrics_token
    if not token:
        return None
    try:
        return resolve_secret(token, process_environment(environ))
    except ConfigError as exc:
        raise ConfigError(f"tpf.http.metrics-token: {exc.message}") from None
