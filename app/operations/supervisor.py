"""What `make run` runs (`python -m app.operations.supervisor`): the web server and the scheduler side by
side, looked after for a developer's terminal, as systemd looks after them in production.

- The scheduler stopping (a crash, a SIGKILL) is said and it is started again, after a pause that grows
  while it keeps dying at once (1, 2, 4… up to 60 seconds), so a broken scheduler does not spin.
- The web server stopping ends the run: the scheduler is stopped and the exit status is not 0.
- Ctrl-C, or SIGTERM to make, to this process or to the whole group, stops both and waits for them.
- Nothing outlives make, even killed with SIGKILL (which no trap sees): this process asks Linux for a
  SIGTERM when make dies, and each child for one when this process dies (prctl PR_SET_PDEATHSIG).

Only the standard library: it is a process manager, not part of the app.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# A scheduler that ran this long before stopping was not dying at once: it is started again without a pause.
STEADY_SECONDS = 30.0
LONGEST_PAUSE_SECONDS = 60.0


class _Stop(Exception):
    """Raised by the signal handler out of whatever the supervisor was waiting on."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def next_pause(ran_for: float, previous: float) -> float:
    """Seconds to wait before starting again a scheduler that stopped after `ran_for` seconds, when the
    pause before its last start was `previous`: none after a steady run, else double (1 s at first)."""
    if ran_for >= STEADY_SECONDS:
        return 0.0
    return min(max(previous * 2, 1.0), LONGEST_PAUSE_SECONDS)


def describe(returncode: int) -> str:
    """ "exit status 1" or "killed by SIGKILL", from a Popen return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def die_with_parent(parent_pid: int) -> None:
    """Have Linux send this process SIGTERM when its parent dies; exit at once if `parent_pid`, the
    parent it was started by, is gone already (it died before the request was made: no signal comes)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: a SIGKILL to make leaves the processes running
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def _child_setup(supervisor: int) -> None:
    """In a child before it runs its command: Ctrl-C is for this process, which stops the children with
    SIGTERM and waits for them (the terminal sends SIGINT to the whole group: the scheduler, hit by it in
    the middle of its shutdown, died with a traceback, as a shell's background jobs never were); and the
    child ends when this process does. An ignored SIGINT stays ignored through exec, and Python keeps it so."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(supervisor)


def _say(line: str) -> None:
    print(f"[make run] {line}", flush=True)


class Supervisor:
    def __init__(self, web: Sequence[str], scheduler: Sequence[str]):
        self.commands = {"web server": list(web), "scheduler": list(scheduler)}
        self.children: dict[str, subprocess.Popen] = {}
        self.started_at: dict[str, float] = {}

    def start(self, name: str) -> None:
        supervisor = os.getpid()
        self.children[name] = subprocess.Popen(
            self.commands[name],
            # In the child, before exec: it ends when this process does, however this process ends.
            preexec_fn=lambda: _child_setup(supervisor),
        )
        self.started_at[name] = time.monotonic()

    def wait_for_a_child(self) -> tuple[str, int]:
        """Block until a child ends; its name and Popen return code."""
        while True:
            pid, status = os.waitpid(-1, 0)
            for name, child in self.children.items():
                if child.pid == pid:
                    child.returncode = os.waitstatus_to_exitcode(status)
                    return name, child.returncode

    def stop_all(self) -> None:
        """SIGTERM to each child still running, then wait for it to end its current step."""
        # A second Ctrl-C or SIGTERM (make passing its own on, the group signalled) does not cut this short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        living = [child for child in self.children.values() if child.returncode is None]
        for child in living:
            try:
                child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        for child in living:
            child.wait()

    def run(self) -> int:
        """Start both and look after them until told to stop or the web server stops; the exit status."""

        stopping: list[int] = []

        def stop(signum, frame):
            # Once: a second Ctrl-C or SIGTERM (make passing its own on, the group signalled) that lands before
            # stop_all ignores them had raised again in the middle of stopping, a traceback in the log.
            if not stopping:
                stopping.append(signum)
                raise _Stop(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        pause = 0.0
        try:
            self.start("scheduler")
            self.start("web server")
            while True:
                name, returncode = self.wait_for_a_child()
                if name == "web server":
                    _say(f"The web server stopped ({describe(returncode)}): stopping the scheduler.")
                    self.stop_all()
                    return returncode if returncode > 0 else (128 - returncode if returncode < 0 else 1)
                ran_for = time.monotonic() - self.started_at[name]
                pause = next_pause(ran_for, pause)
                _say(
                    f"The scheduler stopped ({describe(returncode)}) after {ran_for:.0f} s: "
                    f"starting it again in {pause:.0f} s."
                )
                time.sleep(pause)
                self.start("scheduler")
                _say(f"The scheduler is started again (pid {self.children['scheduler'].pid}).")
        except _Stop as stopped:
            self.stop_all()
            return 128 + stopped.signum


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    parser.add_argument(
        "--parent",
        type=int,
        default=None,
        help="the pid of make, which this process ends with (default: this process's parent as it starts)",
    )
    options = parser.parse_args(argv)
    die_with_parent(options.parent if options.parent is not None else os.getppid())
    flask = [sys.executable, "-m", "flask"]
    supervisor = Supervisor(
        web=[*flask, "run", "--host", options.host, "--port", str(options.port)],
        scheduler=[*flask, "scheduler", "run"],
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
