"""The actor runtime and every actor of the coordinator (executions and supervisors)."""
