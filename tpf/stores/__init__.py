"""Durable stores: executions, await interactions, releases, artifacts and workers."""
