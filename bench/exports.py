"""Long exports, from the request that asks for one to the file the scheduler wrote, measured from outside
through HTTP under gunicorn with the real scheduler process beside it.

    .venv/bin/python bench/exports.py [--db sqlite|postgresql] [--agreements 10000] [--keep] [--inline-max-rows N]

A copy of the portfolio (bench/pages.py's; --keep copies the kept one, as bench/pages.py does) is
served by gunicorn as bench/pages.py serves it (production's settings, BENCH_PORT), and
`flask scheduler run` runs beside it as production starts it (deploy/systemd/sharaka-scheduler.service),
on the same database and upload folder. Once the scheduler's start-up jobs have run (their rows in
job_status), the officer asks, as a person does, for the agreements' and the deliverables' lists as CSV
and as XLSX, one after the other: the link (a GET: the page asking to confirm), the confirmation (a POST
with its CSRF token: the request that queues the export), then the export's own page, asked every
POLL_SECONDS until it offers the download (or says the export failed; a deadline otherwise), then the
download. Printed per export: the confirm page's and the POST's milliseconds, the seconds from the POST
to the page offering the file, of which the job waited for the scheduler's next look
(EXPORT_INTERVAL_SECONDS) and was written (its row's started_at and finished_at), the rows in the
downloaded file, its size and the download's time; then the scheduler's peak memory and the errors
in its log.
A list short enough for the request (EXPORT_INLINE_MAX_ROWS, 2,000 rows: at 100 agreements) is written
by the GET itself, shown "written in the request"; --inline-max-rows 0 sends every export to the scheduler.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, select  # noqa: E402

from bench.pages import (  # noqa: E402
    ROOT,
    Client,
    platform_line,
    portfolio,
    production_process,
    server,
)

LISTS = {"agreements": "/agreements/export.{fmt}", "deliverables": "/deliverables/export.{fmt}"}
FORMATS = ("csv", "xlsx")
ROLE = "officer"
# What the scheduler runs as it starts (next_run_time=now): measured after them, not against them.
STARTUP_JOBS = ("date-transitions", "reminders", "storage-sweep", "exports")
STARTUP_DEADLINE = 900  # seconds
READY_DEADLINE = 1800  # seconds, for one export
POLL_SECONDS = 0.25
CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


def scheduler(url: str, tmp: Path, **settings: str):
    """`flask scheduler run` (deploy/systemd/sharaka-scheduler.service) on this run's database and folder."""
    command = [str(ROOT / ".venv/bin/flask"), "scheduler", "run"]
    return production_process(command, url, tmp, "scheduler.log", FLASK_APP="app", **settings)


def wait_for_startup(engine, since: datetime, process: subprocess.Popen, log: Path) -> float:
    """Seconds until each of STARTUP_JOBS has finished a run begun after `since` (its job_status row)."""
    from app.operations.models import JobStatus

    table = JobStatus.__table__
    started = time.monotonic()
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(table.c.name, table.c.last_started_at, table.c.last_finished_at).where(
                    table.c.name.in_(STARTUP_JOBS)
                )
            ).all()
        finished = {
            row.name
            for row in rows
            if row.last_started_at and row.last_started_at >= since and row.last_finished_at >= row.last_started_at
        }
        if finished == set(STARTUP_JOBS):
            return time.monotonic() - started
        if process.poll() is not None or time.monotonic() - started > STARTUP_DEADLINE:
            raise RuntimeError(f"scheduler's start-up jobs not done ({sorted(finished)}): {log.read_text()[-3000:]}")
        time.sleep(0.5)


def rows_in(payload: bytes, fmt: str) -> int:
    """The data rows of a downloaded file (its heading row not counted)."""
    if fmt == "csv":
        return sum(1 for _row in csv.reader(io.StringIO(payload.decode("utf-8-sig"), newline=""))) - 1
    rows, tail = 0, b""
    with zipfile.ZipFile(io.BytesIO(payload)) as book:
        sheet = next(name for name in book.namelist() if name.startswith("xl/worksheets/sheet"))
        with book.open(sheet) as stream:
            while chunk := stream.read(1 << 20):
                joined = tail + chunk
                rows += joined.count(b"<row ")
                tail = joined[-4:]  # a "<row " cut in two is counted once, in the next chunk
    return rows - 1


