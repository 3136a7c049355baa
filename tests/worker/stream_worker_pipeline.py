"""The engine tests' stream pipeline, as a module attribute a ``tpf worker`` can host."""

from __future__ import annotations

from tests.engine.stream_pipelines import stream_pipeline

REF = "tests.worker.stream_worker_pipeline:pipeline"
pipeline, _ = stream_pipeline()
