"""Demo pipelines mirroring the original TPF examples."""
