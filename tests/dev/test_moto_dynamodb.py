"""moto's DynamoDB shortcuts (tpf.dev.moto_dynamodb) answer every request byte for byte as
moto's own code does: the same seeded workload (conditional writes that win and lose,
transactions that commit and cancel, table and index queries paged with Limit and
ExclusiveStartKey, attribute values of every type, refusals) runs on moto as shipped and with
the shortcuts, each in its own account, and the answers are compared."""

from __future__ import annotations

import io
import json
import random
import sys
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from tpf.dev import moto_dynamodb
from tpf.dev.moto import SerializedDynamo, journal_transactions

Request = tuple[str, dict[str, Any]]
SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/dynamodb/aws4_request, "
KEY_TYPES = ("S", "N")


def _app_caller(account: str) -> Any:
    app = SerializedDynamo(DomainDispatcherApplication(create_backend_app))

    def call(target: str, body: dict[str, Any]) -> tuple[str, str, str]:
        raw = json.dumps(body).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "5000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:5000",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(raw),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(raw)),
            "HTTP_X_AMZ_TARGET": f"DynamoDB_20120810.{target}",
            "HTTP_AUTHORIZATION": SIGNED + "SignedHeaders=host, Signature=0",
            "HTTP_X_MOTO_ACCOUNT_ID": account,
        }
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
            started.append((status, headers))

        answer = b"".join(app(environ, start_response)).decode()
        status, headers = started[0]
        content_type = dict(headers).get("Content-Type", "")
        return status, content_type, answer.replace(account, "ACCOUNT")

    return call


