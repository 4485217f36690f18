"""The pause before `make run` starts a stopped scheduler again, and how a stop is told."""

import os
import signal
import time

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


SECOND_SIGNAL_WHILE_STOPPING = """
import os, signal, sys
sys.path.insert(0, {root!r})
from app.operations.supervisor import Supervisor

supervisor = Supervisor(web=["sleep", "30"], scheduler=["sleep", "30"])
stop_all = supervisor.stop_all

def stop_all_after_a_second_signal():
    os.kill(os.getpid(), signal.SIGTERM)  # make passing its own on, landing before the signals are ignored
    stop_all()

supervisor.stop_all = stop_all_after_a_second_signal
print("ready", flush=True)
sys.exit(supervisor.run())
"""


def test_a_second_signal_while_stopping_changes_nothing():
    """A SIGTERM to the whole group reaches the supervisor twice (its own, and make's passed on): the second,
    landing as the first's stop began, raised again in the middle of it (a traceback in `make run`'s log)."""
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    process = subprocess.Popen(
        [sys.executable, "-c", SECOND_SIGNAL_WHILE_STOPPING.format(root=root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"  # its handlers are set as run() begins, just after
    deadline = time.monotonic() + 60
    while len([pid for pid in os.listdir("/proc") if pid.isdigit() and _parent_of(pid) == process.pid]) < 2:
        # Both children started: run() is waiting for them, its handlers set.
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err


def _parent_of(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
