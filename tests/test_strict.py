"""Strict validation of plain JSON against a declared type (``tpf.core.strict``): every refusal
names the field by its JSON path; undeclared fields are found through every container."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, TypedDict

import msgspec
import pytest

from tpf.core.errors import ValidationError
from tpf.core.strict import field_path, validate


class Cat(msgspec.Struct, tag=True, rename="camel"):
    lives_left: int


class Dog(msgspec.Struct, tag=True):
    name: str


class Point(msgspec.Struct, array_like=True):
    x: int
    y: int


@dataclasses.dataclass
class Owner:
    name: str


class Address(TypedDict):
    city: str


class Household(msgspec.Struct, rename="camel", kw_only=True):
    pets: list[Cat | Dog]
    owner: Owner | None = None
    addresses: dict[str, Address] = {}
    home: Point | None = None
    pair: tuple[int, Dog] | None = None
    size: Annotated[int, msgspec.Meta(ge=1)] = 1
    extra: Any = None


class Closed(msgspec.Struct, forbid_unknown_fields=True):
    a: int


def refused(value: Any, tp: Any = Household, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate(value, tp, root="responsePayload", **kwargs)
    assert caught.value.details is not None
    assert caught.value.message.startswith(f"{caught.value.details['field']}: ")
    return caught.value


@pytest.mark.parametrize(
    ("value", "field", "problem"),
    [
        ({"pets": [], "color": "red"}, "responsePayload.color", "undeclared field (declared:"),
        (
            {"pets": [{"type": "Cat", "livesLeft": 9}, {"type": "Dog", "name": "Rex", "age": 3}]},
            "responsePayload.pets[1].age",
            "undeclared field (declared: name)",
        ),
        (
            {"pets": [{"type": "Cat", "lives_left": 9}]},  # the Python name, not the wire name
            "responsePayload.pets[0].lives_left",
            "undeclared field (declared: livesLeft)",
        ),
        ({"pets": [], "owner": {"name": "Ada", "x": 1}}, "responsePayload.owner.x", "undeclared"),
        (
            {"pets": [], "addresses": {"home town": {"city": "Oslo", "zip": "0150"}}},
            'responsePayload.addresses["home town"].zip',
            "undeclared field (declared: city)",
        ),
        ({"pets": [], "home": [1, 2, 3]}, "responsePayload.home[2]", "undeclared element"),
        (
            {"pets": [], "pair": [1, {"type": "Dog", "name": "Rex", "x": 0}]},
            "responsePayload.pair[1].x",
            "undeclared field",
        ),
        # Type errors, missing fields and constraints are msgspec's, with our path.
        (
            {"pets": [{"type": "Cat", "livesLeft": "9"}]},
            "responsePayload.pets[0].livesLeft",
            "expected `int`, got `str`",
        ),
        ({"pets": [{"type": "Dog"}]}, "responsePayload.pets[0].name", "required field is missing"),
        ({}, "responsePayload.pets", "required field is missing"),
        ({"pets": [{"type": "Fish"}]}, "responsePayload.pets[0].type", "Invalid value 'Fish'"),
        ({"pets": [], "size": 0}, "responsePayload.size", "expected `int` >= 1"),
        ([], "responsePayload", "expected `object`, got `array`"),
    ],
)
def test_refusals_name_the_field(value: Any, field: str, problem: str) -> None:
    error = refused(value)
    assert error.details == {"field": field}
    assert problem in error.message, error.message


def test_valid_values_convert_and_any_is_open() -> None:
    value = {
        "pets": [{"type": "Cat", "livesLeft": 9}, {"type": "Dog", "name": "Rex"}],
        "owner": {"name": "Ada"},
        "addresses": {"home": {"city": "Oslo"}},
        "home": [1, 2],
        "pair": [1, {"type": "Dog", "name": "Rex"}],
        "extra": {"anything": {"goes": [1, {"here": True}]}},
    }
    household = validate(value, Household, root="r")
    assert household.pets == [Cat(lives_left=9), Dog(name="Rex")]
    assert household.owner == Owner(name="Ada")


def test_allow_undeclared_still_checks_types() -> None:
    value = {"pets": [{"type": "Dog", "name": "Rex", "age": 3}], "color": "red"}
    assert validate(value, Household, root="r", allow_undeclared=True).pets == [Dog(name="Rex")]
    error = refused({"pets": [{"type": "Dog", "name": 7, "age": 3}]}, allow_undeclared=True)
    assert error.details == {"field": "responsePayload.pets[0].name"}
    # A Struct that forbids unknown fields itself still does, with the same kind of message.
    closed = refused({"a": 1, "b": 2}, Closed, allow_undeclared=True)
    assert closed.message == "responsePayload.b: undeclared field"


def test_field_paths() -> None:
    assert field_path("r", "orderId") == "r.orderId"
    assert field_path("r", 3) == "r[3]"
    assert field_path("r", "a.b") == 'r["a.b"]'
