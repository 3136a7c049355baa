"""``tpf state backup FILE`` and ``tpf state check``: operate on the embedded SQLite database.

Both open their own connection to the database file named by the configuration
(``<state dir>/tpf.sqlite3``, or ``--database``), read-only, and take no other lock, so they
run against a live ``tpf serve`` on the same state directory as well as a stopped one.

``backup`` uses SQLite's online backup API in one step, i.e. inside one read transaction: the
copy is the consistent snapshot of one moment (WAL included), however much the coordinator
writes meanwhile, and the coordinator is never blocked. It is written beside ``FILE``, checked,
switched to a rollback journal (one self-contained file) and renamed over ``FILE``, so ``FILE``
is always either the previous backup or a complete new one. Copying ``tpf.sqlite3`` with ``cp``
while the coordinator runs is not a backup: recent commits may still be in ``tpf.sqlite3-wal``.

``check`` runs ``PRAGMA quick_check`` (``--full``: ``integrity_check``, which also verifies
indexes against their tables) and prints ``ok`` or the problems, exiting 1 when there are any.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from tpf.config import load_settings
from tpf.core.errors import ConfigError

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class StateError(Exception):
    """A backup or check that cannot run (no database, bad target): exit 2 with the message."""


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that never creates, writes or locks beyond what readers do."""
    if not path.is_file():
        raise StateError(f"no SQLite database at {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout=5000")  # readers see SQLITE_BUSY only in rare moments
    return conn


def check_database(path: Path, *, full: bool = False) -> list[str]:
    """The problems SQLite finds in the database at ``path``; empty when it is sound."""
    try:
        conn = open_read_only(path)
    except sqlite3.Error as exc:
        return [f"cannot open: {exc}"]
    try:
        pragma = "integrity_check" if full else "quick_check"
        rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
        return [str(exc)]
    finally:
        conn.close()
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems


def backup_database(source: Path, target: Path) -> int:
    """Copy the database at ``source`` to ``target`` consistently; returns the bytes written."""
    if target.is_dir():
        raise StateError(f"{target} is a directory; name the backup file")
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise StateError(f"{target} is the database itself")
    if not target.parent.is_dir():
        raise StateError(f"directory {target.parent} does not exist")
    src = open_read_only(source)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: all pages in one step, i.e. one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one file, no -wal beside it
            problems = [row[0] for row in dst.execute("PRAGMA quick_check").fetchall()]
        finally:
            dst.close()
        if problems != ["ok"]:
            raise StateError(f"the copy fails its check: {'; '.join(map(str, problems))}")
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        src.close()
    return target.stat().st_size


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _database(args: argparse.Namespace) -> Path:
    if args.database:
        return Path(args.database)
    settings = load_settings(config_file=args.config)
    if "sqlite" not in (settings.state.provider, settings.workers.lifecycle_provider):
        raise StateError(
            f"state-provider is {settings.state.provider}: there is no SQLite database to operate "
            "on (back up DynamoDB with its own point-in-time recovery)"
        )
    return Path(settings.resolved_sqlite_path)


def _backup(args: argparse.Namespace) -> int:
    try:
        database = _database(args)
        size = backup_database(database, Path(args.file))
    except (ConfigError, StateError) as exc:
        print(f"tpf state backup: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.Error as exc:  # e.g. a corrupted source: nothing was written
        print(f"tpf state backup: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"tpf state backup: {database} -> {args.file} ({size} bytes)")
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        problems = check_database(_database(args), full=args.full)
    except (ConfigError, StateError) as exc:
        print(f"tpf state check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in problems or ["ok"]:
        print(line)
    return EXIT_PROBLEMS if problems else 0


def register(commands: Any) -> None:
    state = commands.add_parser("state", help="back up or check the embedded SQLite database")
    state_commands = state.add_subparsers(dest="state_command", required=True)
    backup = state_commands.add_parser(
        "backup", help="copy the database consistently, also while tpf serve runs"
    )
    backup.add_argument("file", metavar="FILE", help="the backup file to write (replaced)")
    check = state_commands.add_parser("check", help="verify the database (PRAGMA quick_check)")
    check.add_argument(
        "--full", action="store_true", help="PRAGMA integrity_check (slower: also the indexes)"
    )
    for parser, handler in ((backup, _backup), (check, _check)):
        parser.add_argument("--config", help=".properties file (default: $TPF_CONFIG)")
        parser.add_argument(
            "--database", help="a database file instead of the configured <state dir>/tpf.sqlite3"
        )
        parser.set_defaults(handler=handler)
