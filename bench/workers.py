"""Do gunicorn's workers survive being recycled under load, with and without its control socket?

    .venv/bin/python bench/workers.py [--seconds 60] [--max-requests 25] [--clients 10]

Serves a small portfolio (SQLite) with the benchmark's gunicorn settings, workers replaced
every --max-requests requests (so the arbiter forks all the time, as production does over
days), while --clients hammer the dashboard and a bare route. Run twice: control socket on
(gunicorn 27's default) and off (gunicorn.conf.py). Prints, per run, requests served, failed
requests, forks, and the workers that died by a signal or hung past the timeout, read from
gunicorn's log.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pages import Client, database, prepare, server  # noqa: E402


def hammer(accounts: dict, clients: int, seconds: float) -> tuple[int, int]:
    """Requests served and failed (a 5xx, or a connection the server dropped twice in a row)."""
    done, failed = [0] * clients, [0] * clients
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        client = Client()
        try:
            client.sign_in(*accounts["manager"])
        except Exception:
            failed[index] += 1
        while time.monotonic() < stop:
            try:
                status, _body, _headers = client.request("GET", "/dashboard" if index % 2 else "/__bench/ok")
                done[index] += 1
                failed[index] += status >= 500
            except Exception:
                failed[index] += 1
                client = Client()
                try:
                    client.sign_in(*accounts["manager"])
                except Exception:
                    pass

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), sum(failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=25)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    os.environ["BENCH_MAX_REQUESTS"] = str(args.max_requests)
    with tempfile.TemporaryDirectory() as folder, database("sqlite", Path(folder)) as url:
        tmp = Path(folder)
        _counts, accounts = prepare(url, 100, tmp)
        for control_socket in (True, False):
            with server(url, tmp, control_socket=control_socket):
                served, failed = hammer(accounts, args.clients, args.seconds)
            log = (tmp / "gunicorn.log").read_text()
            forks = len(re.findall(r"Booting worker", log))
            died = len(re.findall(r"was sent (SIGSEGV|SIGABRT|SIGBUS|SIGKILL)|exited with code (?!0)", log))
            hung = len(re.findall(r"WORKER TIMEOUT", log))
            print(
                f"control socket {'on ' if control_socket else 'off'}: {served} requests, {failed} failed, "
                f"{forks} workers started, {died} died by a signal or an error, {hung} hung past the timeout"
            )
            for line in log.splitlines():
                if re.search(r"SIG|TIMEOUT|exited|Traceback|Error", line):
                    print(f"    {line[:200]}")


if __name__ == "__main__":
    main()
