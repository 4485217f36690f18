"""Which process is doing a piece of work, as scheduler runs and export writers record it: a name
other processes can read, and whether the process a name stands for is gone."""

from __future__ import annotations

import os
import socket


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
