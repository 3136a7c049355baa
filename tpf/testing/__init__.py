"""Test environments for pipelines built on tpf (several coordinators: tpf.testing.cluster)."""
