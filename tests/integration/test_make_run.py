"""`make run` as a person starts it, the web server and the scheduler, stops both on a signal: Ctrl-C at the
terminal (SIGINT to the whole process group) or a supervisor's SIGTERM to make alone. With the web server in
the recipe's foreground, SIGTERM to make stopped nothing (found by an outside probe): the recipe's trap waited
for the server to end first, and a second `make run` found the port taken and an orphaned scheduler. And
what it does when one of them stops: a scheduler is started again, a web server ends the run, and a SIGKILL
to make (app/operations/supervisor.py) leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.databases import backend

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
# Start-up on a busy machine: the recipe's install check, the migrations and the demo's load come first.
STARTS_WITHIN = 300
STOPS_WITHIN = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _living_members(group: int) -> list[int]:
    """The processes of process group `group` that still run (a zombie waiting for its reaper does not)."""
    living = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (command) ": state, ppid, pgrp, …
        if int(fields[2]) == group and fields[0] != "Z":
            living.append(int(entry.name))
    return living


def _until(test, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if test():
            return True
        time.sleep(0.2)
    return test()


@contextmanager
def _make_run(tmp_path: Path):
    """`make run` on a port of its own and an instance folder of its own (its SQLite file, the demo), in a
    process group of its own, as a terminal starts it: SIGINT not ignored."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SHARAKA_CONFIG")}
    env["SHARAKA_INSTANCE_DIR"] = str(tmp_path)
    with open(tmp_path / "make-run.log", "wb") as log:
        process = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        started = _until(lambda: _answers(port) or process.poll() is not None, STARTS_WITHIN)
        assert started and process.poll() is None, (tmp_path / "make-run.log").read_text()
        yield process, port
    finally:
        for pid in _living_members(process.pid):
            os.kill(pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("stop", ["SIGTERM to make", "Ctrl-C", "SIGTERM to the group"])
def test_a_signal_stops_the_web_server_and_the_scheduler(tmp_path, stop):
    """A supervisor stopping a service signals its whole group (systemd's default): the scheduler then had
    the signal twice, its own and the one passed on to it, and the second, met in the middle of its
    shutdown, left it hanging."""
    if backend() != "sqlite":
        pytest.skip("make run serves the SQLite file of its instance folder")
    with _make_run(tmp_path) as (process, port):
        group = process.pid
        if stop == "Ctrl-C":
            os.killpg(group, signal.SIGINT)
        elif stop == "SIGTERM to the group":
            os.killpg(group, signal.SIGTERM)
        else:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOPS_WITHIN)
        assert _until(lambda: not _living_members(group), STOPS_WITHIN), _living_members(group)
        assert not _answers(port)
        log = (tmp_path / "make-run.log").read_text()
        assert "Traceback" not in log, log


def _member_running(group: int, *words: str) -> int | None:
    """The pid of the living member of `group` whose command line has `words` in a row, if one does."""
    for pid in _living_members(group):
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if any(argv[i : i + len(words)] == list(words) for i in range(len(argv))):
            return pid
    return None


def _web_server(group: int) -> int | None:
    return _member_running(group, "flask", "run")


def _scheduler(group: int) -> int | None:
    return _member_running(group, "scheduler", "run")


def _log(tmp_path: Path) -> str:
    return (tmp_path / "make-run.log").read_text()


def _stops_cleanly(process: subprocess.Popen, tmp_path: Path) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=STOPS_WITHIN)
    assert _until(lambda: not _living_members(process.pid), STOPS_WITHIN), _living_members(process.pid)
    assert "Traceback" not in _log(tmp_path), _log(tmp_path)


def test_a_scheduler_that_stops_is_said_and_started_again(tmp_path):
    """A scheduler killed (SIGKILL, a crash) left the web server serving alone; only /admin/jobs said so,
    five minutes later."""
    if backend() != "sqlite":
        pytest.skip("make run serves the SQLite file of its instance folder")
    with _make_run(tmp_path) as (process, port):
        group = process.pid
        assert _until(lambda: _scheduler(group) is not None, STARTS_WITHIN)
        first = _scheduler(group)
        os.kill(first, signal.SIGKILL)
        assert _until(lambda: "The scheduler is started again" in _log(tmp_path), STARTS_WITHIN), _log(tmp_path)
        assert "The scheduler stopped (killed by SIGKILL)" in _log(tmp_path)
        assert _until(lambda: _scheduler(group) not in (None, first), STARTS_WITHIN)
        assert process.poll() is None and _answers(port)
        _stops_cleanly(process, tmp_path)


def test_a_web_server_that_stops_ends_the_run_and_its_scheduler(tmp_path):
    if backend() != "sqlite":
        pytest.skip("make run serves the SQLite file of its instance folder")
    with _make_run(tmp_path) as (process, _port):
        group = process.pid
        os.kill(_web_server(group), signal.SIGKILL)
        assert process.wait(timeout=STOPS_WITHIN) != 0
        assert _until(lambda: not _living_members(group), STOPS_WITHIN), _living_members(group)
        assert "The web server stopped (killed by SIGKILL): stopping the scheduler." in _log(tmp_path)


def test_sigkill_to_make_leaves_nothing_running(tmp_path):
    """No trap sees a SIGKILL: make's recipe left the web server and the scheduler running, the port taken."""
    if backend() != "sqlite":
        pytest.skip("make run serves the SQLite file of its instance folder")
    with _make_run(tmp_path) as (process, port):
        group = process.pid
        assert _until(lambda: _scheduler(group) is not None, STARTS_WITHIN)
        process.kill()
        process.wait()
        assert _until(lambda: not _living_members(group), STOPS_WITHIN), _living_members(group)
        assert not _answers(port)


@pytest.mark.parametrize("how", ["environment", "command line"])
@pytest.mark.parametrize("port", ["abc", "0", "70000", "50'00"])
def test_a_port_that_is_no_port_number_is_named_before_anything_starts(tmp_path, how, port):
    """`PORT=abc make run` had blamed BASE_URL ('http://127.0.0.1:abc' is not an address), which the operator
    never set: make builds it from PORT."""
    if backend() != "sqlite":
        pytest.skip("make run serves the SQLite file of its instance folder")
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SHARAKA_CONFIG", "PORT")}
    env["SHARAKA_INSTANCE_DIR"] = str(tmp_path)
    if how == "environment":
        env["PORT"] = port
    refused = subprocess.run(
        ["make", "run", *([f"PORT={port}"] if how == "command line" else [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    said = refused.stderr.splitlines()
    assert said[0] == f"PORT='{port}' is not a port number: give a whole number from 1 to 65535.", refused.stderr
    assert "BASE_URL" not in refused.stderr + refused.stdout and "demo prepare" not in refused.stdout
    assert not (tmp_path / "sharaka.sqlite").exists()
