"""A typed edge over the untyped aiobotocore DynamoDB client, and the error mapping.

Every store call goes through :class:`Dynamo`, so this is the one place where botocore errors
become our error tree:

- a failed condition becomes :class:`CheckFailed` (a :class:`~tpf.errors.ConditionFailed`
  carrying the old item when it was asked for); stores turn it into ``None``, ``Conflict`` or a
  re-read as their Protocol says;
- a cancelled transaction with at least one failed condition becomes
  :class:`TransactionCanceled`, with one reason per action, so callers can tell *which*
  condition lost; one cancelled only by contention or throttling is retryable;
- throttling becomes :class:`~tpf.errors.RetryableError`;
- a failure to connect (after botocore's own retries) and a 5xx answer are the store failing:
  :class:`~tpf.errors.StoreUnavailable`, whose client message is generic. botocore's words name
  the endpoint URL, so they go to the log only, recorded in the client's :class:`StoreHealth`
  (:func:`health_of`: one per shared client, so readiness goes DOWN until a call answers);
- a missing table becomes :class:`~tpf.errors.Unavailable`, an invalid request (an item over
  400 KB, say) :class:`~tpf.errors.ValidationError`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from tpf.core.errors import (
    ConditionFailed,
    RetryableError,
    StoreUnavailable,
    TpfError,
    Unavailable,
    ValidationError,
)
from tpf.stores.dynamo.codec import Item
from tpf.stores.health import StoreHealth

CONDITION_FAILED = "ConditionalCheckFailed"

# DynamoDB's own failures (also any other 5xx answer): the store is down, not just busy.
_FAULT_CODES = frozenset({"InternalServerError", "ServiceUnavailable"})
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "TransactionConflictException",
        "LimitExceededException",
    }
)
_BATCH_ATTEMPTS = 8  # unprocessed batch items are retried with backoff this many times
_BATCH_GET_MAX = 100  # BatchGetItem's limit per request
_BATCH_WRITE_MAX = 25  # BatchWriteItem's limit per request


class CheckFailed(ConditionFailed):
    """A single-item conditional write lost; ``item`` is the stored item if it was requested."""

    def __init__(self, message: str, item: Item | None) -> None:
        super().__init__(message)
        self.item = item


class TransactionCanceled(ConditionFailed):
    """A transaction lost a condition. ``reasons[i]`` is action ``i``'s code (``"None"`` if it
    passed) and ``items[i]`` its stored item when ``ALL_OLD`` was requested."""

    def __init__(self, message: str, reasons: list[str], items: list[Item | None]) -> None:
        super().__init__(message)
        self.reasons = reasons
        self.items = items

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == CONDITION_FAILED


def translate(exc: BaseException, operation: str, table: str | None) -> BaseException:
    """The error of our tree for a library error (the original exception if it is not one)."""
    where = f"DynamoDB {operation}" + (f" on {table}" if table else "")
    if isinstance(exc, ClientError):
        response: dict[str, Any] = cast(dict[str, Any], exc.response)
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        message = f"{where}: {code}: {error.get('Message', '')}"
        if code == "ConditionalCheckFailedException":
            return CheckFailed(message, response.get("Item"))
        if code == "TransactionCanceledException":
            raw = response.get("CancellationReasons") or []
            reasons = [str(r.get("Code", "None")) for r in raw]
            if CONDITION_FAILED in reasons:
                return TransactionCanceled(message, reasons, [r.get("Item") for r in raw])
            return RetryableError(message)  # contention or throttling only: try again
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _FAULT_CODES or (status >= 500 and code not in _RETRYABLE_CODES):
            return StoreUnavailable(message)
        if code in _RETRYABLE_CODES:
            return RetryableError(message)
        if code == "ResourceNotFoundException":
            return Unavailable(message)
        if code == "ValidationException":
            return ValidationError(message)
        return TpfError(message, code="DYNAMO_" + (code or "ERROR"))
    if isinstance(exc, HTTPClientError | BotoConnectionError | aiohttp.ClientError | TimeoutError):
        return StoreUnavailable(f"{where}: {type(exc).__name__}: {exc}")  # names the endpoint
    return exc


# One health per shared aiobotocore client, i.e. per DynamoDB endpoint a coordinator uses.
_HEALTH: weakref.WeakKeyDictionary[Any, StoreHealth] = weakref.WeakKeyDictionary()


def health_of(client: Any, *, probe_table: str | None = None) -> StoreHealth:
    """The health every :class:`Dynamo` over ``client`` records its faults and successes in.

    Its readiness probe is a DescribeTable of ``probe_table`` (no capacity used, and strict
    startup's checks already need the permission) once a table is named.
    """
    health = _HEALTH.get(client)
    if health is None:
        health = _HEALTH[client] = StoreHealth("state store (DynamoDB)", _no_probe)
    if probe_table is not None:
        health.probe = _describe_table(weakref.ref(client), probe_table)
    return health


async def _no_probe(failing: bool) -> None:
    return None


def _describe_table(client: weakref.ref[Any], table: str) -> Callable[[bool], Awaitable[None]]:
    # A weak reference: the health is the value of a weak mapping keyed by the client.
    async def probe(failing: bool) -> None:
        live = client()
        if live is not None:
            await Dynamo(live).call("describe_table", TableName=table)

    return probe


def _params(**params: Any) -> dict[str, Any]:
    """botocore rejects ``None`` for optional parameters: drop them."""
    return {k: v for k, v in params.items() if v is not None}


class Dynamo:
    """Typed DynamoDB operations over one shared aiobotocore client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.health = health_of(client)

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            result = await getattr(self.client, operation)(**_params(**params))
        except Exception as exc:
            mapped = translate(exc, operation, params.get("TableName"))
            if mapped is exc:
                raise
            if isinstance(mapped, StoreUnavailable):
                self.health.fault(mapped.detail)
            else:
                self.health.succeeded()  # DynamoDB answered, if only to refuse
            raise mapped from exc
        self.health.succeeded()
        return cast(dict[str, Any], result)

    async def get_item(
        self, table: str, key: Item, *, projection: str | None = None, names: Item | None = None
    ) -> Item | None:
        result = await self.call(
            "get_item",
            TableName=table,
            Key=key,
            ConsistentRead=True,
            ProjectionExpression=projection,
            ExpressionAttributeNames=names,
        )
        return cast(Item | None, result.get("Item"))

    async def put_item(
        self,
        table: str,
        item: Item,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: Item | None = None,
        return_old_on_failure: bool = False,
    ) -> None:
        await self.call(
            "put_item",
            TableName=table,
            Item=item,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD" if return_old_on_failure else None,
        )

    async def update_item(
        self,
        table: str,
        key: Item,
        update: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: Item | None = None,
    ) -> Item:
        """Apply ``update`` and return the whole new item (``ALL_NEW``)."""
        result = await self.call(
            "update_item",
            TableName=table,
            Key=key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return cast(Item, result["Attributes"])

    async def delete_item(
        self,
        table: str,
        key: Item,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: Item | None = None,
    ) -> None:
        await self.call(
            "delete_item",
            TableName=table,
            Key=key,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    async def transact_write(self, actions: list[Item]) -> None:
        """All-or-nothing; a lost condition raises :class:`TransactionCanceled`."""
        await self.call("transact_write_items", TransactItems=actions)

    async def query(
        self,
        table: str,
        key_condition: str,
        values: Item,
        *,
        names: dict[str, str] | None = None,
        index: str | None = None,
        limit: int | None = None,
        forward: bool = True,
        consistent: bool = False,
        start: Item | None = None,
        projection: str | None = None,
        filter: str | None = None,
    ) -> tuple[list[Item], Item | None]:
        """One page: ``(items, last_evaluated_key)``; ``filter`` is a FilterExpression (applied
        to the ``limit`` items read, so a page may hold fewer)."""
        result = await self.call(
            "query",
            TableName=table,
            IndexName=index,
            KeyConditionExpression=key_condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            Limit=limit,
            ScanIndexForward=forward,
            ConsistentRead=consistent if index is None else None,
            ExclusiveStartKey=start,
            ProjectionExpression=projection,
            FilterExpression=filter,
        )
        return cast(list[Item], result.get("Items", [])), result.get("LastEvaluatedKey")

    async def query_all(
        self,
        table: str,
        key_condition: str,
        values: Item,
        *,
        names: dict[str, str] | None = None,
        index: str | None = None,
        forward: bool = True,
        consistent: bool = False,
        projection: str | None = None,
    ) -> list[Item]:
        """Every page of a query (only for partitions the caller knows are bounded)."""
        items: list[Item] = []
        start: Item | None = None
        while True:
            page, start = await self.query(
                table,
                key_condition,
                values,
                names=names,
                index=index,
                forward=forward,
                consistent=consistent,
                start=start,
                projection=projection,
            )
            items.extend(page)
            if start is None:
                return items

    async def batch_get(self, table: str, keys: list[Item]) -> list[Item]:
        """Consistent reads of ``keys`` (any number; unordered result, missing keys absent)."""
        chunks = [keys[i : i + _BATCH_GET_MAX] for i in range(0, len(keys), _BATCH_GET_MAX)]
        pages = await asyncio.gather(*(self._batch_get(table, chunk) for chunk in chunks))
        return [item for page in pages for item in page]

    async def _batch_get(self, table: str, keys: list[Item]) -> list[Item]:
        found: list[Item] = []
        pending: list[Item] = keys
        for attempt in range(_BATCH_ATTEMPTS):
            result = await self.call(
                "batch_get_item",
                RequestItems={table: {"Keys": pending, "ConsistentRead": True}},
            )
            found.extend(result.get("Responses", {}).get(table, []))
            pending = result.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                return found
            await asyncio.sleep(_backoff_s(attempt))  # throttled: back off, as AWS asks
        raise RetryableError(f"DynamoDB batch_get_item on {table}: keys left unprocessed")

    async def batch_put(self, table: str, items: list[Item]) -> None:
        """Unconditional puts of any number of items (not atomic: callers write idempotently)."""
        await self._batch_write(table, [{"PutRequest": {"Item": item}} for item in items])

    async def batch_delete(self, table: str, keys: list[Item]) -> None:
        """Unconditional deletes of any number of keys (not atomic; deleting twice is fine)."""
        await self._batch_write(table, [{"DeleteRequest": {"Key": key}} for key in keys])

    async def _batch_write(self, table: str, requests: list[Item]) -> None:
        for i in range(0, len(requests), _BATCH_WRITE_MAX):
            pending = requests[i : i + _BATCH_WRITE_MAX]
            for attempt in range(_BATCH_ATTEMPTS):
                result = await self.call("batch_write_item", RequestItems={table: pending})
                pending = result.get("UnprocessedItems", {}).get(table, [])
                if not pending:
                    break
                await asyncio.sleep(_backoff_s(attempt))
            else:
                raise RetryableError(f"DynamoDB batch_write_item on {table}: items unprocessed")


def _backoff_s(attempt: int) -> float:
    return float(min(1.0, 0.05 * 2**attempt))
