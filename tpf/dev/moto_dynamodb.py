"""moto's DynamoDB made cheaper per request, with the same answers.

The HA shape of the csv bench keeps moto's DynamoDB busy with ~7 requests per record, one at a
time (:class:`tpf.dev.moto.SerializedDynamo`), and moto's own per-request work bounded the
whole run. Profiled on a replay of a 1,000-record run, the cost was not the data but moto's
generic machinery around it; each shortcut below gives the answer moto's own code gives
(``tests/dev/test_moto_dynamodb.py`` replays the same requests on both and compares the bytes):

- **Query** sorted every item of the table (``Table.all_items``, comparing ``DynamoType``
  objects, each comparison converting both values) before it kept the few of one partition
  or one index key: per query, O(n log n) in the table's size, so it grew with the run.
  :func:`_query` hands moto's query only the items its key condition can match (the
  partition's own items, or those carrying the index's hash key values), in the order
  ``all_items`` gives them; moto then filters, sorts, pages and projects them as before.
- **Response serialization** walked botocore's shapes for every attribute value of every item
  returned (ten members tried per value, each through four alias providers):
  :func:`_serialize_map` writes an attribute map of plain scalar values (``S``, ``N``,
  ``BOOL``, ``NULL``) directly, as the walk would; anything else takes the walk.
- **Dispatch** listed moto's package directory (a ``stat`` per entry) to find the service of
  each request, and listed the handler class's methods with ``inspect``: both are the same
  for the life of the process, so they are computed once.
- **Condition expressions** were parsed into the same tree for every write with new values:
  :mod:`tpf.dev.moto_conditions` keeps the tree per expression and names.

Only moto's dev server uses this (``tpf dev aws``, the tests, the demos): moto stays optional.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import moto.backends as moto_backends
import moto.core.responses as core_responses
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize

from tpf.dev.moto_conditions import parse_once

_PATCHING = threading.Lock()
_QUERY_SIGNATURE = inspect.signature(Table.query)
_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


# ------------------------------------------------------------------ Query


def _all_items_order(item: Item) -> Any:
    """``Table.all_items``'s sort key."""
    return (item.hash_key, item.range_key) if item.range_key else item.hash_key


def _candidates(table: Table, bound: inspect.BoundArguments) -> list[Item] | None:
    """The items of ``table`` the query's key condition can match, in ``all_items`` order;
    ``None`` when the query is one this does not narrow (moto's own path then).

    The same order as moto's because the table's key values are unique and of the schema's
    types (moto refuses others on every write), so its sort key orders them totally, and a
    sorted subset is the subset of the sorted whole.
    """
    args = bound.arguments
    if args.get("index_name"):
        conditions = args.get("hash_key_conditions") or []
        if not conditions:
            return None
        wanted = dict(conditions)
        found = []
        for partition in table.items.values():
            for item in partition.values() if table.range_key_attr else (partition,):
                if not isinstance(item, Item):
                    continue
                attrs = item.attrs
                for name, value in wanted.items():
                    have = attrs.get(name)
                    if not have or have != value:
                        break
                else:
                    found.append(item)
        return sorted(found, key=_all_items_order)
    hash_key = args.get("hash_key")
    if not isinstance(hash_key, DynamoType):
        return None
    stored = table.items.get(hash_key)
    if stored is None:
        return []
    items = list(stored.values()) if table.range_key_attr else [stored]
    return sorted((i for i in items if isinstance(i, Item)), key=_all_items_order)


