"""Kafka plumbing shared by the Kafka transports: connection settings for aiokafka and topic
administration (existence checks, ``bootstrap``).

The transports themselves sit with their kinds (:mod:`tpf.transports.work.kafka`,
:mod:`tpf.transports.dlq.kafka`). Each is imported on demand by whoever opens that provider, so
a build that never names Kafka never loads aiokafka.
"""
