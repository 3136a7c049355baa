"""Release building and registration under its public import path.

The code lives in :mod:`tpf.engine.releases`; this path stays for users' imports.
"""

from tpf.engine.releases import ReleaseRegistrar as ReleaseRegistrar
from tpf.engine.releases import build_release as build_release
from tpf.engine.releases import primary_artifact_kind as primary_artifact_kind
