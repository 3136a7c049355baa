"""Configuration: the typed settings sections and the one place that reads the environment.

``from tpf.config import load_settings`` is the entry point (the README documents it);
:mod:`tpf.config.settings` holds the sections, :mod:`tpf.config.keys` the key tables,
:mod:`tpf.config.properties` the ``.properties`` reader, :mod:`tpf.config.loader` the sources
and their precedence, and :mod:`tpf.config.check` the checks across keys and the descriptions
for ``tpf config check``.
"""

from tpf.config.check import load_settings
from tpf.config.keys import is_secret, known_keys, setting_variables, supported_keys
from tpf.config.loader import (
    CLIENT_VARIABLES,
    ClientDefaults,
    Layered,
    client_defaults,
    parse_values,
    process_environment,
    read_sources,
    resolve_secret,
    unsupported_warnings,
)
from tpf.config.properties import format_errors, parse_properties, read_properties
from tpf.config.settings import Settings

__all__ = [
    "CLIENT_VARIABLES",
    "ClientDefaults",
    "Layered",
    "Settings",
    "client_defaults",
    "format_errors",
    "is_secret",
    "known_keys",
    "load_settings",
    "parse_properties",
    "parse_values",
    "process_environment",
    "read_properties",
    "read_sources",
    "resolve_secret",
    "setting_variables",
    "supported_keys",
    "unsupported_warnings",
]
