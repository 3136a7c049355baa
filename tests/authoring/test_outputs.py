"""Output publish (issue 13): ``publish_rows`` writes a whole file or nothing, and a re-run
rewrites the same content; an ``s3://`` target is one object on S3 (moto over HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest

from tpf.authoring.outputs import publish_rows

ROWS = [("ID", "Status"), ("1", "APPROVED"), ("2", "UNAPPROVED")]


def test_a_file_is_written_whole_and_rewritten_identically(tmp_path: Path) -> None:
    target = tmp_path / "payments.csv.out"
    assert publish_rows(str(target), iter(ROWS)) == 3
    first = target.read_bytes()
    assert first == b"ID,Status\r\n1,APPROVED\r\n2,UNAPPROVED\r\n"
    assert publish_rows(str(target), iter(ROWS)) == 3  # a re-run after a crash
    assert target.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payments.csv.out"]  # no leftovers


def test_a_failure_mid_rows_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    publish_rows(str(target), iter(ROWS))

    def failing() -> Iterator[tuple[str, str]]:
        yield ("ID", "Status")
        raise RuntimeError("the aggregation failed half way")

    with pytest.raises(RuntimeError, match="half way"):
        publish_rows(str(target), failing())
    assert target.read_bytes() == b"ID,Status\r\n1,APPROVED\r\n2,UNAPPROVED\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_an_s3_target_is_one_object(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("AWS_ENDPOINT_URL_S3", moto_endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    bucket = f"outputs-{uuid.uuid4().hex[:8]}"
    s3 = botocore.session.get_session().create_client("s3", endpoint_url=moto_endpoint)
    try:
        s3.create_bucket(Bucket=bucket)
        assert publish_rows(f"s3://{bucket}/runs/payments.csv.out", iter(ROWS)) == 3
        body = s3.get_object(Bucket=bucket, Key="runs/payments.csv.out")["Body"].read()
        assert body == b"ID,Status\r\n1,APPROVED\r\n2,UNAPPROVED\r\n"
        with pytest.raises(ValueError, match="s3://bucket/key"):
            publish_rows(f"s3://{bucket}", iter(ROWS))
    finally:
        s3.close()
