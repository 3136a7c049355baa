"""Artifact stores: content-addressed release artifacts, local (:mod:`.local`) or S3 (:mod:`.s3`).

Only the local store is re-exported: the S3 one pulls in the AWS client and is imported where it
is configured.
"""

from tpf.stores.artifacts.local import LocalArtifactStore

__all__ = ["LocalArtifactStore"]
