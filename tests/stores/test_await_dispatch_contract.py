"""The dispatch outbox of the AwaitStore contract, run against every implementation.

An interaction a channel must publish is stored ``CREATED``; ``find_undispatched`` is the outbox
its dispatcher polls and ``mark_dispatched`` takes it out, once, whatever happens around it.
"""

from __future__ import annotations

from tests.stores.test_await_store_contract import T0, ids, make
from tpf.core import interactions as inter
from tpf.core.records import DispatchState, InteractionStatus
from tpf.stores.base import AwaitStore

CREATED = DispatchState.CREATED


async def test_interactions_dispatched_at_creation_are_not_in_the_outbox(
    await_store: AwaitStore,
) -> None:
    rest = make("rest")
    assert rest.dispatch_state is DispatchState.DISPATCHED  # the default: REST needs no publish
    await await_store.create_or_get(rest)
    assert await await_store.find_undispatched(10) == []


async def test_created_interactions_are_listed_until_marked(await_store: AwaitStore) -> None:
    for name, tenant in (("b", "t1"), ("a", "t2"), ("a", "t1")):
        await await_store.create_or_get(make(name, tenant=tenant, dispatch_state=CREATED))
    await await_store.create_or_get(make("rest"))
    outbox = await await_store.find_undispatched(10)
    assert [(i.tenant_id, i.interaction_id) for i in outbox] == [
        ("t1", "a"),
        ("t1", "b"),
        ("t2", "a"),
    ]
    assert ids(await await_store.find_undispatched(1)) == ["a"]

    marked = await await_store.mark_dispatched("t1", "a", T0 + 5)
    assert marked is not None
    assert marked.dispatch_state is DispatchState.DISPATCHED
    assert marked.version == 1 and marked.updated_at_epoch_ms == T0 + 5
    assert marked.transport_metadata["dispatchedAtEpochMs"] == T0 + 5
    assert await await_store.get("t1", "a") == marked
    assert [(i.tenant_id, i.interaction_id) for i in await await_store.find_undispatched(10)] == [
        ("t1", "b"),
        ("t2", "a"),
    ]


async def test_mark_dispatched_is_idempotent(await_store: AwaitStore) -> None:
    await await_store.create_or_get(make("i1", dispatch_state=CREATED))
    first = await await_store.mark_dispatched("t1", "i1", T0 + 5)
    again = await await_store.mark_dispatched("t1", "i1", T0 + 9)
    assert first is not None and again == first  # unchanged: no second version
    assert await await_store.mark_dispatched("t1", "missing", T0) is None
    rest = make("rest")
    await await_store.create_or_get(rest)
    assert await await_store.mark_dispatched("t1", "rest", T0 + 5) == rest


async def test_a_resolved_interaction_leaves_the_outbox(await_store: AwaitStore) -> None:
    created = make("i1", dispatch_state=CREATED)
    await await_store.create_or_get(created)
    done = inter.complete(created, T0 + 1, {"ok": True}, "chef")
    assert await await_store.compare_and_set(done, 0) == done
    assert await await_store.find_undispatched(10) == []
    assert ids(await await_store.find_unapplied(10)) == ["i1"]  # and is where it belongs


async def test_mark_dispatched_keeps_a_concurrent_completion(await_store: AwaitStore) -> None:
    created = make("i1", dispatch_state=CREATED)
    await await_store.create_or_get(created)
    done = inter.complete(created, T0 + 1, {"ok": True}, "chef")
    await await_store.compare_and_set(done, 0)
    marked = await await_store.mark_dispatched("t1", "i1", T0 + 2)
    assert marked is not None
    assert marked.status is InteractionStatus.COMPLETED
    assert marked.response_payload == {"ok": True} and marked.version == 2


async def test_mark_dispatched_with_the_publishers_copy(await_store: AwaitStore) -> None:
    created = make("i1", dispatch_state=CREATED)
    await await_store.create_or_get(created)
    marked = await await_store.mark_dispatched("t1", "i1", T0 + 5, sent=created)
    assert marked is not None and marked.dispatch_state is DispatchState.DISPATCHED
    assert marked.version == 1 and await await_store.get("t1", "i1") == marked


async def test_a_stale_publishers_copy_keeps_a_concurrent_completion(
    await_store: AwaitStore,
) -> None:
    created = make("i1", dispatch_state=CREATED)
    await await_store.create_or_get(created)
    done = inter.complete(created, T0 + 1, {"ok": True}, "chef")
    await await_store.compare_and_set(done, 0)
    # The copy the dispatcher published is older than the completion: its version fences it.
    marked = await await_store.mark_dispatched("t1", "i1", T0 + 2, sent=created)
    assert marked is not None and marked.status is InteractionStatus.COMPLETED
    assert marked.response_payload == {"ok": True} and marked.version == 2
    assert await await_store.get("t1", "i1") == marked
    # A copy that says dispatched already is no reason to skip the stored state either.
    again = await await_store.mark_dispatched("t1", "i1", T0 + 3, sent=marked)
    assert again == marked
