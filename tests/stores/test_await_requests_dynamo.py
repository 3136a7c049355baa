"""What the stream path's await reads cost on DynamoDB, in requests (issue 13's HA shape).

A stream's rescan reads its window with one ``BatchGetItem`` (not a ``GetItem`` per item), and
the dispatcher's ``mark_dispatched`` with the copy it published writes without reading first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.stores.conftest import dynamo_for
from tests.stores.test_await_store_contract import T0, make
from tpf.core import interactions as inter
from tpf.core.records import DispatchState, InteractionStatus
from tpf.stores.dynamo.awaits import DynamoAwaitStore


def counting(client: Any) -> Counter[str]:
    seen: Counter[str] = Counter()

    def count(event_name: str = "", **_: Any) -> None:
        seen[event_name.rsplit(".", 1)[-1]] += 1

    client.meta.events.register("before-send", count)
    return seen


async def test_a_window_is_read_in_one_batch_and_published_copies_are_not_reread(
    request: pytest.FixtureRequest,
) -> None:
    async with dynamo_for(request, state__provider="dynamo") as (client, settings):
        store = DynamoAwaitStore(client, settings)
        window = [make(f"w{n}", dispatch_state=DispatchState.CREATED) for n in range(25)]
        for interaction in window:
            await store.create_or_get(interaction)
        seen = counting(client)
        found = await store.get_many("t1", [i.interaction_id for i in window])
        assert len(found) == 25 and seen == Counter(BatchGetItem=1)

        seen.clear()
        marked = await store.mark_dispatched("t1", "w0", T0 + 1, sent=window[0])
        assert marked is not None and marked.dispatch_state is DispatchState.DISPATCHED
        assert seen == Counter(PutItem=1)

        # A completion came first: the conditional write fails, the read follows, and the
        # completion is kept.
        done = inter.complete(window[1], T0 + 1, {"ok": True}, "provider")
        assert await store.compare_and_set(done, 0) is not None
        seen.clear()
        marked = await store.mark_dispatched("t1", "w1", T0 + 2, sent=window[1])
        assert marked is not None and marked.status is InteractionStatus.COMPLETED
        assert seen == Counter(PutItem=2, GetItem=1)
