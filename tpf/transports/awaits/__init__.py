"""Await channels: how await requests are published and completions consumed (rest, sqs,
kafka), their envelopes, the shared completion handling and the await metrics."""
