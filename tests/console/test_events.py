"""``GET {cp}/events``: the live stream of a tenant's committed changes, over a real socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from tests.http.conftest import CP, ApiFactory, decision_envelope, error, ok
from tpf.actors import feed
from tpf.core.clock import FakeClock
from tpf.http import events
from tpf.http.wire import EDGE

READ_S = 10.0  # a bound on waiting for the next line, not a sleep


async def _line(response: ClientResponse) -> str:
    raw = await asyncio.wait_for(response.content.readline(), READ_S)
    if not raw:
        raise EOFError("the stream ended")
    return raw.decode().rstrip("\n")


async def _event(response: ClientResponse) -> tuple[str, dict[str, Any]]:
    """The next event (comments and the retry hint skipped)."""
    kind, data = None, None
    while True:
        line = await _line(response)
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
        elif line == "" and kind is not None and data is not None:
            return kind, data


async def _until(response: ClientResponse, wanted: Any) -> list[tuple[str, dict[str, Any]]]:
    seen = []
    while True:
        event = await _event(response)
        seen.append(event)
        if wanted(*event):
            return seen


async def _connected(response: ClientResponse) -> None:
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    assert await _line(response) == f"retry: {events.RETRY_MS}"
    assert await _line(response) == ": connected"  # subscribed: later commits reach us
    assert await _line(response) == ""


async def test_a_run_streams_its_commits_and_its_interaction(make_api: ApiFactory) -> None:
    api = await make_api()
    await api.release()
    async with await api.cp("GET", "/events") as stream:
        await _connected(stream)
        eid = await api.submit()
        parked = await _until(
            stream, lambda kind, data: kind == "interaction" and data["executionId"] == eid
        )
        mine = [data for kind, data in parked if kind == "execution"]
        assert [d["executionId"] for d in mine] == [eid] * len(mine)
        versions = [d["version"] for d in mine]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        assert mine[0]["status"] in ("QUEUED", "RUNNING")  # a submit may claim at once
        assert mine[-1]["status"] == "WAITING_EXTERNAL"
        assert set(mine[-1]) == {
            "executionId",
            "status",
            "stepIndex",
            "version",
            "updatedAtEpochMs",
        }
        interaction = parked[-1][1]
        task = await api.parked(eid)
        assert interaction == {
            "interactionId": task["interactionId"],
            "executionId": eid,
            "stepIndex": task["stepIndex"],
            "status": "PENDING",
        }

        body = {
            "interactionId": task["interactionId"],
            "responsePayload": decision_envelope("accepted", {"orderId": "x"}),
        }
        await ok(api.cp("POST", "/interactions/complete", json=body))
        rest = await _until(
            stream,
            lambda kind, data: kind == "execution" and data["status"] in ("SUCCEEDED", "FAILED"),
        )
        assert ("interaction", {**interaction, "status": "COMPLETED"}) in rest
        assert rest[-1][1]["version"] > mine[-1]["version"]


async def test_the_stream_needs_a_token(make_api: ApiFactory) -> None:
    api = await make_api()
    assert (await error(api.raw("GET", CP + "/events"), 401))["code"] == "UNAUTHORIZED"
    wrong = {"Authorization": "Bearer not-a-token"}
    assert (await error(api.raw("GET", CP + "/events", headers=wrong), 401))["code"] == (
        "UNAUTHORIZED"
    )
    assert api.coordinator.engine.feed.subscribers("restaurant-demo") == 0


async def test_an_idle_stream_is_pinged(
    make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "PING_INTERVAL_S", 0.05)
    api = await make_api()
    async with await api.cp("GET", "/events") as stream:
        await _connected(stream)
        assert await _line(stream) == ": ping"


async def test_a_reader_that_fell_behind_is_told_to_resync(
    make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "SUBSCRIBER_CAPACITY", 2)
    api = await make_api()
    await api.release()
    the_feed = api.coordinator.engine.feed
    async with await api.cp("GET", "/events") as stream:
        await _connected(stream)
        [subscription] = the_feed._subscribers["restaurant-demo"]
        # Fill the queue past its bound before the stream task can drain it.
        for n in range(5):
            subscription.offer(feed.FeedEvent("execution", {"n": n}))
        assert subscription.overflowed
        seen = await _until(stream, lambda kind, data: kind == "resync")
        assert [d["n"] for k, d in seen if k == "execution"] == [0, 1][: len(seen) - 1]


async def test_shutdown_ends_the_stream(make_api: ApiFactory) -> None:
    api = await make_api()
    async with await api.cp("GET", "/events") as stream:
        await _connected(stream)
        api.client.server.app[EDGE].shutdown.set()
        with pytest.raises(EOFError):
            await _line(stream)
    assert api.coordinator.engine.feed.subscribers("restaurant-demo") == 0


def test_the_feed_delivers_to_the_events_tenant_only() -> None:
    changes = feed.ChangeFeed()
    with changes.subscribe("a") as a, changes.subscribe("b") as b:
        changes.publish("a", feed.FeedEvent("execution", {"executionId": "x"}))
        assert a.queue.qsize() == 1 and b.queue.qsize() == 0
        assert changes.subscribers("a") == 1
    assert changes.subscribers("a") == 0 and changes.subscribers("b") == 0


async def test_an_interaction_that_times_out_is_streamed(make_api: ApiFactory) -> None:
    clock = FakeClock()
    api = await make_api(clock=clock)
    await api.release()
    async with await api.cp("GET", "/events") as stream:
        await _connected(stream)
        eid = await api.submit()
        parked = await _until(
            stream, lambda kind, data: kind == "interaction" and data["executionId"] == eid
        )
        interaction_id = parked[-1][1]["interactionId"]
        clock.advance(31 * 60 * 1000)  # past the await's 30 minutes
        assert await api.coordinator.sweeper.time_out_awaits() == 1
        timed_out = await _until(
            stream, lambda kind, data: kind == "interaction" and data["status"] == "TIMED_OUT"
        )
        assert timed_out[-1][1]["interactionId"] == interaction_id