def _tables() -> list[Request]:
    def attr(name: str, kind: str = "S") -> dict[str, str]:
        return {"AttributeName": name, "AttributeType": kind}

    return [
        (
            "CreateTable",
            {
                "TableName": "ranged",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    attr("pk"),
                    attr("sk", "N"),
                    attr("shard"),
                    attr("due", "N"),
                    attr("owner"),
                ],
                "GlobalSecondaryIndexes": [
                    {  # sparse, with a range key: the due/unapplied indexes' shape
                        "IndexName": "by-due",
                        "KeySchema": [
                            {"AttributeName": "shard", "KeyType": "HASH"},
                            {"AttributeName": "due", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    },
                    {  # hash only, keys projected: the table's range key sorts it
                        "IndexName": "by-owner",
                        "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    },
                ],
            },
        ),
        (
            "CreateTable",
            {
                "TableName": "plain",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [attr("id"), attr("group")],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "by-group",
                        "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            },
        ),
    ]


def _value(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["S", "S", "N", "BOOL", "NULL", "M", "L", "SS", "NS", "B", "S0"])
    if kind == "S0":
        return {"S": ""}
    if kind == "S":
        return {"S": rng.choice(["a", "b", "ü", "x" * rng.randint(1, 50)])}
    if kind == "N":
        return {"N": rng.choice(["1", "-2.5", "10", "1E+3", "0.10"])}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "M":
        return {"M": {"in": {"S": "side"}, "n": {"N": "3"}, "deep": {"L": [{"BOOL": False}]}}}
    if kind == "L":
        return {"L": [{"S": "one"}, {"N": "2"}, {"M": {}}]}
    if kind == "SS":
        return {"SS": ["p", "q"]}
    if kind == "NS":
        return {"NS": ["1", "2"]}
    return {"B": "aGVsbG8="}


def _ranged_item(rng: random.Random, pk: int, sk: int, version: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"p{pk}"},
        "sk": {"N": str(sk)},
        "version": {"N": str(version)},
        "payload": _value(rng),
        "extra": _value(rng),
    }
    if rng.random() < 0.6:  # in the sparse index
        item["shard"] = {"S": f"s{rng.randint(0, 2)}"}
        item["due"] = {"N": str(rng.randint(0, 40))}
    if rng.random() < 0.5:
        item["owner"] = {"S": f"o{rng.randint(0, 3)}"}
    return item


def _queries(rng: random.Random) -> list[Request]:
    shard, owner, pk = f"s{rng.randint(0, 3)}", f"o{rng.randint(0, 4)}", f"p{rng.randint(0, 6)}"
    limit = rng.choice([1, 2, 3, 5, 100])
    forward = rng.random() < 0.7
    return [
        (
            "Query",
            {
                "TableName": "ranged",
                "IndexName": "by-due",
                "KeyConditionExpression": "shard = :s AND due <= :u",
                "ExpressionAttributeValues": {":s": {"S": shard}, ":u": {"N": "25"}},
                "Limit": limit,
                "ScanIndexForward": forward,
            },
        ),
        (
            "Query",
            {
                "TableName": "ranged",
                "IndexName": "by-owner",
                "KeyConditionExpression": "#o = :o",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {":o": {"S": owner}},
                "Limit": limit,
            },
        ),
        (
            "Query",
            {
                "TableName": "ranged",
                "KeyConditionExpression": rng.choice(
                    ["pk = :p", "pk = :p AND sk >= :lo", "pk = :p AND sk BETWEEN :lo AND :hi"]
                ),
                "ExpressionAttributeValues": {
                    ":p": {"S": pk},
                    ":lo": {"N": "3"},
                    ":hi": {"N": "12"},
                },
                "Limit": limit,
                "ScanIndexForward": forward,
                "ConsistentRead": True,
            },
        ),
        (
            "Query",
            {
                "TableName": "ranged",
                "KeyConditionExpression": "pk = :p",
                "FilterExpression": "version > :v",
                "ProjectionExpression": "pk, sk, payload",
                "ExpressionAttributeValues": {":p": {"S": pk}, ":v": {"N": "1"}},
            },
        ),
        (
            "Query",
            {
                "TableName": "plain",
                "IndexName": "by-group",
                "KeyConditionExpression": "#g = :g",
                "ExpressionAttributeNames": {"#g": "group"},
                "ExpressionAttributeValues": {":g": {"S": f"g{rng.randint(0, 3)}"}},
                "Limit": limit,
            },
        ),
        (
            "Query",
            {
                "TableName": "plain",
                "KeyConditionExpression": "id = :i",
                "ExpressionAttributeValues": {":i": {"S": f"i{rng.randint(0, 12)}"}},
            },
        ),
    ]


def _writes(rng: random.Random) -> Iterator[Request]:
    pk, sk, version = rng.randint(0, 6), rng.randint(0, 15), rng.randint(0, 3)
    item = _ranged_item(rng, pk, sk, version + 1)
    key = {"pk": item["pk"], "sk": item["sk"]}
    choice = rng.randint(0, 9)
    if choice <= 2:  # a version-conditional write (wins or loses), old item on a loss
        yield (
            "PutItem",
            {
                "TableName": "ranged",
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk) OR #v = :expected",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(version)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    elif choice == 3:
        yield (
            "PutItem",
            {
                "TableName": "ranged",
                "Item": item,
                "ConditionExpression": "attribute_not_exists(sk)",
                "ReturnValues": "ALL_OLD",
                "ReturnConsumedCapacity": "TOTAL",
            },
        )
    elif choice == 4:  # a transaction: commits, or cancels on one of its conditions
        other = _ranged_item(rng, rng.randint(0, 6), rng.randint(0, 15), 1)
        yield (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {
                        "Put": {
                            "TableName": "ranged",
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": "plain",
                            "Item": {"id": {"S": f"i{rng.randint(0, 12)}"}, "group": {"S": "g1"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": "ranged",
                            "Key": {"pk": other["pk"], "sk": other["sk"]},
                            "UpdateExpression": "SET version = :one",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            },
        )
    elif choice == 5:
        yield (
            "UpdateItem",
            {
                "TableName": "ranged",
                "Key": key,
                "UpdateExpression": "SET owner = :o, due = :d",
                "ExpressionAttributeValues": {":o": {"S": "o1"}, ":d": {"N": "7"}},
                "ReturnValues": "ALL_NEW",
            },
        )
    elif choice == 6:
        yield (
            "DeleteItem",
            {
                "TableName": "ranged",
                "Key": key,
                "ConditionExpression": "version < :v",
                "ExpressionAttributeValues": {":v": {"N": "3"}},
                "ReturnValues": "ALL_OLD",
            },
        )
    elif choice == 7:
        group = {"group": {"S": f"g{rng.randint(0, 3)}"}} if rng.random() < 0.7 else {}
        yield (
            "PutItem",
            {
                "TableName": "plain",
                "Item": {"id": {"S": f"i{rng.randint(0, 12)}"}, **group, "v": _value(rng)},
            },
        )
    else:
        yield ("GetItem", {"TableName": "ranged", "Key": key, "ConsistentRead": True})
        yield (
            "BatchGetItem",
            {"RequestItems": {"ranged": {"Keys": [key, {"pk": {"S": "p0"}, "sk": {"N": "1"}}]}}},
        )


def _refusals() -> list[Request]:
    big = {"pk": {"S": "p0"}, "sk": {"N": "99"}, "blob": {"S": "x" * 410_000}}
    return [
        ("PutItem", {"TableName": "ranged", "Item": big}),
        ("PutItem", {"TableName": "ranged", "Item": {"pk": {"N": "1"}, "sk": {"N": "1"}}}),
        (
            "Query",
            {
                "TableName": "ranged",
                "IndexName": "no-such-index",
                "KeyConditionExpression": "shard = :s",
                "ExpressionAttributeValues": {":s": {"S": "s0"}},
            },
        ),
        ("GetItem", {"TableName": "missing", "Key": {"pk": {"S": "p0"}}}),
        # An expression parsed (and kept) before, now with a value missing, an unused one, no
        # values at all, other names, and a name missing.
        _versioned({"#v": "version"}, {}),
        _versioned({"#v": "version"}, {":expected": {"N": "1"}, ":extra": {"N": "2"}}),
        _versioned({"#v": "version"}, None),
        _versioned({"#v": "sk"}, {":expected": {"N": "3"}}),
        _versioned({"#w": "version"}, {":expected": {"N": "1"}}),
        _versioned({"#v": "version"}, {":expected": {"S": "not a number"}}),
    ]


def _versioned(names: dict[str, str], values: dict[str, Any] | None) -> Request:
    body: dict[str, Any] = {
        "TableName": "ranged",
        "Item": {"pk": {"S": "p1"}, "sk": {"N": "3"}, "version": {"N": "1"}},
        "ConditionExpression": "attribute_not_exists(pk) OR #v = :expected",
        "ExpressionAttributeNames": names,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if values is not None:
        body["ExpressionAttributeValues"] = values
    return ("PutItem", body)


def _workload(seed: int) -> list[Request]:
    rng = random.Random(seed)
    requests: list[Request] = list(_tables())
    for step in range(400):
        requests.extend(_writes(rng))
        if step % 4 == 0:
            requests.extend(_queries(rng))
    requests.extend(_refusals())
    return requests


def _run(requests: list[Request], account: str) -> list[tuple[str, str, str]]:
    """Each request's answer; a query that says there is more is paged to its end."""
    call = _app_caller(account)
    answers = []
    for target, body in requests:
        try:
            status, content_type, answer = call(target, body)
        except Exception as e:  # moto raising is an answer too (a 500 served)
            answers.append(("raised", type(e).__name__, str(e)))
            continue
        if target in ("CreateTable", "DescribeTable"):
            answer = ""  # creation times: not the same in two runs
        answers.append((status, content_type, answer))
        while target == "Query" and status.startswith("200"):
            last = json.loads(answer).get("LastEvaluatedKey")
            if last is None:
                break
            status, content_type, answer = call(target, {**body, "ExclusiveStartKey": last})
            answers.append((status, content_type, answer))
    return answers


def test_the_shortcuts_answer_as_moto_does() -> None:
    journal_transactions()  # the server's transactions, on both sides
    moto_dynamodb.speed_up_dynamodb()
    assert Table.query is not moto_dynamodb._ORIGINALS[(id(Table), "query")]
    requests = _workload(seed=13)
    with moto_dynamodb.as_shipped():
        assert Table.query is moto_dynamodb._ORIGINALS[(id(Table), "query")]
        theirs = _run(requests, "111111111111")
    ours = _run(requests, "222222222222")
    assert len(ours) == len(theirs) > len(requests)
    for n, (mine, moto_s) in enumerate(zip(ours, theirs, strict=True)):
        assert mine == moto_s, f"answer {n} differs"
    statuses = {status.split()[0] for status, _, _ in ours}
    assert statuses == {"200", "400", "raised"}  # refusals, failed conditions, a missing value
    bodies = "".join(answer for _, _, answer in ours)
    for seen in ("ConditionalCheckFailed", "TransactionCanceled", "LastEvaluatedKey", '"M": {'):
        assert seen in bodies, seen
