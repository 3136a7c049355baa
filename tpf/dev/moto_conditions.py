"""moto's DynamoDB condition expressions parsed once per expression and names (installed by
:mod:`tpf.dev.moto_dynamodb` with its other shortcuts).

Every conditional write, filter and key condition makes a ``ConditionExpressionParser`` and
parses the expression into a tree of nodes (paths, functions, comparisons, parentheses and
booleans) before building the operation from it: in the csv demo's HA shape that parse was ~15%
of the moto server's CPU, for the few dozen expressions a coordinator writes with new values each
time. The tree depends on the expression and its attribute names alone; the values only fill
its value nodes (each the very dict of ``ExpressionAttributeValues``, looked up by its name).
:func:`parse_once` keeps the first parse's tree, the value names it looked up (in order) and
the names and values it found; a later parse of the same expression and names looks the values
up in the same order (a missing one raises as moto's would), puts them in a fresh copy of the
tree, and builds the operation with moto's own code. An expression moto refused is not kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from moto.dynamodb.comparisons import ConditionExpressionParser

Node = Any  # ConditionExpressionParser.Node, a namedtuple
_VALUE = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE
_PARSED_MAX = 1024  # (expression, names) kept; a process writes a few dozen


class _Parsed(NamedTuple):
    tree: Node
    lookups: tuple[str, ...]  # the value names the parse looked up, in its order
    names_found: tuple[str, ...]
    values_found: tuple[str, ...]


_PARSED: dict[tuple[Any, ...], _Parsed] = {}


def parse_once(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``ConditionExpressionParser.parse`` keeping each expression's tree (see the module)."""

    @functools.wraps(original)
    def parse(self: ConditionExpressionParser) -> Any:
        key = _key(self)
        if key is None:
            return original(self)
        parsed = _PARSED.get(key)
        if parsed is None:
            return _first_parse(self, original, key)
        values = [self._lookup_expression_attribute_value(name) for name in parsed.lookups]
        tree = _filled(parsed.tree, dict(zip(parsed.lookups, values, strict=True)))
        self.expr_attr_names_found.extend(parsed.names_found)
        self.expr_attr_values_found.extend(parsed.values_found)
        return self._make_op_condition(tree)

    return parse


def _key(parser: ConditionExpressionParser) -> tuple[Any, ...] | None:
    expression = parser.condition_expression
    names = parser.expression_attribute_names
    if not expression or (names is not None and type(names) is not dict):
        return None  # moto's own answer for no expression; anything unusual: moto's path
    key = (type(parser), expression, None if names is None else tuple(names.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _first_parse(
    self: ConditionExpressionParser, original: Callable[[Any], Any], key: tuple[Any, ...]
) -> Any:
    """moto's parse, watching the value lookups it makes and the tree it builds the operation
    from (instance attributes over the class's methods, for this one parse)."""
    lookups: list[str] = []
    trees: list[Node] = []
    cls = type(self)

    def lookup(name: str) -> Any:
        lookups.append(name)
        return cls._lookup_expression_attribute_value(self, name)

    def make(node: Node) -> Any:
        del self._make_op_condition  # its recursion: moto's own
        trees.append(node)
        return cls._make_op_condition(self, node)

    names_before = len(self.expr_attr_names_found)
    values_before = len(self.expr_attr_values_found)
    self._lookup_expression_attribute_value = lookup  # type: ignore[method-assign]
    self._make_op_condition = make  # type: ignore[method-assign]
    try:
        op = original(self)
    finally:
        vars(self).pop("_lookup_expression_attribute_value", None)
        vars(self).pop("_make_op_condition", None)
    if len(trees) == 1 and len(_PARSED) < _PARSED_MAX:
        _PARSED[key] = _Parsed(
            trees[0],
            tuple(lookups),
            tuple(self.expr_attr_names_found[names_before:]),
            tuple(self.expr_attr_values_found[values_before:]),
        )
    return op


def _filled(node: Node, values: dict[str, Any]) -> Node:
    """A fresh copy of ``node`` with each value node holding this parse's value."""
    if node.kind == _VALUE and not node.children:
        return node._replace(value=values[node.text], children=[])
    return node._replace(children=[_filled(child, values) for child in node.children])
