"""The ``tpf`` command: builds the parser from the subcommand modules and runs one.

Each group of subcommands lives in its own module under :mod:`tpf.commands` and exposes
``register(subparsers)``; its handlers return the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tpf import __version__

COMMAND_MODULES = (
    "tpf.commands.release",
    "tpf.commands.config",
    "tpf.commands.aws",
    "tpf.commands.operator",
    "tpf.commands.serve",
    "tpf.commands.state",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf", description="tpf-coordinator")
    parser.add_argument("--version", action="version", version=f"tpf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
