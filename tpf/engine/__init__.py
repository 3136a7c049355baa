"""The engine: the services the coordinator composes (admission, releases, leadership, registry
commands, orphan rules, lifecycle log lines) on top of the actors, stores and transports.
"""
