"""Operations: what each scheduled job did last, and whether this process is ready to serve."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from app.core import storage
from app.core.db import insert_ignoring_conflicts, log_failure, write_transaction
from app.core.models import utcnow
from app.core.processes import is_gone, process_name
from app.core.schema import schema_checks
from app.extensions import db
from app.operations.models import JobStatus

log = logging.getLogger("sharaka.jobs")

# Every job the scheduler runs (app/scheduler.py), in this order on the jobs page, listed before its first run.
JOBS = ("date-transitions", "reminders", "outbox", "exports", "audit-anchor", "storage-sweep", "receipts-purge")
# What the jobs page calls them (their names stay in the logs, `flask jobs status` and the scheduler's ids).
JOB_LABELS = {
    "date-transitions": _l("Moves due on a date"),
    "reminders": _l("Reminders"),
    "outbox": _l("Sending the e-mails"),
    "exports": _l("Spreadsheets written in the background"),
    "audit-anchor": _l("Audit trail checked and its head published"),
    "storage-sweep": _l("Files left by interrupted work removed"),
    "receipts-purge": _l("Answers kept against repeated sends forgotten"),
    "directory-sweep": _l("Directory accounts looked up again"),  # with LDAP_URL set only
}
# What the jobs page calls the counts a run records (their keys stay in `flask jobs status`). A count
# not named here is shown by its key; a yes/no one is shown only when it is yes, by its own words.
COUNT_LABELS = {
    "moved": _l("moved"),
    "failed": _l("failed"),
    "looked_at": _l("looked at"),
    "created": _l("new"),
    "already": _l("already sent"),
    "errors": _l("errors"),
    "sent": _l("sent"),
    "retried": _l("to try again"),
    "withdrawn": _l("withdrawn (no longer true)"),
    "done": _l("written"),
    "expired": _l("expired"),
    "interrupted": _l("put back in the queue (the process was stopping)"),
    "temporary": _l("temporary files"),
    "unreferenced": _l("files no row refers to"),
    "removed": _l("removed"),
    "chain_rows": _l("rows in the audit chain"),
    "released": _l("items of ended agreements released"),
    "closed": _l("accounts closed"),
    "role_changed": _l("roles changed"),
}
FLAG_LABELS = {
    "unreachable": _l("mail server unreachable"),
    "held": _l("mail held"),  # runs recorded before no_server and paused were told apart
    "no_server": _l("no mail server configured"),
    "paused": _l("mail paused by an administrator"),
}


# Counts of what seldom happens, shown only when it did.
SHOWN_WHEN_NOT_ZERO = frozenset({"withdrawn", "interrupted"})


def shown_counts(counts: dict | None) -> list[tuple[str, object, bool]]:
    """A run's counts as the jobs page shows them: (words, number or None, is a warning)."""
    shown: list[tuple[str, object, bool]] = []
    for key, value in (counts or {}).items():
        if isinstance(value, bool):
            if value:
                shown.append((str(FLAG_LABELS.get(key, key)), None, True))
            continue
        if key in SHOWN_WHEN_NOT_ZERO and not value:
            continue
        shown.append((str(COUNT_LABELS.get(key, key)), value, key in ("failed", "errors") and bool(value)))
    return shown


# A run on another machine cannot be asked whether its process still lives: unfinished after this
# long (the longest job takes minutes), it is counted as cut short.
ABANDONED_AFTER = timedelta(hours=6)


@contextmanager
def track_job(name: str):
    """Record one run of job `name`: that it started (so a process killed mid-run leaves a trace),
    then its duration, the counts the body puts in the dict it receives (its "problems" key: the
    items that failed alone, see failures.py), or the error it raised (re-raised after recording)."""
    counts: dict = {}
    started_at, clock = utcnow(), time.monotonic()
    _record_start(name, started_at)
    try:
        yield counts
    except Exception as error:
        db.session.rollback()
        _record(name, started_at, clock, counts, f"{type(error).__name__}: {error}"[:2000])
        raise
    _record(name, started_at, clock, counts, None)


def _record(name: str, started_at, clock: float, counts: dict, error: str | None) -> None:
    finished_at = utcnow()
    problems = counts.pop("problems", None) or None
    values = dict(
        runs=JobStatus.runs + 1,
        last_started_at=started_at,
        last_finished_at=finished_at,
        last_problems=problems,
        last_duration_ms=int((time.monotonic() - clock) * 1000),
        last_counts=counts,
        last_host=process_name(),
    )
    if error:
        values.update(failures=JobStatus.failures + 1, last_error=error, last_error_at=finished_at)
    else:
        values.update(last_success_at=finished_at)

    def work():
        db.session.execute(insert_ignoring_conflicts(JobStatus).values(name=name, runs=0, failures=0))
        db.session.execute(update(JobStatus).where(JobStatus.name == name).values(**values))
        # No longer under way, unless another scheduler has started the job since.
        db.session.execute(
            update(JobStatus)
            .where(JobStatus.name == name, JobStatus.running_host == process_name())
            .values(running_since=None, running_host=None)
        )

    try:
        write_transaction(work)
    except Exception:  # the job's own outcome matters more than its bookkeeping
        log_failure(log, "could not record the run of %s", name)


