"""tpf-coordinator: a durable execution coordinator for long-running, human-in-the-loop
pipelines."""

__version__ = "0.1.0"
