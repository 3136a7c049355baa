"""The local AWS server keeps connections alive (tpf.dev.moto_http) and answers every request
on a kept connection as on a new one; moto's SQS attribute shortcuts (tpf.dev.moto_sqs) give
moto's own answers."""

from __future__ import annotations

import http.client
import json
import logging
from urllib.parse import urlparse

import pytest
from moto.sqs.models import SQSBackend
from werkzeug.serving import WSGIRequestHandler

from tpf.dev import moto_sqs

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, "
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": SIGNED + "SignedHeaders=host, Signature=0",
}


def _call(
    conn: http.client.HTTPConnection, target: str, body: dict[str, object]
) -> dict[str, object]:
    payload = json.dumps(body).encode()
    conn.request("POST", "/", payload, {**HEADERS, "X-Amz-Target": f"AmazonSQS.{target}"})
    response = conn.getresponse()
    data = response.read()
    assert response.status == 200, data
    assert (response.getheader("Connection") or "").lower() != "close"
    answer: dict[str, object] = json.loads(data or b"{}")
    return answer


def test_requests_share_one_connection_and_see_each_others_effects(moto_endpoint: str) -> None:
    url = urlparse(moto_endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        queue = str(_call(conn, "CreateQueue", {"QueueName": "keep-alive"})["QueueUrl"])
        sock = conn.sock
        assert sock is not None
        entries = [{"Id": str(n), "MessageBody": f"m{n}" * 300} for n in range(10)]
        _call(conn, "SendMessageBatch", {"QueueUrl": queue, "Entries": entries})
        got = _call(conn, "ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": 10})
        messages = got["Messages"]
        assert isinstance(messages, list)
        assert sorted(m["Body"] for m in messages) == sorted(e["MessageBody"] for e in entries)
        receipts = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
        ]
        deleted = _call(conn, "DeleteMessageBatch", {"QueueUrl": queue, "Entries": receipts})
        assert len(deleted["Successful"]) == 10  # type: ignore[arg-type]
        assert conn.sock is sock  # never reconnected: the server kept the connection
        _call(conn, "DeleteQueue", {"QueueUrl": queue})
    finally:
        conn.close()


def test_a_request_asking_to_close_is_closed(moto_endpoint: str) -> None:
    url = urlparse(moto_endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/",
            b"{}",
            {**HEADERS, "X-Amz-Target": "AmazonSQS.ListQueues", "Connection": "close"},
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.will_close
    finally:
        conn.close()


def test_queue_attributes_are_moto_s_own() -> None:
    moto_sqs.serialize_sqs()
    # The shortcuts are what the server runs (under the lock), not shadowed by it.
    assert SQSBackend.get_queue_attributes.__wrapped__ is moto_sqs._queue_attributes  # type: ignore[attr-defined]
    assert SQSBackend.is_message_valid_based_on_retention_period is moto_sqs._retained
    backend = SQSBackend("us-east-1", "123456789012")
    backend.create_queue("attrs", MessageRetentionPeriod="120", VisibilityTimeout="7")
    names = ["MessageRetentionPeriod", "VisibilityTimeout", "ApproximateNumberOfMessages"]
    backend.send_message("attrs", "one")
    ours = backend.get_queue_attributes("attrs", names)
    theirs = moto_sqs._ORIGINAL_GET_ATTRIBUTES(backend, "attrs", names)
    assert (
        ours
        == theirs
        == {
            "MessageRetentionPeriod": 120,
            "VisibilityTimeout": 7,
            "ApproximateNumberOfMessages": 1,
        }
    )
    message = backend.receive_message("attrs", 10, 0, 30)[0]
    assert backend.is_message_valid_based_on_retention_period("attrs", message)
    message.sent_timestamp = 0  # sent at the epoch: long past its 120 s retention
    assert not backend.is_message_valid_based_on_retention_period("attrs", message)


def test_the_access_line_is_formatted_only_when_werkzeug_logs_it(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    formatted: list[object] = []
    original = WSGIRequestHandler.log_request

    def counting(self: WSGIRequestHandler, code: int | str = "-", size: int | str = "-") -> None:
        formatted.append(code)
        original(self, code, size)

    monkeypatch.setattr(WSGIRequestHandler, "log_request", counting)
    url = urlparse(moto_endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        _call(conn, "ListQueues", {})  # the fixture's level: WARNING, the line would be dropped
        assert formatted == []
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            _call(conn, "ListQueues", {})
        assert formatted == [200]
        assert any('"POST / HTTP/1.1" 200' in r.getMessage() for r in caplog.records)
    finally:
        conn.close()
