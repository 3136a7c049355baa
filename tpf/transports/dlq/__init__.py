"""DLQ sinks: one module per technology (log, sqs)."""
