"""A reminder pass over a government-sized portfolio: the first one (everything due is new) and a
repeat with nothing new, on SQLite or PostgreSQL.

    .venv/bin/python bench/reminders.py --db sqlite --agreements 10000 [--keep] [--profile]
    .venv/bin/python bench/reminders.py --db postgresql --keep --at 2026-12-05T09:00:00+01:00 --digest

The portfolio is `bench/portfolio.py`'s (about 10 occurrences per agreement). With --keep, the
portfolio is built once and copied for each run (bench/pages.py's kept portfolios, SQLite or
PostgreSQL), so a change can be measured again without rebuilding.
Prints the seconds of each pass, the reminders made, and the e-mails queued (rendered when sent).
With --at, the pass runs at that moment, the clock stopped there (its rows' timestamps too); with --digest
besides, a digest of what it wrote (reminders_sent, notifications, outbox_messages, every column but the
random Message-ID, in id order): two versions of the code that print the same digests wrote the same rows.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pages import database, kept_portfolio, prepare  # noqa: E402


def passes(url: str, tmp: Path, profile: bool, at: datetime | None = None, digest: bool = False) -> dict:
    from sqlalchemy import func, select

    from app import create_app
    from app.core import clock
    from app.deliverables.models import Occurrence
    from app.extensions import db
    from app.notifications.models import OutboxMessage
    from app.notifications.reminders import run_pass
    from config import ProductionConfig

    config = type("Bench", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp)})
    app = create_app(config)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()  # a kept portfolio built before the last migration
        occurrences = db.session.scalar(select(func.count()).select_from(Occurrence))
        db.session.commit()
        now = at or datetime.now(timezone.utc)
        profiler = cProfile.Profile() if profile else None
        server = _server_cpu(db)
        with clock.frozen(at) if at else nullcontext():
            started, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            first = run_pass(now)
            if profiler:
                profiler.disable()
            first_seconds, first_cpu = time.perf_counter() - started, time.process_time() - cpu
            after_first = _server_cpu(db)
            first_server = _spent(server, after_first)
            digests = _digests(db) if digest else {}
            started, cpu = time.perf_counter(), time.process_time()
            repeat = run_pass(now)
            repeat_seconds, repeat_cpu = time.perf_counter() - started, time.process_time() - cpu
            repeat_server = _spent(after_first, _server_cpu(db))
        mails = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        db.session.remove()
        db.engine.dispose()
    if profiler:
        profiler.dump_stats(Path(tempfile.gettempdir()) / "sharaka-reminder-pass.prof")  # for pstats' callers
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return {
        "occurrences": occurrences,
        "first_s": first_seconds,
        "created": first.created,
        "errors": first.errors,
        "repeat_s": repeat_seconds,
        "repeat_created": repeat.created,
        "mails": mails,
        "first_cpu": first_cpu,
        "repeat_cpu": repeat_cpu,
        "first_server": first_server,
        "repeat_server": repeat_server,
        "digests": digests,
    }


def _digests(db) -> dict[str, str]:
    """SHA-256 of each table a pass writes, row by row in id order, every column but the outbox's
    Message-ID (random by design). PostgreSQL's JSON columns are read as their stored text, so a change of
    spacing or of key order shows."""
    from sqlalchemy import String, cast, select

    digests = {}
    for name in ("reminders_sent", "notifications", "outbox_messages"):
        table = db.metadata.tables[name]
        columns = [
            cast(column, String) if db.engine.dialect.name == "postgresql" else column
            for column in table.columns
            if column.name != "message_id"
        ]
        hashed, rows = hashlib.sha256(), 0
        for row in db.session.execute(select(*columns).order_by(table.c.id)):
            hashed.update(repr(tuple(row)).encode())
            rows += 1
        digests[name] = f"{rows:,} rows {hashed.hexdigest()[:16]}"
    db.session.commit()
    return digests


def _server_cpu(db) -> dict[int, float] | None:
    """CPU seconds of each PostgreSQL backend serving this database, by pid, read from /proc: the database
    runs on this machine, so its share of a pass is measured, not guessed (the pass reads on one connection
    and writes on another: reminders/writing.py). None elsewhere (SQLite runs in this process: its time is
    in the process's own)."""
    from sqlalchemy import text

    if db.engine.dialect.name != "postgresql":
        return None
    pids = db.session.scalars(
        text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'")
    ).all()
    db.session.commit()
    spent = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        spent[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return spent


def _spent(before, after) -> float | None:
    """The backends' CPU seconds between two readings (a backend opened meanwhile counts from its start)."""
    if before is None or after is None:
        return None
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--agreements", type=int, default=10_000)
    parser.add_argument(
        "--keep", action="store_true", help="build the portfolio once (as bench/pages.py --keep), reuse a copy after"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print where the first pass spends its time (the whole profile: $TMPDIR/sharaka-reminder-pass.prof)",
    )
    parser.add_argument(
        "--at", type=datetime.fromisoformat, help="the pass's moment, the clock stopped there (ISO, with its offset)"
    )
    parser.add_argument(
        "--digest", action="store_true", help="print a digest of the rows the first pass wrote (compare with --at)"
    )
    args = parser.parse_args()
    template = kept_portfolio(args.db, args.agreements) if args.keep else None
    with tempfile.TemporaryDirectory() as folder, database(args.db, Path(folder), template=template) as url:
        tmp = Path(folder)
        if template is None:
            counts, _ = prepare(url, args.agreements, tmp)
            print(f"built in {counts['seconds']} s", file=sys.stderr)
        result = passes(url, tmp, args.profile, args.at, args.digest)
    # This process's CPU time beside the wall time: on a shared machine the wall time depends on the others'
    # load (printed too); the database server's own time (PostgreSQL) is in the wall time only.
    print(
        f"{args.db}: {result['occurrences']:,} occurrences; first pass {result['first_s']:.2f} s "
        f"(CPU {result['first_cpu']:.2f} s; {result['created']:,} reminders, {result['mails']:,} e-mails queued, "
        f"{result['errors']} errors); repeat {result['repeat_s']:.2f} s (CPU {result['repeat_cpu']:.2f} s; "
        f"{result['repeat_created']} new). Load average {os.getloadavg()[0]:.2f}. Targets: 2 s / 0.3 s."
    )
    if result["first_server"] is not None:
        print(
            f"PostgreSQL backend CPU: first pass {result['first_server']:.2f} s, repeat {result['repeat_server']:.2f} s"
        )
    for name, digest in result["digests"].items():
        print(f"{name}: {digest}")


if __name__ == "__main__":
    main()
