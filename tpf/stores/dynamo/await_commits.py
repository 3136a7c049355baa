"""An execution's commit and its interaction's write in one ``TransactWriteItems`` on DynamoDB
(see ``tpf.stores.base.AwaitCommits``).

A park writes the interaction, its correlation row, the execution's ``WAITING_EXTERNAL`` record
and its status count at once: one request where the general path makes three (the
interaction's create transaction, the park's, and a ``GetItem`` of the interaction to catch a
completion admitted between the two). A resume writes the execution's next record with the
interaction marked applied: one request instead of two. Any condition failure cancels the whole
transaction, so nothing is written and the caller takes the general path, which tells the cases
apart (an interaction that already exists on a re-run, a taken correlation id, a lost lease, an
interaction someone else already marked).
"""

from __future__ import annotations

from tpf.core.records import AwaitInteraction, ExecutionRecord
from tpf.stores.dynamo.awaits import DynamoAwaitStore
from tpf.stores.dynamo.executions import DynamoExecutionStore


class DynamoAwaitCommits:
    def __init__(self, executions: DynamoExecutionStore, awaits: DynamoAwaitStore) -> None:
        self._executions = executions
        self._awaits = awaits

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
