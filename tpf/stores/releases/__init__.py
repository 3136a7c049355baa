"""Release registries beyond the in-memory one: the file registry (:mod:`.file`).

The DynamoDB registry lives with the other DynamoDB stores (:mod:`tpf.stores.dynamo.releases`).
"""

from tpf.stores.releases.file import FileReleaseStore

__all__ = ["FileReleaseStore"]
