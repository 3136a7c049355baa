"""Behaviour of the virtual-actor runtime: activation, ordering, asks, backpressure,
passivation, a failed start and shutdown. No test sleeps to wait for something: events and
``passivate_idle`` drive every state change.

The messages here are plain strings and ints: the runtime never looks inside a message, and
the typed messages the coordinator sends are tested in ``test_messages``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

import pytest

from tpf.actors.runtime import Actor, ActorSystem
from tpf.core.errors import ActorStopped, AskTimeout

WAIT = 2.0  # upper bound for event waits; tests normally finish far sooner


class Probe:
    """Shared record of what every instance of an actor kind did."""

    def __init__(self) -> None:
        self.instances: list[Recorder] = []
        self.starts = 0
        self.stops = 0
        self.seen: list[Any] = []
        self.inside = 0
        self.max_inside = 0
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.stopped = asyncio.Event()
        self.store: dict[Hashable, int] = {}  # "durable state" reloaded by on_start
        self.start_failures = 0  # how many on_start calls still fail


class Recorder(Actor):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.count = 0
        probe.instances.append(self)

    async def on_start(self) -> None:
        self.probe.starts += 1
        if self.probe.start_failures:
            self.probe.start_failures -= 1
            raise RuntimeError("store unavailable")
        self.count = self.probe.store.get(self.key, 0)

    async def receive(self, message: Any) -> Any:
        p = self.probe
        p.inside += 1
        p.max_inside = max(p.max_inside, p.inside)
        try:
            if message == "block":
                p.entered.set()
                await p.gate.wait()
            await asyncio.sleep(0)  # give a concurrent handler the chance to interleave
            p.seen.append(message)
            if message == "boom":
                raise ValueError("boom")
            if message == "inc":
                self.count += 1
                p.store[self.key] = self.count
            if message == "get":
                return self.count
            return message
        finally:
            p.inside -= 1

    async def on_stop(self) -> None:
        self.probe.stops += 1
        self.probe.stopped.set()


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., tuple[ActorSystem, Probe]]]:
    systems: list[ActorSystem] = []

    def build(**kwargs: Any) -> tuple[ActorSystem, Probe]:
        system = ActorSystem(**kwargs)
        probe = Probe()
        system.register("rec", lambda key: Recorder(probe))
        systems.append(system)
        return system, probe

    yield build
    for system in systems:
        await system.stop()


async def test_activates_on_first_message_and_starts_once(make: Any) -> None:
    system, probe = make()
    assert not system.is_active("rec", "a")
    assert await system.ask("rec", "a", "x", timeout_s=WAIT) == "x"
    assert await system.ask("rec", "a", "y", timeout_s=WAIT) == "y"
    assert system.is_active("rec", "a")
    assert probe.starts == 1 and len(probe.instances) == 1
    assert probe.instances[0].key == "a" and probe.instances[0].system is system


async def test_messages_handled_in_order_one_at_a_time(make: Any) -> None:
    system, probe = make()
    for i in range(200):
        await system.tell("rec", "a", i)
    await system.ask("rec", "a", "sync", timeout_s=WAIT)
    assert probe.seen == [*range(200), "sync"]
    assert probe.max_inside == 1


async def test_different_keys_run_concurrently(make: Any) -> None:
    system, probe = make()
    blocked = asyncio.create_task(system.ask("rec", 1, "block", timeout_s=WAIT))
    await asyncio.wait_for(probe.entered.wait(), WAIT)
    # key 2 answers while key 1 is still inside its handler
    assert await system.ask("rec", 2, "hi", timeout_s=WAIT) == "hi"
    assert not blocked.done()
    probe.gate.set()
    assert await blocked == "block"


async def test_ask_propagates_receive_exception_and_the_actor_goes_on(make: Any) -> None:
    system, probe = make()
    with pytest.raises(ValueError, match="boom"):
        await system.ask("rec", "a", "boom", timeout_s=WAIT)
    assert await system.ask("rec", "a", "after", timeout_s=WAIT) == "after"
    # The exception was the answer, not a crash: the same instance handled the next message.
    assert system.stats()["crashes"] == 0 and len(probe.instances) == 1


async def test_receive_raising_timeout_error_is_not_ask_timeout(make: Any) -> None:
    system, _ = make()

    class Slow(Actor):
        async def receive(self, message: Any) -> Any:
            raise TimeoutError("downstream")

    system.register("slow", lambda key: Slow())
    with pytest.raises(TimeoutError, match="downstream") as info:
        await system.ask("slow", 1, "x", timeout_s=WAIT)
    assert not isinstance(info.value, AskTimeout)


async def test_ask_timeout_and_late_reply_is_harmless(make: Any) -> None:
    system, probe = make()
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    try:
        with pytest.raises(AskTimeout):
            await system.ask("rec", "a", "block", timeout_s=0.01)
        probe.gate.set()  # the actor now replies to a cancelled future
        assert await system.ask("rec", "a", "next", timeout_s=WAIT) == "next"
        assert probe.seen == ["block", "next"]
        assert errors == []
    finally:
        loop.set_exception_handler(None)


async def test_bounded_mailbox_try_tell_and_backpressure(make: Any) -> None:
    system, probe = make(mailbox_size=2)
    await system.tell("rec", "a", "block")
    await asyncio.wait_for(probe.entered.wait(), WAIT)  # in flight: mailbox empty again
    assert system.try_tell("rec", "a", 1)
    assert system.try_tell("rec", "a", 2)
    assert not system.try_tell("rec", "a", 3)
    assert system.stats()["mailbox_depth"] == 2
    waiting = asyncio.create_task(system.tell("rec", "a", 3))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()  # blocked on a full mailbox
    probe.gate.set()
    await asyncio.wait_for(waiting, WAIT)
    await system.ask("rec", "a", "sync", timeout_s=WAIT)
    assert probe.seen == ["block", 1, 2, 3, "sync"]


async def test_passivate_idle_and_reactivation(make: Any) -> None:
    system, probe = make(idle_timeout_s=None)
    await system.ask("rec", "a", "x", timeout_s=WAIT)
    busy = asyncio.create_task(system.ask("rec", "b", "block", timeout_s=WAIT))
    await asyncio.wait_for(probe.entered.wait(), WAIT)
    assert await system.passivate_idle() == 1  # "b" is processing, so only "a"
    assert probe.stops == 1
    assert not system.is_active("rec", "a") and system.is_active("rec", "b")
    assert await system.ask("rec", "a", "y", timeout_s=WAIT) == "y"
    assert len(probe.instances) == 3 and probe.starts == 3  # a, b, fresh a
    assert probe.instances[2].key == "a"
    probe.gate.set()
    await busy
    assert system.stats()["passivations"] == 1


async def test_idle_timeout_passivates_automatically(make: Any) -> None:
    system, probe = make(idle_timeout_s=0.01)
    await system.ask("rec", "a", "x", timeout_s=WAIT)
    await asyncio.wait_for(probe.stopped.wait(), WAIT)
    assert not system.is_active("rec", "a")
    assert system.stats()["passivations"] == 1
    assert await system.ask("rec", "a", "again", timeout_s=WAIT) == "again"
    assert len(probe.instances) == 2


async def test_new_activation_waits_for_previous_on_stop(make: Any) -> None:
    system, _ = make(idle_timeout_s=0.01)
    release = asyncio.Event()
    stopping = asyncio.Event()
    events: list[str] = []

    class SlowStop(Actor):
        async def on_start(self) -> None:
            events.append("start")

        async def receive(self, message: Any) -> Any:
            return message

        async def on_stop(self) -> None:
            events.append("stop-begin")
            stopping.set()
            await release.wait()
            events.append("stop-end")

    system.register("slow", lambda key: SlowStop())
    await system.ask("slow", 1, "x", timeout_s=WAIT)
    await asyncio.wait_for(stopping.wait(), WAIT)  # passivating, detached
    second = asyncio.create_task(system.ask("slow", 1, "y", timeout_s=WAIT))
    for _ in range(5):
        await asyncio.sleep(0)
    assert events == ["start", "stop-begin"]
    release.set()
    assert await second == "y"
    assert events[:4] == ["start", "stop-begin", "stop-end", "start"]


async def test_a_failed_start_fails_pending_asks_and_the_next_message_starts_fresh(
    make: Any, caplog: Any
) -> None:
    system, probe = make()
    probe.store["a"] = 41
    probe.start_failures = 1
    # Both asks are queued before the activation's task runs its (failing) on_start.
    results = await asyncio.gather(
        system.ask("rec", "a", "x", timeout_s=WAIT),
        system.ask("rec", "a", "y", timeout_s=WAIT),
        return_exceptions=True,
    )
    assert all(isinstance(r, ActorStopped) for r in results)
    assert all(isinstance(r.__cause__, RuntimeError) for r in results)
    assert "failed to start" in str(results[0])
    assert probe.seen == []  # no message reached the instance that did not start
    assert not system.is_active("rec", "a")
    assert system.stats()["crashes"] == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("failed to start" in m for m in errors)
    # The next message activates a fresh instance, which reloads the "durable" state.
    assert await system.ask("rec", "a", "get", timeout_s=WAIT) == 41
    assert len(probe.instances) == 2 and probe.starts == 2
    assert probe.stops == 1  # on_stop is best effort on the instance that failed to start
    assert system.stats()["crashes"] == 1


async def test_a_failing_factory_is_a_failed_start(make: Any) -> None:
    system, _ = make()
    attempts: list[Hashable] = []

    def factory(key: Hashable) -> Actor[Any]:
        attempts.append(key)
        if len(attempts) == 1:
            raise LookupError("no such tenant")
        return Recorder(Probe())

    system.register("flaky", factory)
    with pytest.raises(ActorStopped) as info:
        await system.ask("flaky", 1, "x", timeout_s=WAIT)
    assert isinstance(info.value.__cause__, LookupError)
    assert await system.ask("flaky", 1, "y", timeout_s=WAIT) == "y"
    assert attempts == [1, 1]


async def test_failed_tell_is_logged_and_actor_continues(make: Any, caplog: Any) -> None:
    system, probe = make()
    await system.tell("rec", "key-7", "boom")
    assert await system.ask("rec", "key-7", "ok", timeout_s=WAIT) == "ok"
    assert any("rec" in r.getMessage() and "key-7" in r.getMessage() for r in caplog.records)
    assert len(probe.instances) == 1


async def test_stop_fails_in_flight_and_queued_asks(make: Any) -> None:
    system, probe = make(mailbox_size=1)
    in_flight = asyncio.create_task(system.ask("rec", "a", "block", timeout_s=WAIT))
    await asyncio.wait_for(probe.entered.wait(), WAIT)
    queued = asyncio.create_task(system.ask("rec", "a", "q", timeout_s=WAIT))
    await asyncio.sleep(0)
    blocked_tell = asyncio.create_task(system.tell("rec", "a", "t"))  # mailbox full
    await asyncio.sleep(0)
    assert not blocked_tell.done()
    await system.stop()
    for task in (in_flight, queued, blocked_tell):
        with pytest.raises(ActorStopped):
            await task
    assert probe.stops == 1 and not system.is_active("rec", "a")
    with pytest.raises(ActorStopped):
        await system.ask("rec", "a", "later", timeout_s=WAIT)
    with pytest.raises(ActorStopped):
        await system.tell("rec", "a", "later")
    assert not system.try_tell("rec", "a", "later")
    await system.stop()  # idempotent


async def test_stop_with_drain_handles_queued_messages(make: Any) -> None:
    system, probe = make()
    for i in range(50):
        await system.tell("rec", i % 3, i)
    await system.stop(drain=True)
    assert sorted(probe.seen) == list(range(50))
    assert probe.stops == 3


async def test_stats(make: Any) -> None:
    system, probe = make(idle_timeout_s=None)
    await system.ask("rec", "a", 1, timeout_s=WAIT)
    await system.ask("rec", "b", 1, timeout_s=WAIT)
    await system.passivate_idle()
    await system.ask("rec", "a", 2, timeout_s=WAIT)
    await system.tell("rec", "c", "block")
    await asyncio.wait_for(probe.entered.wait(), WAIT)
    await system.tell("rec", "c", "x")
    await system.tell("rec", "c", "y")
    assert system.stats() == {
        "activations": 4,
        "active": 2,
        "crashes": 0,
        "mailbox_depth": 2,
        "passivations": 2,
    }
    probe.gate.set()
