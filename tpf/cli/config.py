"""``tpf config check``: load the configuration as a coordinator would and print it.

It prints every implemented key with its effective value (defaults marked, secrets redacted)
and warnings to stderr, or every error found (exit status 2): the same checks ``tpf serve``
runs before it opens anything: the values, the chosen providers' required settings, and the
Kafka connection when a provider uses Kafka (``security.protocol`` against the SASL and TLS
keys, the password reference, the CA file loaded). Reaching the brokers and AWS is left to
``tpf serve``'s strict startup.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tpf.config import format_errors
from tpf.config.check import check_configuration, effective_configuration, warnings
from tpf.config.providers import check_chosen, kafka_topics
from tpf.config.settings import Settings
from tpf.core.errors import ConfigError


def provider_errors(settings: Settings) -> list[str]:
    """What the chosen providers would refuse at startup, before connecting to anything."""
    try:
        check_chosen(settings)
        if kafka_topics(settings):
            from tpf.kafka.settings import kafka_connection

            kafka_connection(settings).client_kwargs()  # loads the CA file, if any
    except ConfigError as exc:
        return [exc.message]
    return []


def _check(args: argparse.Namespace) -> int:
    report = check_configuration(config_file=args.config)
    errors = list(report.errors) or provider_errors(report.settings)
    if errors:
        print(f"invalid configuration: {format_errors(errors)}", file=sys.stderr)
        return 2
    for line in effective_configuration(report):
        print(line)
    for line in warnings(report.settings):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def register(commands: Any) -> None:
    config = commands.add_parser("config", help="inspect the configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the configuration")
    check.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    check.set_defaults(handler=_check)
