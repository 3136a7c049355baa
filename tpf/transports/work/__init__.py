"""Work queues: one module per technology (inproc, sqs)."""
