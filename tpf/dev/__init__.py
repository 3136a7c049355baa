"""Development helpers: the serialized moto server for ``tpf dev aws`` and the tests, and the
sample payloads ``tpf dev`` prints."""
