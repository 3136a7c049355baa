"""Output publish (issue 13): a terminal step writes its output object before the success commit.

A step that writes a file and then fails, or whose execution is taken over, runs again; the file
must then come out whole and the same, never half-written or doubled. :func:`publish_rows`
writes rows into a temporary file next to the target, flushes it to disk and renames it over
the target in one step (``os.replace`` is atomic on POSIX), so a reader sees the old file or the
new one, and a re-run simply replaces it with identical content. Rows are written as they come,
so an aggregation can stream a million rows through it without holding them.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence


def publish_rows(target: str, rows: Iterable[Sequence[object]]) -> int:
    """Write ``rows`` as CSV to ``target`` atomically; the number of rows written."""
    directory = os.path.dirname(os.path.abspath(target))
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{os.getpid()}.tmp")
    count = 0
    try:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for row in rows:
                writer.writerow(row)
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return count
