"""The HeldCompletionStore contract, run against every implementation (see conftest)."""

from __future__ import annotations

from tpf.core.records import HeldCompletion
from tpf.stores.base import HeldCompletionStore
from tpf.stores.rules import hold_key

T0 = 1_760_000_000_000


def hold(
    handle: str, *, tenant: str = "t1", kind: str = "interaction", **fields: object
) -> HeldCompletion:
    return HeldCompletion(
        tenant_id=tenant,
        handle_kind=kind,
        handle=handle,
        response=fields.get("response", {"approved": True}),
        actor="chef",
        held_at_epoch_ms=T0,
        expires_at_epoch_ms=T0 + 60_000,
    )


def handles(found: list[HeldCompletion]) -> list[tuple[str, str, str]]:
    return [(h.tenant_id, h.handle_kind, h.handle) for h in found]


async def test_hold_is_kept_until_released(held_store: HeldCompletionStore) -> None:
    assert await held_store.list(10) == []
    first = hold("i1")
    assert await held_store.hold(first) is True
    assert await held_store.list(10) == [first]  # every field read back
    await held_store.release("t1", "interaction", "i1")
    assert await held_store.list(10) == []
    await held_store.release("t1", "interaction", "i1")  # idempotent


async def test_the_first_hold_of_a_handle_wins(held_store: HeldCompletionStore) -> None:
    first = hold("i1", response={"approved": True})
    assert await held_store.hold(first) is True
    assert await held_store.hold(hold("i1", response={"approved": False})) is False
    assert await held_store.list(10) == [first]


async def test_holds_are_keyed_by_tenant_kind_and_handle(held_store: HeldCompletionStore) -> None:
    for h in (
        hold("x"),
        hold("x", kind="correlation"),
        hold("x", tenant="t2"),
        hold("y"),
    ):
        assert await held_store.hold(h) is True
    expected = sorted(
        [
            ("t1", "interaction", "x"),
            ("t1", "correlation", "x"),
            ("t2", "interaction", "x"),
            ("t1", "interaction", "y"),
        ],
        key=lambda k: hold_key(*k),
    )
    assert handles(await held_store.list(10)) == expected
    await held_store.release("t1", "correlation", "x")  # releases only that one
    assert ("t1", "correlation", "x") not in handles(await held_store.list(10))
    assert len(await held_store.list(10)) == 3


async def test_list_is_bounded_and_ordered(held_store: HeldCompletionStore) -> None:
    names = [f"i{n:02d}" for n in range(12)]
    for name in reversed(names):
        await held_store.hold(hold(name))
    assert [h.handle for h in await held_store.list(5)] == names[:5]
    assert await held_store.list(0) == []
