"""The ``tpf`` command: builds the parser from the subcommand modules and runs one.

Each group of subcommands lives in its own module under :mod:`tpf.cli.main` and exposes
``register(subparsers)``; its handlers return the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from tpf import __version__

COMMAND_MODULES = (
    "tpf.cli.release",
    "tpf.cli.config",
    "tpf.cli.aws",
    "tpf.cli.dev",
    "tpf.cli.operator",
    "tpf.cli.serve",
    "tpf.cli.state",
    "tpf.cli.worker",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line naming the command, instead of the whole usage block first:
    the line is what matters (``--limit: must be at least 1``), ``--help`` shows the rest.
    Subcommand parsers are made with this class too (argparse uses the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tpf", description="tpf-coordinator")
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
