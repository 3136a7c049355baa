"""A small tmpfs mounted for one test: a real filesystem that fills up or turns read-only.

The suite runs as root (CI included), which may mount; chmod alone cannot stop root's writes.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def mounted_tmpfs(mount: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a ``size`` tmpfs at ``mount`` (created), and unmount it afterwards."""
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
