"""Checks across a whole configuration, and its description for people (``tpf config check``).

:func:`check_configuration` reads every source as :mod:`tpf.config.loader` does and returns a
:class:`Report`: the settings the valid values make, every error found (not only the first)
and where each value came from. :func:`tpf.config.load_settings`, and so ``tpf serve``, refuses
to start on the same errors. Besides the value errors found while reading, the checks here are:

- an enabled REST surface needs exactly one of its token and its token reference;
- static AWS credentials come as a pair (key id and secret);
- a secret reference (``env:NAME``, ``file:PATH``) must resolve now: it would fail every request
  later;
- the remote worker protocols' keys hold together (:mod:`tpf.config.worker_secrets`: one
  target at most, ``require-remote-worker`` has one, each protocol in use has its secret);
- a ``TPF_*`` environment variable that sets nothing is a misspelt short form
  (``TPF_STATE_PROVDER``), unless the ``tpf`` command reads it, a secret reference names it,
  or its name says it holds a secret (``..._SECRET``, ``..._TOKEN``, ``..._PASSWORD``).

:func:`effective_configuration` lists every implemented key with its value, marking defaults;
:func:`describe` lists only what differs from the defaults (``tpf serve``'s startup log).
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tpf.config.keys import is_secret, setting_variables, supported_keys
from tpf.config.loader import (
    CLIENT_VARIABLES,
    Layered,
    parse_values,
    process_environment,
    read_sources,
    resolve_secret,
    unsupported_warnings,
)
from tpf.config.properties import format_errors
from tpf.config.settings import Settings, SurfaceSettings, field_paths, value_at
from tpf.config.worker_secrets import worker_errors
from tpf.core.errors import ConfigError

__all__ = [
    "Report",
    "check_configuration",
    "credential_errors",
    "describe",
    "effective_configuration",
    "reference_errors",
    "rest_surface_warnings",
    "short_form_typos",
    "surface_errors",
    "warnings",
]

_P = "pipeline.orchestrator."
# A secret's variable (the recipe's TPF_WORKER_SECRET) is referenced by the configuration of
# the process that uses it, not necessarily by this one's (`tpf bootstrap aws` shares the
# environment of the coordinator): never a typo.
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD")
# Test-suite knobs in the TPF_ namespace: not settings, not typos.
_TEST_VARIABLES = frozenset({"TPF_FUZZ_EXAMPLES", "TPF_OPENAPI_FUZZ_EXAMPLES"})
# Settings whose value may be a secret reference (env:NAME), resolved when used.
_SECRET_FIELDS = (
    "control_plane.token",
    "control_plane.token_ref",
    "admin.token",
    "admin.token_ref",
    "awaits.resume_token_secret",
    "http.metrics_token",
    "aws.secret_access_key",
    "kafka.sasl_password",
)
# Defaults computed from another setting, shown as what they resolve to.
_DERIVED_DEFAULTS = {
    "sqlite.path": "<state-dir>/tpf.sqlite3",
    "releases.storage_root": "<state-dir>/releases",
}


@dataclass(frozen=True)
class Report:
    """One reading of every source. ``sources`` maps each key given a value to where it came
    from (``in FILE``, ``set by VARIABLE`` or ``override``)."""

    settings: Settings
    errors: tuple[str, ...]
    sources: Mapping[str, str]


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    config_file: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every source (see the module docstring) into a validated :class:`Settings`.

    Raises one :class:`ConfigError` listing every error, not only the first."""
    report = check_configuration(environ, config_file=config_file, overrides=overrides)
    if report.errors:
        raise ConfigError(format_errors(report.errors))
    return report.settings


