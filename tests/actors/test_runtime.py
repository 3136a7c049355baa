"""Behaviour of the virtual-actor runtime: activation, ordering, asks, backpressure,
passivation, supervision and shutdown. No test sleeps to wait for something: events and
``passivate_idle``/fake ``sleep`` drive every state change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

import pytest

from tpf.actors.runtime import Actor, ActorCrash, ActorSystem
from tpf.core.errors import ActorStopped, AskTimeout

WAIT = 2.0  # upper bound for event waits; tests normally finish far sooner


class FakeSleep:
    """Records backoff delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


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
            if message == "crash":
                raise ActorCrash("reload me")
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
        kwargs.setdefault("sleep", FakeSleep())
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


async def test_ask_propagates_receive_exception_without_restart(make: Any) -> None:
    system, probe = make()
    with pytest.raises(ValueError, match="boom"):
        await system.ask("rec", "a", "boom", timeout_s=WAIT)
    assert await system.ask("rec", "a", "after", timeout_s=WAIT) == "after"
    assert system.stats()["restarts"] == 0 and len(probe.instances) == 1


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


async def test_crash_in_on_start_restarts_with_backoff_and_keeps_messages(make: Any) -> None:
    sleep = FakeSleep()
    system, probe = make(sleep=sleep, restart_backoff_s=(0.01, 1.0))
    probe.store["a"] = 41
    probe.start_failures = 3
    await system.tell("rec", "a", "first")
    await system.tell("rec", "a", "inc")
    assert await system.ask("rec", "a", "get", timeout_s=WAIT) == 42  # state reloaded
    assert sleep.delays == pytest.approx([0.01, 0.02, 0.04])
    assert probe.seen == ["first", "inc", "get"]
    assert len(probe.instances) == 4 and probe.stops == 3  # on_stop best-effort per crash
    assert system.stats()["restarts"] == 3


async def test_actor_crash_in_receive_restarts_from_store(make: Any) -> None:
    system, probe = make()
    await system.ask("rec", "a", "inc", timeout_s=WAIT)
    await system.ask("rec", "a", "inc", timeout_s=WAIT)
    results: tuple[Any, Any] = await asyncio.gather(
        system.ask("rec", "a", "crash", timeout_s=WAIT),
        system.ask("rec", "a", "get", timeout_s=WAIT),
        return_exceptions=True,
    )
    crash, after = results
    assert isinstance(crash, ActorCrash)
    assert after == 2  # queued behind the crash, answered by the reloaded instance
    assert len(probe.instances) == 2 and probe.stops == 1
    assert system.stats()["restarts"] == 1


async def test_custom_crash_on(make: Any) -> None:
    system, probe = make(crash_on=(ValueError,))
    with pytest.raises(ValueError):
        await system.ask("rec", "a", "boom", timeout_s=WAIT)
    assert await system.ask("rec", "a", "ok", timeout_s=WAIT) == "ok"
    assert len(probe.instances) == 2


async def test_max_restarts_exhausted_fails_queued_asks(make: Any, caplog: Any) -> None:
    sleep = FakeSleep()
    system, probe = make(sleep=sleep, max_restarts=3, restart_backoff_s=(0.01, 0.03))
    probe.start_failures = 100
    results = await asyncio.gather(
        system.ask("rec", "a", "x", timeout_s=WAIT),
        system.ask("rec", "a", "y", timeout_s=WAIT),
        return_exceptions=True,
    )
    assert all(isinstance(r, ActorStopped) for r in results)
    assert sleep.delays == pytest.approx([0.01, 0.02, 0.03])  # capped at the maximum
    assert system.stats()["restarts"] == 3
    assert not system.is_active("rec", "a")
    assert any(r.levelno == logging.ERROR and "gave up" in r.getMessage() for r in caplog.records)
    probe.start_failures = 0  # the store is back: the next message starts fresh
    assert await system.ask("rec", "a", "z", timeout_s=WAIT) == "z"


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
        "restarts": 0,
        "mailbox_depth": 2,
        "passivations": 2,
    }
    probe.gate.set()
