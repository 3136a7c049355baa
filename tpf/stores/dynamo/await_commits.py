"""An interaction's write together with the record that waits on it, in one
``TransactWriteItems`` on DynamoDB (see ``tpf.stores.joint_writes.AwaitCommits``).

A park writes the interaction, its correlation row, the execution's ``WAITING_EXTERNAL`` record
and its status count at once: one request where the general path makes three (the
interaction's create transaction, the park's, and a ``GetItem`` of the interaction to catch a
completion admitted between the two). A resume writes the execution's next record with the
interaction marked applied: one request instead of two. A stream item's dispatch writes the
interaction, its correlation row and the item ``AWAITING`` on it (one request instead of the
create's transaction and the item's put), and an answered item's finish writes the item
``DONE`` with the interaction marked applied (one instead of two puts). Any condition failure
cancels the whole transaction, so nothing is written and the caller takes the general path,
which tells the cases apart (an interaction that already exists on a re-run, a taken
correlation id, a lost lease, an item or interaction someone else already wrote).
"""

from __future__ import annotations

from tpf.core.errors import RetryableError
from tpf.core.items import StreamItem
from tpf.core.records import AwaitInteraction, ExecutionRecord
from tpf.stores.dynamo.awaits import DynamoAwaitStore
from tpf.stores.dynamo.client import Dynamo, TransactionCanceled
from tpf.stores.dynamo.codec import Item
from tpf.stores.dynamo.executions import DynamoExecutionStore
from tpf.stores.dynamo.items import DynamoItemStore


class DynamoAwaitCommits:
    def __init__(
        self,
        db: Dynamo,
        executions: DynamoExecutionStore,
        awaits: DynamoAwaitStore,
        items: DynamoItemStore,
    ) -> None:
        self._db = db
        self._executions = executions
        self._awaits = awaits
        self._items = items

    async def park(
        self, waiting: ExecutionRecord, expected_version: int, interaction: AwaitInteraction
    ) -> ExecutionRecord | None:
        failed = await self._executions.commit_live_with(
            waiting, expected_version, self._awaits.create_actions(interaction)
        )
        return waiting if failed is None else None

    async def resume(
        self,
        running: ExecutionRecord,
        expected_version: int,
        applied: AwaitInteraction,
        interaction_version: int,
    ) -> ExecutionRecord | None:
        failed = await self._executions.commit_live_with(
            running, expected_version, [self._awaits.replace_action(applied, interaction_version)]
        )
        return running if failed is None else None

    async def dispatch_item(
        self, awaiting: StreamItem, item_version: int, interaction: AwaitInteraction
    ) -> bool:
        return await self._all_or_nothing(
            [
                *self._awaits.create_actions(interaction),
                self._items.replace_action(awaiting, item_version),
            ]
        )

    async def finish_item(
        self,
        done: StreamItem,
        item_version: int,
        applied: AwaitInteraction,
        interaction_version: int,
    ) -> bool:
        return await self._all_or_nothing(
            [
                self._items.replace_action(done, item_version),
                self._awaits.replace_action(applied, interaction_version),
            ]
        )

    async def _all_or_nothing(self, actions: list[Item]) -> bool:
        try:
            await self._db.transact_write(actions)
        except (TransactionCanceled, RetryableError):
            return False  # a condition failed, or it met a concurrent write: nothing written
        return True
