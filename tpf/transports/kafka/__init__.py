"""Kafka transports: the work queue, the DLQ sink and the topic admin (aiokafka).

Each module is imported on demand by whoever opens that provider, so a build that never names
Kafka never loads aiokafka.
"""
