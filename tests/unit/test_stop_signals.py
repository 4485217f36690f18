"""A process asked to stop by a signal ends its step of work: the signal is only noted (processes.stop_signals)."""

import os
import signal

from app.core.processes import stop_signals


def test_a_signal_within_the_block_is_noted_and_the_handlers_before_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals() as stop_requested:
        assert not stop_requested() and stop_requested.status == 0
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # a second one (the group signalled) changes nothing
        assert stop_requested() and stop_requested.status == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
