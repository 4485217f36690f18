"""gunicorn's workers under production settings (gunicorn.conf.py), as real processes sent real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.databases import migrated_database
from tests.integration.test_multi_server import wait_ready
from tests.integration.test_notifications_mail import ROOT, WAIT, free_port

pytestmark = [pytest.mark.live, pytest.mark.backend_neutral]


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pid: int) -> bool:
    """Alive and not a zombie: an orphan that ended stays one here until whatever adopted it reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gunicorn(url: str, port: int, instance: Path) -> subprocess.Popen:
    # A timeout far past the test's wait: a worker that only noticed its master gone at its next check (half
    # the timeout) would still hold the port when the wait gives up.
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "--timeout", "600", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "SHARAKA_CONFIG": "development",
            "FLASK_SKIP_DOTENV": "1",
            "SHARAKA_INSTANCE_DIR": str(instance),
            "UPLOAD_DIR": str(instance / "uploads"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_workers_end_with_a_master_killed_by_sigkill_and_a_new_server_takes_the_port(tmp_path):
    """A master killed with SIGKILL cannot stop its workers: they went on holding the port, and answering on
    it, until they next looked for their parent (up to half the timeout later), and a server started again
    meanwhile could not bind ("Connection in use"). Each worker now ends with its master."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with migrated_database(tmp_path, "workers") as url:
        first = gunicorn(url, port, tmp_path / "first")
        try:
            wait_ready(base, first)
            workers = children_of(first.pid)
            assert len(workers) == 2
            first.send_signal(signal.SIGKILL)
            first.wait()
            deadline = time.monotonic() + WAIT
            while any(running(worker) for worker in workers):
                assert time.monotonic() < deadline, "the workers outlived their master"
                time.sleep(0.1)
            second = gunicorn(url, port, tmp_path / "second")
            try:
                wait_ready(base, second)
            finally:
                second.terminate()
                second.wait(WAIT)
        finally:
            try:  # its own session: the workers are in the master's group even once it is gone
                os.killpg(first.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
