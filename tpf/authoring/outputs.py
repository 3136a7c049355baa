"""Output publish (issue 13): a terminal step writes its output object before the success commit.

A step that writes a file and then fails, or whose execution is taken over, runs again; the file
must then come out whole and the same, never half-written or doubled. :func:`publish_rows`
writes rows into a temporary file next to the target, flushes it to disk and renames it over
the target in one step (``os.replace`` is atomic on POSIX), so a reader sees the old file or the
new one, and a re-run simply replaces it with identical content. Rows are written as they come,
so an aggregation can stream a million rows through it without holding them.

An ``s3://bucket/key`` target (the HA shape, where the worker's disk is not where results are
read) is written the same way into a spooled temporary file (memory up to 8 MiB, then disk) and
stored with one ``PutObject``: S3 replaces an object whole, so a re-run stores the same object
again and a reader never sees a partial one. The client is botocore's default chain (the
environment's credentials and region; ``AWS_ENDPOINT_URL_S3`` for a local endpoint, which is
then addressed path-style).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence


def publish_rows(target: str, rows: Iterable[Sequence[object]]) -> int:
    """Write ``rows`` as CSV to ``target`` (a path, or ``s3://bucket/key``) atomically; the
    number of rows written."""
    if target.startswith("s3://"):
        return _publish_s3(target, rows)
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


def _publish_s3(target: str, rows: Iterable[Sequence[object]]) -> int:
    bucket, _, key = target.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ValueError(f"output target {target!r}: expected s3://bucket/key")
    import botocore.session  # only where an S3 output is published
    from botocore.config import Config

    local = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    config = Config(s3={"addressing_style": "path"}) if local else None
    client = botocore.session.get_session().create_client("s3", config=config)
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b") as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        for row in rows:
            writer.writerow(row)
            count += 1
        text.flush()
        spool.seek(0)
        client.put_object(Bucket=bucket, Key=key, Body=spool, ContentType="text/csv")
        text.detach()  # the spool closes with its own context, not through the wrapper
    client.close()
    return count