def one_export(client: Client, engine, path: str, fmt: str) -> dict:
    """Ask for the file at `path` as a person does and wait for it; its figures."""
    from app.exports.models import ExportJob

    started = time.perf_counter()
    status, page, headers = client.request("GET", path)
    confirm_ms = (time.perf_counter() - started) * 1000
    assert status == 200, f"{path} answered {status}"
    if not headers.get("content-type", "").startswith("text/html"):  # short enough: written by the request
        return {"mode": "in the request", "request_ms": confirm_ms, "bytes": len(page), "rows": rows_in(page, fmt)}
    token = CSRF.search(page)
    assert token, f"{path}: no confirmation form"
    started = time.perf_counter()
    status, _page, headers = client.request("POST", path, {"csrf_token": token.group(1).decode()})
    post_ms = (time.perf_counter() - started) * 1000
    found = re.fullmatch(r"(?:https?://[^/]+)?/exports/(\d+)", headers.get("location", ""))
    assert status in (302, 303) and found, f"POST {path} answered {status} {headers.get('location')}"
    job_id = int(found.group(1))
    deadline = time.monotonic() + READY_DEADLINE
    polls = 0
    while True:
        status, page, _headers = client.request("GET", f"/exports/{job_id}")
        polls += 1
        assert status == 200, f"/exports/{job_id} answered {status}"
        if f"/exports/{job_id}/download".encode() in page:
            break
        if b'http-equiv="refresh"' not in page:  # no longer pending, and no file: it failed
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"export {job_id} ({path}) not ready after {READY_DEADLINE} s")
        time.sleep(POLL_SECONDS)
    ready_s = time.perf_counter() - started
    table = ExportJob.__table__
    with engine.connect() as connection:
        job = connection.execute(select(table).where(table.c.id == job_id)).one()
    if job.status != "done":
        raise RuntimeError(f"export {job_id} ({path}) ended {job.status}: {job.error}")
    started = time.perf_counter()
    status, payload, _headers = client.request("GET", f"/exports/{job_id}/download")
    download_ms = (time.perf_counter() - started) * 1000
    assert status == 200, f"download of export {job_id} answered {status}"
    return {
        "mode": "scheduler",
        "confirm_ms": confirm_ms,
        "request_ms": post_ms,
        "ready_s": ready_s,
        "waited_s": (job.started_at - job.created_at).total_seconds(),
        "written_s": (job.finished_at - job.started_at).total_seconds(),
        "polls": polls,
        "download_ms": download_ms,
        "bytes": len(payload),
        "rows": rows_in(payload, fmt),
        "job_rows": job.rows_done,
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(kind: str, size: int, keep: bool, inline_max_rows: int | None) -> dict:
    settings = {} if inline_max_rows is None else {"EXPORT_INLINE_MAX_ROWS": str(inline_max_rows)}
    with portfolio(kind, size, keep) as (url, tmp, counts, accounts):
        engine = create_engine(url)
        since = datetime.now(timezone.utc) - timedelta(seconds=1)
        with server(url, tmp, **settings), scheduler(url, tmp, **settings) as process:
            startup = wait_for_startup(engine, since, process, tmp / "scheduler.log")
            print(f"   scheduler's start-up jobs done in {startup:.1f} s", file=sys.stderr)
            client = Client()
            client.sign_in(*accounts[ROLE])
            exports = {}
            for list_name, pattern in LISTS.items():
                for fmt in FORMATS:
                    exports[(list_name, fmt)] = figures = one_export(client, engine, pattern.format(fmt=fmt), fmt)
                    print(f"   {list_name} {fmt}: {figures}", file=sys.stderr)
            rss = peak_rss_mb(process.pid)
        engine.dispose()
        logged = (tmp / "scheduler.log").read_text()
        errors = len(re.findall(r"\bERROR\b|Traceback", logged))
        return {"counts": counts, "startup_s": startup, "exports": exports, "scheduler_rss": rss, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agreements", type=int, default=10000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--keep", action="store_true", help="start from a copy of the kept portfolio")
    parser.add_argument(
        "--inline-max-rows", type=int, help="EXPORT_INLINE_MAX_ROWS for this run (0: every export by the scheduler)"
    )
    args = parser.parse_args()
    report(args.db, args.agreements, run(args.db, args.agreements, args.keep, args.inline_max_rows))


def report(kind: str, size: int, result: dict) -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nmachine: {os.cpu_count()} cores, {platform_line()}; load average at the end {load}")
    print(f"\n### Long exports, {kind}, {size:,} agreements, as the {ROLE}\n")
    print(
        "| list | format | rows | file (KB) | confirm page (ms) | request that queues it (ms) "
        "| ready after (s) | of which waiting / writing (s) | download (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (list_name, fmt), figures in result["exports"].items():
        rows = f"{figures['rows']:,}"
        if figures.get("job_rows") not in (None, figures["rows"]):
            rows += f" (job says {figures['job_rows']:,})"
        kilobytes = f"{figures['bytes'] / 1024:,.0f}"
        if figures["mode"] != "scheduler":
            print(
                f"| {list_name} | {fmt} | {rows} | {kilobytes} | – | {figures['request_ms']:.0f} "
                f"(written in the request) | – | – | – |"
            )
            continue
        print(
            f"| {list_name} | {fmt} | {rows} | {kilobytes} | {figures['confirm_ms']:.0f} | {figures['request_ms']:.0f} "
            f"| {figures['ready_s']:.1f} | {figures['waited_s']:.1f} / {figures['written_s']:.1f} "
            f"| {figures['download_ms']:.0f} |"
        )
    print(
        f"\nScheduler (`flask scheduler run`): start-up jobs done {result['startup_s']:.1f} s after it started; "
        f"peak memory {result['scheduler_rss']:.0f} MB; errors in its log: {result['errors']}. 'Ready after': "
        f"from the POST to the export's page offering the file (asked every {POLL_SECONDS} s); 'waiting': "
        f"until the scheduler's next look (EXPORT_INTERVAL_SECONDS)."
    )


if __name__ == "__main__":
    main()
