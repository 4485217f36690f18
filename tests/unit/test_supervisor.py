"""The pause before `make run` starts a stopped scheduler again, and how a stop is told."""

import signal

from app.operations.supervisor import LONGEST_PAUSE_SECONDS, STEADY_SECONDS, describe, next_pause


def test_a_scheduler_that_keeps_dying_at_once_waits_longer_each_time():
    pauses, pause = [], 0.0
    for _ in range(8):
        pause = next_pause(0.5, pause)
        pauses.append(pause)
    assert pauses == [1, 2, 4, 8, 16, 32, LONGEST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS]


def test_a_scheduler_that_ran_steadily_is_started_again_at_once():
    assert next_pause(STEADY_SECONDS, LONGEST_PAUSE_SECONDS) == 0
    assert next_pause(STEADY_SECONDS - 1, 0) == 1


def test_a_stop_is_told_by_its_exit_status_or_signal():
    assert describe(1) == "exit status 1"
    assert describe(-signal.SIGKILL) == "killed by SIGKILL"
