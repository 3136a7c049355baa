"""Build one :class:`~tpf.config.settings.Settings` from files, the environment and CLI flags.

This is the only module that reads the environment (the key tables it reads them with are in
:mod:`tpf.config.keys`, the ``.properties`` syntax in :mod:`tpf.config.properties`). It
accepts the original's property names (``pipeline.orchestrator.<key>`` from spec §8, plus the
related ``pipeline.*`` / ``tpf.await.*`` keys) and our own ``tpf.*`` keys, from these sources,
highest precedence first:

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
``tpf.http.event-loop``,
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
ones that set nothing: see :mod:`tpf.config.check`). An empty value means
"unset", as in MicroProfile Config.

Errors are collected, not raised one at a time: :func:`read_sources` and :func:`parse_values`
return every problem they meet, :mod:`tpf.config.check` adds the checks across keys, and
:func:`load_settings` raises one :class:`ConfigError` listing them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tpf.config.broker_keys import AWAIT_TRANSPORT_KEY, TRANSPORT_ALIASES, TRANSPORT_SWITCHES
from tpf.config.keys import (
    _ENV_PREFIX,
    _ENV_TO_KEY,
    _KNOWN,
    _P,
    _SECRET_KEY,
    _SHORT_FORMS,
    _STRICT_PREFIXES,
    _SUPPORTED,
    _is_known,
    _unknown,
)
from tpf.config.properties import _read_properties
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError

# --- assembling Settings -------------------------------------------------------------------------

Layered = dict[str, tuple[str, str]]  # key -> (raw value, where it came from; "" = an override)


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
    errors += _apply_switches(layered)
    return layered, errors


def _apply_switches(layered: Layered) -> list[str]:
    """Read the original's await switches (``tpf.await.sqs.poller.enabled=true`` ...) into
    ``tpf.await-transport``, whichever source set them; a switch that contradicts the
    transport, or another switch, is an error rather than a silent choice."""
    errors: list[str] = []
    chosen: dict[str, tuple[str, str]] = {}  # transport -> (switch key, where)
    for key, transport in TRANSPORT_SWITCHES.items():
        raw, source = layered.pop(key, ("", ""))
        text = raw.strip().lower()
        if text not in ("", "true", "false"):
            errors.append(f"{key}: expected true or false, got {raw.strip()!r}")
        elif text == "true":
            chosen[transport] = (key, source or "override")
    if len(chosen) > 1:
        keys = " and ".join(key for key, _ in chosen.values())
        errors.append(f"{keys} are both true; choose one transport with {AWAIT_TRANSPORT_KEY}")
        return errors
    for transport, (key, where) in chosen.items():
        given = layered.get(AWAIT_TRANSPORT_KEY, ("", ""))[0].strip().lower()
        if given and TRANSPORT_ALIASES.get(given, given) != transport:
            errors.append(f"{AWAIT_TRANSPORT_KEY}={given} and {key}=true disagree; set only one")
        elif not given:
            layered[AWAIT_TRANSPORT_KEY] = (transport, f"{where} as {key}=true")
    return errors


def parse_values(layered: Layered, errors: list[str]) -> Settings:
    """Settings from the values that parse; each value that does not is one entry in errors."""
    sections: dict[str, dict[str, Any]] = {}
    unsupported: dict[str, str] = {}
    for key, (raw, source) in sorted(layered.items()):
        text = raw.strip()
        if not text:
            continue  # empty means unset
        spec = _SUPPORTED.get(key)
        if spec is None:
            unsupported[key] = "<redacted>" if _SECRET_KEY.search(key) else text
            continue
        path, parse = spec
        section, _, name = path.partition(".")
        try:
            sections.setdefault(section, {})[name] = parse(text, key)
        except ConfigError as exc:
            errors.append(f"{exc.message} ({source})" if source else exc.message)
    changes = {
        f"{section}__{name}": value
        for section, values in sections.items()
        for name, value in values.items()
    }
    return Settings(unsupported=unsupported).replace(**changes)


def resolve_secret(ref_or_value: str, environ: Mapping[str, str] | None = None) -> str:
    """Resolve ``env:NAME`` from the environment and ``file:PATH`` from a file (a mounted
    container secret; one trailing line break is dropped); any other value is taken literally."""
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
    if ref_or_value.startswith("file:"):
        return _file_secret(ref_or_value[5:].strip())
    for prefix in ("sys:", "config:"):
        if ref_or_value.startswith(prefix):
            # There are no JVM system properties here, and config-to-config refs invite cycles.
            raise ConfigError(
                f"secret reference {ref_or_value!r}: {prefix} references are not supported, "
                "use env:NAME or file:PATH"
            )
    return ref_or_value


def _file_secret(path: str) -> str:
    if not path:
        raise ConfigError("secret reference 'file:' names no file")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(65_536)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"secret reference file:{path}: cannot read it ({reason})") from None
    value = text.removesuffix("\n").removesuffix("\r")  # what `echo secret > file` adds
    if not value:
        raise ConfigError(f"secret reference file:{path}: the file is empty")
    return value


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
