"""``tpf config check``: load the configuration as a coordinator would and print it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tpf.config import describe, load_settings, unsupported_warnings
from tpf.errors import ConfigError


def _check(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(config_file=args.config)
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    for line in describe(settings) or ["(all defaults)"]:
        print(line)
    for line in unsupported_warnings(settings):
        print(f"warning: {line}", file=sys.stderr)
    return 0


def register(commands: Any) -> None:
    config = commands.add_parser("config", help="inspect the configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate and print the configuration")
    check.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
    check.set_defaults(handler=_check)
