"""Which SQLite errors are faults of the database itself, and what an operator does about them.

:func:`is_store_fault` separates a failing database (disk full, I/O error, read-only, locked,
corrupt: worth retrying once the operator acts) from a failing statement (a constraint, a bug in
our SQL); :func:`refusal` words startup's refusal of a database, with the remedy.
"""

from __future__ import annotations

import sqlite3

from tpf.core.errors import StoreUnavailable, StoreUnusable

# Primary result codes that say the database itself failed, not the statement (a constraint,
# a bug in our SQL): a retry may succeed once the operator frees space or fixes permissions.
FAULT_CODES = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)
# What an operator does about a database startup refuses, by primary result code.
REMEDY = {
    sqlite3.SQLITE_CORRUPT: "restore a backup (see tpf state check and tpf state backup)",
    sqlite3.SQLITE_NOTADB: "restore a backup (see tpf state check and tpf state backup)",
    sqlite3.SQLITE_READONLY: "make the file and its directory writable",
    sqlite3.SQLITE_PERM: "make the file and its directory writable",
    sqlite3.SQLITE_CANTOPEN: "make the file and its directory writable",
    sqlite3.SQLITE_FULL: "free disk space",
}


def is_store_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of the database (disk, file, lock) rather than of an
    operation; an ``OSError`` is one too (the directory cannot be created)."""
    if isinstance(exc, OSError):
        return True
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in FAULT_CODES
    # Raised without a result code (not by SQLite itself): judge by the class.
    return type(exc) in (sqlite3.OperationalError, sqlite3.DatabaseError, sqlite3.InternalError)


def refusal(path: str, exc: BaseException) -> StoreUnusable:
    """Why startup refuses the database at ``path``, and what to do about it."""
    code = getattr(exc, "sqlite_errorcode", None)
    remedy = REMEDY.get(code & 0xFF) if code is not None else None
    if isinstance(exc, OSError):
        remedy = "check the path: its directory must be a writable directory"
    problem = exc.detail if isinstance(exc, StoreUnavailable) else str(exc)
    return StoreUnusable(
        f"the SQLite database {path} cannot be used: {problem}" + (f"; {remedy}" if remedy else "")
    )


def describe(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return f"{name}: {exc}"