def check_configuration(
    environ: Mapping[str, str] | None = None,
    *,
    config_file: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Report:
    """Read and check the configuration, collecting every error instead of stopping."""
    env = process_environment(environ)
    layered, errors = read_sources(env, config_file=config_file, overrides=overrides)
    errors += short_form_typos(env, layered)
    settings = parse_values(layered, errors)
    errors += surface_errors(settings)
    errors += credential_errors(settings)
    errors += reference_errors(settings, env)
    errors += worker_errors(settings, env)
    sources = {key: source or "override" for key, (raw, source) in layered.items() if raw.strip()}
    return Report(settings, tuple(errors), sources)


def short_form_typos(env: Mapping[str, str], layered: Layered) -> list[str]:
    """``TPF_*`` variables that set nothing and that nothing reads: most likely misspelt."""
    known = setting_variables()
    values = (raw.strip() for raw, _ in layered.values())
    referenced = {value[4:].strip() for value in values if value.startswith("env:")}
    errors: list[str] = []
    for name in sorted(env):
        if not name.startswith("TPF_") or name in known or name in referenced:
            continue
        if name in CLIENT_VARIABLES or name in _TEST_VARIABLES or _SECRET_NAME.search(name):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        errors.append(f"{name}: unknown configuration variable (environment variable){hint}")
    return errors


def surface_errors(settings: Settings) -> list[str]:
    """An enabled REST surface needs exactly one of its token and its token reference."""
    errors: list[str] = []
    surfaces: tuple[tuple[str, SurfaceSettings], ...] = (
        ("control-plane", settings.control_plane),
        ("admin", settings.admin),
    )
    for surface, section in surfaces:
        enabled, token, ref = section.enabled, section.token, section.token_ref
        if enabled and not (token or ref):
            errors.append(
                f"{_P}{surface}.enabled=true needs {_P}{surface}.admin-token or "
                f"{_P}{surface}.admin-token-ref"
            )
        if token and ref:
            errors.append(
                f"{_P}{surface}.admin-token and {_P}{surface}.admin-token-ref are both set; "
                "set exactly one"
            )
    return errors


def credential_errors(settings: Settings) -> list[str]:
    """Static AWS credentials are a pair: one alone would silently use the default chain."""
    if bool(settings.aws.access_key_id) == bool(settings.aws.secret_access_key):
        return []
    return ["tpf.aws.access-key-id and tpf.aws.secret-access-key must be set together"]


def reference_errors(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """Secret references that do not resolve in ``env`` (each would answer 401/503 later)."""
    key_of = {field: key for key, field in supported_keys().items()}
    errors: list[str] = []
    for name in _SECRET_FIELDS:
        value = value_at(settings, name)
        if value and value.startswith(("env:", "file:", "sys:", "config:")):
            try:
                resolve_secret(value, env)
            except ConfigError as exc:  # its message names the variable
                errors.append(f"{key_of[name]}: {exc.message}")
    return errors


def rest_surface_warnings(settings: Settings) -> list[str]:
    """``tpf serve`` with both surfaces off serves only health, metrics and OpenAPI."""
    if settings.control_plane.enabled or settings.admin.enabled:
        return []
    return [
        "the control plane and the admin API are both disabled: every /tpf/ API route will "
        f"answer 404; set {_P}control-plane.enabled=true and/or {_P}admin.enabled=true "
        "(each with its admin-token or admin-token-ref)"
    ]


def warnings(settings: Settings) -> list[str]:
    """Everything worth a warning about a valid configuration."""
    return unsupported_warnings(settings) + rest_surface_warnings(settings)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return _DERIVED_DEFAULTS.get(name, "<unset>")
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):  # a list setting, shown as it is written
        return ",".join(value) or "<unset>"
    if is_secret(name) and not str(value).startswith("env:"):
        return "<redacted>"  # literal tokens and secrets stay out of logs and terminals
    return str(value)


def describe(settings: Settings) -> list[str]:
    """``key = value`` for each setting that differs from its default (for a startup log)."""
    defaults = Settings()
    key_of = {path: key for key, path in supported_keys().items()}
    return [
        f"{key_of.get(path, path)} = {_shown(path, value_at(settings, path))}"
        for path in field_paths()
        if value_at(settings, path) != value_at(defaults, path)
    ]


def effective_configuration(report: Report) -> list[str]:
    """Every implemented key, ``key = value  (default)`` or ``(set by X)`` / ``(in FILE)``."""
    lines: list[str] = []
    for key, name in supported_keys().items():
        where = report.sources.get(key)
        value = _shown(name, value_at(report.settings, name))
        lines.append(f"{key} = {value}  ({where or 'default'})")
    return lines
