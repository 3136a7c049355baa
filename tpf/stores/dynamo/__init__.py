"""The ``dynamo`` providers: executions, interactions, stream items, releases and
workers on DynamoDB.

Layout (spec §9, names from :class:`~tpf.config.settings.Settings`) in :mod:`.schema`; key
formats in :mod:`.keys`; the typed client edge and error mapping in :mod:`.client`. Every
store takes the coordinator's shared aiobotocore DynamoDB client (``await aws.client("dynamodb")``).
"""

from tpf.stores.dynamo.awaits import DynamoAwaitStore
from tpf.stores.dynamo.executions import DynamoExecutionStore
from tpf.stores.dynamo.held import DynamoHeldCompletionStore
from tpf.stores.dynamo.items import DynamoItemStore
from tpf.stores.dynamo.releases import DynamoReleaseStore
from tpf.stores.dynamo.schema import create_tables, missing_resources
from tpf.stores.dynamo.workers import DynamoWorkerStore

__all__ = [
    "DynamoAwaitStore",
    "DynamoExecutionStore",
    "DynamoHeldCompletionStore",
    "DynamoItemStore",
    "DynamoReleaseStore",
    "DynamoWorkerStore",
    "create_tables",
    "missing_resources",
]
