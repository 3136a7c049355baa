"""The coordinator: the Python face of the one-process durable coordinator.

The REST edge and the ``tpf`` command sit on top of it. It is assembled from the engine's parts:
:class:`~tpf.engine.runtime.Runtime` (the composition root: open/start/close, hosting code),
:class:`~tpf.engine.executions.ExecutionCommands` (submit, re-drive, status),
:class:`~tpf.engine.await_commands.AwaitCommands` (pending, complete),
:class:`~tpf.engine.operator.OperatorCommands` (search, history, cancel, bulk re-drive),
:class:`~tpf.engine.long_polls.LongPolls` (wait_for, wait_settled) and
:class:`~tpf.engine.registry_commands.RegistryCommands` (releases, worker lifecycle). Commands
become messages to actors; queries read the stores. ``start()`` runs the supervisor loops; tests may
skip it and drive each supervisor's ``tick()`` with a fake clock instead.
"""

from __future__ import annotations

from tpf.engine.await_commands import AwaitCommands
from tpf.engine.executions import INPUT_SHAPES, ExecutionCommands, SubmitResult
from tpf.engine.long_polls import LongPolls
from tpf.engine.operator import OperatorCommands
from tpf.engine.runtime import Runtime

__all__ = ["INPUT_SHAPES", "Coordinator", "SubmitResult"]


class Coordinator(OperatorCommands, ExecutionCommands, AwaitCommands, LongPolls, Runtime):
    """One coordinator process: build it with :meth:`open` (or from opened stores), ``start``
    it, and ``close`` it (or use it as an async context manager)."""
