"""Tests that the benchmark shapes keep running (tiny N) and compute their figures right."""
