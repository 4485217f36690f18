"""Which process is doing a piece of work, as scheduler runs and export writers record it: a name
other processes can read, and whether the process a name stands for is gone; and a process asked to
stop, which ends its step of work rather than being killed in the middle of it."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager


def process_name() -> str:
    """ "machine:pid", at most 100 characters (the columns that keep it)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def is_gone(name: str | None) -> bool | None:
    """True when `name` (a process_name) was a process of this machine that no longer runs, False
    when it still runs, None when it is another machine's (no way to ask from here)."""
    machine, _, pid = (name or "").rpartition(":")
    if machine != socket.gethostname()[:80] or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class StopRequest:
    """Whether this process was asked to stop (SIGTERM, or Ctrl-C where not ignored), as `stop_signals()` noted
    it: call it between two steps of work. `status` is the exit status of a process stopped so: 128 plus the
    signal's number, as a shell reports a process a signal ended, and as the supervisor exits."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    def __call__(self) -> bool:
        return bool(self.signals)

    @property
    def status(self) -> int:
        return 128 + self.signals[0] if self.signals else 0


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Within the block, SIGTERM and Ctrl-C only ask the work to stop (the StopRequest yielded), which then ends
    its step and gives back the rest: the mail sender its batch, between two messages. Killed by the signal
    instead, a sender left its batch claimed for a lease other senders wait out, and a message it was sending
    could go twice. The handlers before are put back after the block.

    The handler only notes the signal, in a list, which takes no lock: setting an Event would take the
    event's lock, which the main thread holds for a moment in each turn of a wait on it, and a handler runs
    in the main thread, so a signal landing then would wait for itself forever. Raising SystemExit from it
    landed wherever the main thread was: once inside APScheduler's hand-over of a job to its thread, which
    logged it as a failed submission and ran on, the signal spent. A second signal (a supervisor signals the
    whole group, and `make run` passes its own on) changes nothing."""
    request = StopRequest()

    def note(signum, frame):
        request.signals.append(signum)

    wanted = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # `make run` has its children ignore Ctrl-C
        wanted.append(signal.SIGINT)
    before = {signum: signal.signal(signum, note) for signum in wanted}
    try:
        yield request
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
