"""A SIGTERM to an HA demo while it forks a child waits until the child is recorded.

Python runs a signal handler between bytecodes, so a ``SystemExit`` raised inside
``subprocess.Popen`` after the fork would leave a child nobody stops (it outlived the demo in
``test_a_demo_stopped_halfway_stops_its_processes`` once under load); the demo's handler holds
the signal back inside :meth:`_Sigterm.deferred` blocks.
"""

from __future__ import annotations

import signal

import pytest

from demos.restaurant_approval.ha.processes import _Sigterm


def test_a_signal_outside_a_deferred_block_exits_at_once() -> None:
    with pytest.raises(SystemExit) as exited:
        _Sigterm().handle(signal.SIGTERM, None)
    assert exited.value.code == 128 + signal.SIGTERM


def test_a_signal_inside_a_deferred_block_exits_when_the_block_ends() -> None:
    sigterm = _Sigterm()
    reached_the_end = False
    with pytest.raises(SystemExit) as exited, sigterm.deferred():
        with sigterm.deferred():  # nested: only the outermost block's end exits
            sigterm.handle(signal.SIGTERM, None)
        reached_the_end = True
    assert reached_the_end
    assert exited.value.code == 128 + signal.SIGTERM
    assert sigterm.pending is None and sigterm.depth == 0


def test_a_deferred_block_without_a_signal_just_ends() -> None:
    sigterm = _Sigterm()
    with sigterm.deferred():
        pass
    assert sigterm.pending is None and sigterm.depth == 0
