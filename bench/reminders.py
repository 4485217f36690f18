"""A reminder pass over a government-sized portfolio: the first one (everything due is new) and a
repeat with nothing new, on SQLite or PostgreSQL.

    .venv/bin/python bench/reminders.py --db sqlite --agreements 10000 [--keep /tmp/bench.sqlite] [--profile]

The portfolio is `bench/portfolio.py`'s (about 10 occurrences per agreement). With --keep, a SQLite
file is built once and copied for each run, so a change can be measured again without rebuilding.
Prints the seconds of each pass, the reminders made, and the e-mails queued (rendered when sent).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pages import database, prepare  # noqa: E402


def passes(url: str, tmp: Path, profile: bool) -> dict:
    from sqlalchemy import func, select

    from app import create_app
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
        now = datetime.now(timezone.utc)
        profiler = cProfile.Profile() if profile else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        first = run_pass(now)
        if profiler:
            profiler.disable()
        first_seconds, first_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        repeat = run_pass(now)
        repeat_seconds, repeat_cpu = time.perf_counter() - started, time.process_time() - cpu
        mails = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        db.session.remove()
        db.engine.dispose()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--agreements", type=int, default=10_000)
    parser.add_argument("--keep", help="SQLite only: build the portfolio into this file once, reuse it after")
    parser.add_argument("--profile", action="store_true", help="print where the first pass spends its time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if args.db == "sqlite" and args.keep:
            kept = Path(args.keep)
            if not kept.exists():
                counts, _ = prepare(f"sqlite:///{kept}", args.agreements, tmp)
                print(f"built {kept} in {counts['seconds']} s", file=sys.stderr)
            copy = tmp / "run.sqlite"
            shutil.copy(kept, copy)
            result = passes(f"sqlite:///{copy}", tmp, args.profile)
        else:
            with database(args.db, tmp) as url:
                counts, _ = prepare(url, args.agreements, tmp)
                print(f"built in {counts['seconds']} s", file=sys.stderr)
                result = passes(url, tmp, args.profile)
    # This process's CPU time beside the wall time: on a shared machine the wall time depends on the others'
    # load (printed too); the database server's own time (PostgreSQL) is in the wall time only.
    print(
        f"{args.db}: {result['occurrences']:,} occurrences; first pass {result['first_s']:.2f} s "
        f"(CPU {result['first_cpu']:.2f} s; {result['created']:,} reminders, {result['mails']:,} e-mails queued, "
        f"{result['errors']} errors); repeat {result['repeat_s']:.2f} s (CPU {result['repeat_cpu']:.2f} s; "
        f"{result['repeat_created']} new). Load average {os.getloadavg()[0]:.2f}. Targets: 2 s / 0.3 s."
    )


if __name__ == "__main__":
    main()
