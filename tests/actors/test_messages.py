"""Typed actor messages: tagged msgspec unions, and an ``ask`` whose reply type is its message's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from tpf.actors.messages import (
    WORK,
    ActivateRelease,
    Ask,
    ExecutionMessage,
    Redrive,
    RegisterRelease,
    RegistryMessage,
    Work,
)
from tpf.actors.runtime import Actor, ActorSystem


class Double(Ask[int], frozen=True):
    value: int


class Doubler(Actor[Double]):
    async def receive(self, message: Double) -> int:
        return message.value * 2


@pytest.fixture
async def system() -> AsyncIterator[ActorSystem]:
    system = ActorSystem(idle_timeout_s=None)
    system.register("doubler", lambda key: Doubler())
    yield system
    await system.stop()


async def test_an_ask_answers_its_reply_type(system: ActorSystem) -> None:
    reply: int = await system.ask("doubler", 1, Double(21), timeout_s=2.0)
    assert reply == 42


@pytest.mark.parametrize(
    ("message", "union"),
    [
        (WORK, ExecutionMessage),
        (Redrive(expected_version=3, allow_failed=True, reason="fixed"), ExecutionMessage),
        (RegisterRelease("/tmp/release.json"), RegistryMessage),
        (ActivateRelease("v2"), RegistryMessage),
    ],
)
def test_messages_are_a_tagged_union(message: object, union: object) -> None:
    encoded = msgspec.json.encode(message)
    assert msgspec.json.decode(encoded)["type"] == type(message).__name__
    assert msgspec.json.decode(encoded, type=union) == message


def test_an_unknown_tag_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"type":"Explode"}', type=ExecutionMessage)
    assert isinstance(msgspec.json.decode(b'{"type":"Work"}', type=ExecutionMessage), Work)