def _record_start(name: str, started_at) -> None:
    def work():
        db.session.execute(insert_ignoring_conflicts(JobStatus).values(name=name, runs=0, failures=0))
        # Another process's mark is left as it is, until that process ends its run or the mark is found
        # cut short: overwritten by the next run here (the outbox's, seconds later), the run of a
        # scheduler killed on another machine was never counted.
        db.session.execute(
            update(JobStatus)
            .where(
                JobStatus.name == name,
                or_(JobStatus.running_since.is_(None), JobStatus.running_host == process_name()),
            )
            .values(running_since=started_at, running_host=process_name())
        )

    try:
        note_interrupted_runs([name])
        write_transaction(work)
    except Exception:  # the job's own outcome matters more than its bookkeeping
        log_failure(log, "could not record the start of %s", name)


def is_cut_short(job: JobStatus, now) -> bool:
    """Whether `job`'s run under way will never end: its process (on this machine) is gone, or it
    started longer than ABANDONED_AFTER ago."""
    if job.running_since is None:
        return False
    if job.running_host == process_name():
        # Our own name, yet this process is not running the job (a job clears its mark as it ends, and
        # runs once at a time): a previous process with the same machine name and pid, as a container
        # restarted under the same name and pid would be.
        return True
    gone = is_gone(job.running_host)
    return gone if gone is not None else job.running_since < now - ABANDONED_AFTER


def note_interrupted_runs(names: list[str] | None = None) -> int:
    """Count each run that was cut short (its scheduler killed mid-run) as a failed run, with an error
    that says so; it no longer shows as under way. Run as a job starts and as the scheduler starts."""
    now = utcnow()
    query = select(JobStatus).where(JobStatus.running_since.is_not(None))
    if names is not None:
        query = query.where(JobStatus.name.in_(names))
    cut_short = [job for job in db.session.scalars(query) if is_cut_short(job, now)]
    for job in cut_short:
        since, host = job.running_since, job.running_host
        error = f"Cut short: the run started {since:%Y-%m-%d %H:%M:%S}Z on {host} never finished (process stopped)"
        log.error("%s: %s", job.name, error)

        def work(name=job.name, since=since, host=host, error=error):
            db.session.execute(
                update(JobStatus)
                .where(JobStatus.name == name, JobStatus.running_since == since, JobStatus.running_host == host)
                .values(
                    failures=JobStatus.failures + 1,
                    last_error=error,
                    last_error_at=now,
                    running_since=None,
                    running_host=None,
                )
            )

        write_transaction(work)
    return len(cut_short)


def job_statuses() -> list[JobStatus]:
    """Every known job, in a fixed order, with a blank record for one that never ran."""
    rows = {row.name: row for row in db.session.scalars(select(JobStatus))}
    return [rows.get(name) or JobStatus(name=name, runs=0, failures=0) for name in JOBS] + [
        row for name, row in sorted(rows.items()) if name not in JOBS
    ]


# How long the scheduler may be silent before the jobs page says it seems stopped: its exports and outbox
# jobs run every few seconds, so minutes without any run, started or failed, mean no scheduler is running.
SCHEDULER_SILENT_AFTER = timedelta(minutes=5)


def _signs_of_life(jobs: list[JobStatus]) -> list[datetime]:
    return [
        moment
        for job in jobs
        for moment in (job.last_started_at, job.running_since, job.last_error_at, job.last_finished_at)
        if moment is not None
    ]


def scheduler_never_ran(jobs: list[JobStatus]) -> bool:
    """Whether no job has ever run here: a scheduler never started (mail waited in the outbox unsaid)."""
    return not _signs_of_life(jobs)


def scheduler_silent_since(jobs: list[JobStatus], now) -> datetime | None:
    """When the scheduler last showed signs of life, if that is longer ago than it ever pauses (or None: it
    runs, or has never run here). Without it, exports wait "for their turn" and mail piles up unseen."""
    seen = _signs_of_life(jobs)
    if not seen:
        return None
    latest = max(seen)
    pause = timedelta(
        seconds=10 * max(current_app.config["EXPORT_INTERVAL_SECONDS"], current_app.config["OUTBOX_INTERVAL_SECONDS"])
    )
    return latest if now - latest > max(SCHEDULER_SILENT_AFTER, pause) else None


def readiness() -> dict[str, str]:
    """Each check → "ok" or what is wrong: the database answers, its schema is at the head
    migration (app/core/schema.py), and files can be stored (the temporary folder and the configured backend
    take a write)."""
    checks = schema_checks()
    try:
        storage.check_writable()
        checks["storage"] = "ok"
    except Exception as error:
        db.session.rollback()
        checks["storage"] = f"{type(error).__name__}: {str(error)[:200]}"
    return checks