def _narrowed_query(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
        candidates = _candidates(self, bound)
        if candidates is None:
            return original(self, *args, **kwargs)
        # moto's query reads the table through ``all_items`` only: for this call it sees the
        # candidates. Safe because SerializedDynamo runs one DynamoDB request at a time.
        self.all_items = lambda: candidates  # type: ignore[method-assign]
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    return query


# ------------------------------------------------------------------ response serialization


def _plain(value: Any) -> dict[str, Any] | None:
    """An attribute value as the shape walk writes it, when it is one plain scalar."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    expected = _SCALARS.get(kind)
    if expected is None or type(inner) is not expected:
        return None
    return {kind: inner}


def _fast_map(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def serialize_map(
        self: BaseJSONSerializer, serialized: dict[str, Any], value: Any, shape: Any, key: str
    ) -> None:
        picker = self._value_picker
        if (
            getattr(shape.value, "name", None) != "AttributeValue"
            or type(value) is not dict
            or getattr(picker, "response_transformers", None)
        ):
            return original(self, serialized, value, shape, key)
        out: dict[str, Any] = {}
        for name, attribute in value.items():
            if attribute is None:
                continue  # the walk skips a missing structure
            plain = _plain(attribute)
            if plain is None or type(name) is not str:
                return original(self, serialized, value, shape, key)
            out[name] = plain
        serialized[self.get_serialized_name(shape, key)] = out
        return None

    return serialize_map


# ------------------------------------------------------------------ writes

_ITEM_LIMIT = 405000  # LimitedSizeDict's


def _item_init(
    self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]
) -> None:
    """``Item.__init__`` with ``LimitedSizeDict``'s check done on a running total.

    moto's sets each attribute through ``LimitedSizeDict.__setitem__``, which sums the sizes
    of all the attributes set so far: quadratic in the attributes, for every item written.
    The running total is that sum, so the same attribute raises the same error."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = held = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        converted = DynamoType(value)
        size = converted.size()
        if total + bytesize(key) + size > _ITEM_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(held, key, converted)
        total += bytesize(str(key)) + size


_LEXED: dict[tuple[type, str], tuple[tuple[str, str, str, str], ...]] = {}
_LEXED_MAX = 1024  # distinct expressions kept (a process writes a few dozen)


def _lex_once(original: Callable[[Any], deque[Any]]) -> Callable[[Any], deque[Any]]:
    """The lexer's tokens of an expression string, kept: they depend on the string alone (the
    names and values are read later, by the parse). Each call gets fresh nodes."""

    @functools.wraps(original)
    def lex(self: ConditionExpressionParser) -> deque[Any]:
        key = (type(self), self.condition_expression or "")
        tokens = _LEXED.get(key)
        if tokens is None:
            nodes = original(self)
            if len(_LEXED) < _LEXED_MAX and all(not n.children for n in nodes):
                _LEXED[key] = tuple((n.nonterminal, n.kind, n.text, n.value) for n in nodes)
            return nodes
        node = self.Node
        return deque(node(a, b, c, d, []) for a, b, c, d in tokens)

    return lex


# ------------------------------------------------------------------ dispatch


def _listed_once(original: Callable[[], Iterable[str]]) -> Callable[[], Iterator[str]]:
    modules: list[tuple[str, ...]] = []

    @functools.wraps(original)
    def list_of_moto_modules() -> Iterator[str]:
        if not modules:
            modules.append(tuple(original()))
        return iter(modules[0])

    return list_of_moto_modules


def _methods_once(original: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
    cache: dict[object, list[str]] = {}

    @functools.wraps(original)
    def method_names_from_class(clazz: object) -> list[str]:
        names = cache.get(clazz)
        if names is None:
            names = cache[clazz] = original(clazz)
        return names

    return method_names_from_class


# ------------------------------------------------------------------ installing

# (owner, attribute, wrapper of the original)
_SHORTCUTS: tuple[tuple[Any, str, Callable[[Any], Any]], ...] = (
    (Table, "query", _narrowed_query),
    (Item, "__init__", lambda original: functools.wraps(original)(_item_init)),
    (ConditionExpressionParser, "_lex_condition_expression", _lex_once),
    (ConditionExpressionParser, "parse", parse_once),
    (BaseJSONSerializer, "_serialize_type_map", _fast_map),
    (moto_backends, "list_of_moto_modules", _listed_once),
    (core_responses, "method_names_from_class", _methods_once),
)
_ORIGINALS: dict[tuple[int, str], Any] = {}


def speed_up_dynamodb() -> None:
    """Install the shortcuts (idempotent; every moto server of the process shares them)."""
    with _PATCHING:
        for owner, name, wrap in _SHORTCUTS:
            if (id(owner), name) not in _ORIGINALS:
                original = vars(owner)[name]
                _ORIGINALS[(id(owner), name)] = original
                setattr(owner, name, wrap(original))


@contextlib.contextmanager
def as_shipped() -> Iterator[None]:
    """moto's own code for the block (the tests compare the two); the shortcuts after."""
    with _PATCHING:
        installed = [
            (owner, name, vars(owner)[name])
            for owner, name, _ in _SHORTCUTS
            if (id(owner), name) in _ORIGINALS
        ]
        for owner, name, _ in installed:
            setattr(owner, name, _ORIGINALS[(id(owner), name)])
    try:
        yield
    finally:
        with _PATCHING:
            for owner, name, shortcut in installed:
                setattr(owner, name, shortcut)
