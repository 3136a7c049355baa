"""Tests of the test environments in tpf.testing."""
