"""Transports: work queues, DLQ sinks, await channels and transition-worker protocols."""
