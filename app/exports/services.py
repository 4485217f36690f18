"""Exports written by the scheduler process: asked for on a list, claimed under a lease, written a
batch of rows at a time with their progress, stored like any file, announced to the person.

A job reads its rows again with its requester's permissions when it runs, and it is its requester's
alone. A worker that dies mid-file leaves a lease that runs out; the next run starts the file over
(at once when that worker was a process of the same machine: requeue_abandoned).
A worker asked to stop (SIGTERM) gives its file back to the queue at once, so a restart does not wait
for a sheet of a million rows, nor for the lease of the process that was stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from app.core import clock
from app.core.errors import ValidationFailed
from app.core.exports import STORED_TYPES, count_rows, write_table
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import can
from app.core.processes import is_gone, process_name
from app.core.storage import store_generated, temporary_folder
from app.exports.models import ExportJob
from app.extensions import db

log = logging.getLogger("sharaka.exports")
PROGRESS_EVERY = 500  # rows between two progress writes
STOP_CHECK_EVERY = 100  # rows between two looks at whether the process is asked to stop
# The same export asked again while it is still being written (a reload, a second click) gets the same job;
# once written, asking again writes it again: a finished one reused for ten minutes had given a list
# without the agreements created meanwhile, though the page said "being prepared".
REUSE_WITHIN = timedelta(minutes=10)


@dataclass(frozen=True)
class ExportableList:
    """A list that can be exported off the request: how to count it and how to read it."""

    name: str
    filters_type: type
    query: Callable  # (user, filters, today) -> a Select of the list's rows
    table: Callable  # (user, filters, today) -> (headings, rows)
    title: Callable[[], str]
    list_endpoint: str
    described: Callable  # (filters) -> [(label, value or None)]: the filters as the list's form names them
    as_arguments: Callable  # (filters) -> the list page's query string
    permission: str  # who may read the list (app/core/permissions.py), asked again when the file is written


def _lists() -> dict[str, ExportableList]:
    from app.agreements import services as agreements
    from app.audit import browsing as audit_trail
    from app.deliverables import services as deliverables

    return {
        "agreements": ExportableList(
            "agreements",
            agreements.AgreementFilters,
            lambda user, filters, today: agreements.agreements_query(user, filters),
            lambda user, filters, today: agreements.export_table(user, filters),
            lambda: _("Agreements"),
            "agreements.list_agreements",
            agreements.filters_described,
            agreements.filters_as_arguments,
            "agreement.list",
        ),
        "deliverables": ExportableList(
            "deliverables",
            deliverables.OccurrenceFilters,
            deliverables.occurrences_query,
            deliverables.export_table,
            lambda: _("Deliverables"),
            "deliverables.list_deliverables",
            deliverables.filters_described,
            deliverables.filters_as_arguments,
            "deliverable.list",
        ),
        "audit": ExportableList(
            "audit",
            audit_trail.TrailFilters,
            audit_trail.exported_query,
            audit_trail.export_table,
            lambda: _("Audit trail"),
            "audit.list_events",
            audit_trail.filters_described,
            audit_trail.filters_as_arguments,
            "audit.list",
        ),
    }


def exportable(name: str) -> ExportableList:
    return _lists()[name]


# --- filters to and from the job's JSON ------------------------------------------------


def filters_to_json(filters) -> dict:
    return {
        key: value.isoformat() if isinstance(value, date) else value
        for key, value in dataclasses.asdict(filters).items()
        if value is not None
    }


def filters_from_json(filters_type: type, values: dict):
    known = {field.name: field for field in dataclasses.fields(filters_type)}
    kwargs = {}
    for key, value in (values or {}).items():
        if key not in known or value is None:
            continue
        if "date" in str(known[key].type) and isinstance(value, str):
            value = date.fromisoformat(value)
        kwargs[key] = value
    return filters_type(**kwargs)


def filters_of(job: ExportJob) -> tuple[list[tuple[str, str | None]], dict]:
    """What a spreadsheet was asked with: its filters as the list's form names them, and the list's query
    string (several spreadsheets of one list differ by these alone)."""
    source = exportable(job.list_name)
    filters = filters_from_json(source.filters_type, job.filters)
    return source.described(filters), source.as_arguments(filters)


# --- asking for one ------------------------------------------------------------------------


def needs_background(user, list_name: str, filters, today: date) -> bool:
    """Whether the spreadsheet of this list is too long to be written inside the request."""
    limit = current_app.config["EXPORT_INLINE_MAX_ROWS"]
    return count_rows(exportable(list_name).query(user, filters, today)) > limit


# Spreadsheets one person may have waiting to be written at once.
MAX_WAITING_PER_PERSON = 3


def request_export(user, list_name: str, filters, *, language: str, fmt: str = "xlsx") -> ExportJob:
    """Queue the export of `list_name` as filtered, for `user` (flushes). Asking again for the same
    file while it is being written, or shortly after, gives the same job instead of a second one."""
    wanted = filters_to_json(filters)
    recent = db.session.scalars(
        select(ExportJob)
        .where(
            ExportJob.user_id == user.id,
            ExportJob.list_name == list_name,
            ExportJob.fmt == fmt,
            ExportJob.language == language,
            ExportJob.status.in_(("queued", "running")),
            ExportJob.created_at >= utcnow() - REUSE_WITHIN,
        )
        .order_by(ExportJob.id.desc())
        .limit(5)
    ).all()
    for job in recent:
        if job.filters == wanted:
            return job
    waiting = db.session.scalar(
        select(func.count(ExportJob.id)).where(
            ExportJob.user_id == user.id, ExportJob.status.in_(("queued", "running"))
        )
    )
    if waiting >= MAX_WAITING_PER_PERSON:
        # A link can ask for an export (a GET): one on another site had queued a full portfolio's spreadsheet
        # for each filter it named, each an audit row in the person's name.
        raise ValidationFailed(
            _(
                "%(num)s of your spreadsheets are still being written: wait for one of them before asking for another.",
                num=waiting,
            )
        )
    job = ExportJob(
        user_id=user.id, list_name=list_name, fmt=fmt, filters=wanted, language=language, status="queued", rows_done=0
    )
    db.session.add(job)
    db.session.flush()
    from app.core.audit import record

    record("export.requested", job, actor=user, changes={"list": list_name, "filters": wanted, "format": fmt})
    return job


def recent_exports(user, limit: int = 20) -> list[ExportJob]:
    return list(
        db.session.scalars(
            select(ExportJob).where(ExportJob.user_id == user.id).order_by(ExportJob.id.desc()).limit(limit)
        )
    )


# --- writing them (the scheduler) ------------------------------------------------------------


def _takeable(now: datetime):
    """SQL: exports a writer may take: queued, or running under a lease that ran out (its writer died)."""
    return or_(ExportJob.status == "queued", (ExportJob.status == "running") & (ExportJob.lease_until < now))


def claim_next(now: datetime | None = None) -> ExportJob | None:
    """Take the oldest queued export (or one whose writer's lease ran out), or None."""
    from app.core.db import write_transaction

    now = now or utcnow()
    lease = timedelta(seconds=current_app.config["EXPORT_LEASE_SECONDS"])
    worker = process_name()

    def work():
        candidate = db.session.scalar(select(ExportJob.id).where(_takeable(now)).order_by(ExportJob.id).limit(1))
        if candidate is None:
            return None
        taken = db.session.execute(
            update(ExportJob)
            .where(
                ExportJob.id == candidate,
                _takeable(now),
            )
            .values(
                status="running",
                worker=worker,
                lease_until=now + lease,
                started_at=now,
                rows_done=0,
                error=None,
                writes=ExportJob.writes + 1,
            )
        ).rowcount
        return candidate if taken == 1 else None

    job_id = write_transaction(work)
    return db.session.get(ExportJob, job_id) if job_id is not None else None


def run_due(
    now: datetime | None = None, *, limit: int = 5, stopping: Callable[[], bool] | None = None
) -> dict[str, int]:
    """Write up to `limit` waiting exports, one after the other; the counts for the job record. When
    `stopping()` turns true the file being written goes back to the queue and nothing more is taken."""
    stopping = stopping or (lambda: False)
    requeue_abandoned()
    counts = {"done": 0, "failed": fail_worn_out(now), "interrupted": 0}
    for _turn in range(limit):  # not `_`: that is gettext here
        if stopping():
            break
        job = claim_next(now)
        if job is None:
            break
        outcome = write_export(job, stopping=stopping)
        counts[outcome] += 1
        if outcome == "interrupted":
            break
    counts["expired"] = expire_old()
    return counts


def fail_worn_out(now: datetime | None = None) -> int:
    """Fail, saying why, the exports whose writing began EXPORT_MAX_WRITES times and never ended (each writer
    killed mid-sheet: the sheet itself may be what kills it, running the process out of memory), instead of
    taking them again at every restart. Their requesters read why on the export's page."""
    from app.core.db import write_transaction

    now = now or utcnow()
    most = current_app.config["EXPORT_MAX_WRITES"]
    waiting = _takeable(now)
    worn = db.session.execute(select(ExportJob.id, ExportJob.language).where(waiting, ExportJob.writes >= most)).all()
    db.session.rollback()
    if not worn:
        return 0

    def work():
        failed = 0
        for job_id, language in worn:
            with force_locale(language):  # stored as said to its requester, in their language
                message = _(
                    "Writing this export was cut short %(n)s times (the process writing it stopped). Ask again, "
                    "for a shorter list if it is long; if it keeps failing, tell an administrator.",
                    n=most,
                )
            failed += db.session.execute(
                update(ExportJob)
                .where(ExportJob.id == job_id, waiting, ExportJob.writes >= most)
                .values(status="failed", error=message, finished_at=now, worker=None, lease_until=None)
            ).rowcount
        return failed

    failed = write_transaction(work)
    if failed:
        log.error("%d export(s) failed: their writing was cut short %d times", failed, most)
    return failed


def requeue_abandoned() -> int:
    """Queue again, at once, the exports whose writer was a process of this machine that is gone (killed,
    the machine restarted): their lease would hold them for EXPORT_LEASE_SECONDS, the page saying
    "being written" all that time. A writer on another machine keeps its lease (no way to ask it)."""
    from app.core.db import write_transaction

    running = db.session.execute(select(ExportJob.id, ExportJob.worker).where(ExportJob.status == "running")).all()
    # This process's own too: its exports are written one after the other, so one still "running" as a run
    # begins was left by an earlier run whose ending could not be written (the database was out of reach).
    here = process_name()
    abandoned = [(row.id, row.worker) for row in running if row.worker == here or is_gone(row.worker)]
    if not abandoned:
        return 0

    def work():
        return sum(
            db.session.execute(
                update(ExportJob)
                .where(ExportJob.id == job_id, ExportJob.status == "running", ExportJob.worker == worker)
                .values(status="queued", worker=None, lease_until=None, started_at=None, rows_done=0)
            ).rowcount
            for job_id, worker in abandoned
        )

    requeued = write_transaction(work)
    if requeued:
        log.info("%d export(s) queued again: their writer on this machine is gone", requeued)
    return requeued


def write_export(job: ExportJob, *, stopping: Callable[[], bool] | None = None) -> str:
    """Write `job`'s file, store it and tell its requester: "done", "failed" (said on the job and told), or
    "interrupted" when `stopping()` turned true midway or the database was lost (the job is queued again,
    for the next run)."""
    from app.core.db import is_unreachable, log_failure, roll_back_or_close, write_transaction

    job_id, user, fmt = job.id, job.user, job.fmt
    language = (
        job.language if job.language in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]
    )
    temp_path = None
    try:
        # Inside the try: storage that takes no file (full, read-only) fails this export, told on the job,
        # instead of leaving it "being written" and taken again at every lease's end.
        handle, temp_name = tempfile.mkstemp(dir=temporary_folder(), prefix=".export-", suffix=f".{job.fmt}")
        os.close(handle)
        temp_path = Path(temp_name)
        if user is None or not user.is_active_account:
            with force_locale(language):
                raise ExportRefused(_("The account that asked for this export is no longer active."))
        source = exportable(job.list_name)
        if not can(user, source.permission):
            with force_locale(language):
                raise ExportRefused(_("The account that asked for this export may no longer read this list."))
        filters = filters_from_json(source.filters_type, job.filters)
        today = clock.today()  # as the list on screen reckons it
        with force_locale(language):
            total = count_rows(source.query(user, filters, today))
            _set_progress(job_id, rows_total=total)
            limit = current_app.config["EXPORT_MAX_ROWS"]
            if total > limit:
                raise ExportRefused(
                    _("More than %(count)s rows: narrow the list (filters) and ask again.", count=limit)
                )
            headings, rows = source.table(user, filters, today)
            title = source.title()
            with temp_path.open("wb") as out:
                write_table(out, headings, _counted(rows, job_id, stopping or (lambda: False)), fmt=fmt, title=title)
            file_name = f"sharaka-{job.list_name}-{today.isoformat()}.{fmt}"
        db.session.rollback()  # end the long read before writing

        def finish():
            stored = store_generated(temp_path, content_type=STORED_TYPES[fmt])
            finished = db.session.get(ExportJob, job_id)
            finished.status, finished.stored_file_id, finished.file_name = "done", stored.id, file_name
            finished.rows_done, finished.finished_at, finished.lease_until = total, utcnow(), None
            _announce(finished)

        write_transaction(finish)
        return "done"
    except Interrupted:
        db.session.rollback()
        write_transaction(lambda: _give_back(job_id))
        log.info("export %s given back to the queue: the process is stopping", job_id)
        return "interrupted"
    except DBAPIError as error:
        if not is_unreachable(error):
            return _failed(job_id, language, error)
        # The database lost mid-read (a connection cut, a restart): nothing is wrong with the export. It had
        # failed for good, its requester never told; it goes back to the queue for the next run.
        roll_back_or_close()
        log_failure(log, "export %s given back to the queue", job_id)
        try:
            write_transaction(lambda: _give_back(job_id))
        except OperationalError:  # still out of reach: the next run takes it back (requeue_abandoned)
            roll_back_or_close()
        return "interrupted"
    except Exception as error:  # one export's failure is recorded on it and never stops the others
        return _failed(job_id, language, error)
    finally:
        if temp_path is not None:
            temp_path.unlink(missing_ok=True)


def _give_back(job_id: int) -> None:
    """Queue an export again, its writing begun for nothing that was wrong with it (the process stopping,
    the database lost): not counted among the writes cut short (EXPORT_MAX_WRITES)."""
    waiting = db.session.get(ExportJob, job_id)
    waiting.status, waiting.worker, waiting.lease_until = "queued", None, None
    waiting.started_at, waiting.rows_done = None, 0
    waiting.writes -= 1


def _failed(job_id: int, language: str, error: Exception) -> str:
    """Record `error` on the export, as said to its requester, and tell them."""
    from app.core.db import roll_back_or_close, write_transaction

    roll_back_or_close()
    with force_locale(language):  # stored as said to its requester, in their language
        message = (
            error.message
            if isinstance(error, ExportRefused)
            else _("The export could not be written. Ask again; if it keeps failing, tell an administrator.")
        )
    if not isinstance(error, ExportRefused):
        log.error("export %s failed", job_id, exc_info=error)

    def fail():
        failed = db.session.get(ExportJob, job_id)
        failed.status, failed.error, failed.finished_at, failed.lease_until = "failed", message, utcnow(), None
        _announce_failure(failed)

    try:
        write_transaction(fail)
    except OperationalError:  # the database itself is out of reach: the next run takes the job back
        roll_back_or_close()
        log.error("export %s: its failure could not be recorded (database out of reach)", job_id)
        return "interrupted"
    return "failed"


class ExportRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Interrupted(Exception):
    """The process is stopping: the file is abandoned and its job queued again."""


def _counted(rows: Iterable, job_id: int, stopping: Callable[[], bool]) -> Iterator:
    """The rows, writing how many were done every PROGRESS_EVERY rows (on a connection of its own:
    the list is still being read in the session's transaction), and stopping when asked."""
    for index, row in enumerate(rows, start=1):
        yield row
        if index % STOP_CHECK_EVERY == 1 and stopping():
            raise Interrupted
        if index % PROGRESS_EVERY == 0:
            _set_progress(job_id, rows_done=index)


def _set_progress(job_id: int, **values) -> None:
    lease = timedelta(seconds=current_app.config["EXPORT_LEASE_SECONDS"])
    try:
        with db.engine.begin() as connection:
            connection.execute(
                update(ExportJob).where(ExportJob.id == job_id).values(lease_until=utcnow() + lease, **values)
            )
    except Exception:  # the progress bar is a courtesy: a busy database never fails the export
        log.warning("export %s: progress not recorded", job_id, exc_info=True)


def _announce(job: ExportJob) -> None:
    _tell(job, "export_ready", rows=job.rows_done, hours=current_app.config["EXPORT_KEEP_HOURS"])


def _announce_failure(job: ExportJob) -> None:
    """Told as its being ready would have been (the confirmation said they would hear): its page says why."""
    _tell(job, "export_failed")


def _tell(job: ExportJob, kind: str, **params) -> None:
    from app.notifications.services import Notice, app_path, notify

    notify(
        job.user,
        Notice(
            kind=kind,
            category="export_ready",
            params={"list": job.list_name, **params},
            link=app_path("exports.view_export", export_id=job.id),
            object_type="export_jobs",
            object_id=job.id,
        ),
    )


def forget_for(user) -> int:
    """Forget a person's finished exports: written with what they could see then, they must not outlive a
    change of their role or organisation (a partner moved to another organisation downloaded the first
    one's lists). Their files go with them when nothing else uses them (the bytes of a folder copy with the
    leftovers sweep). Exports still waiting are written later with the person's permissions of that moment."""
    from app.core.storage import forget_if_unused

    finished = db.session.execute(
        select(ExportJob.id, ExportJob.stored_file_id).where(
            ExportJob.user_id == user.id, ExportJob.status.in_(("done", "failed"))
        )
    ).all()
    if finished:
        db.session.execute(delete(ExportJob).where(ExportJob.id.in_([row.id for row in finished])))
        for stored_file_id in sorted({row.stored_file_id for row in finished if row.stored_file_id}):
            forget_if_unused(stored_file_id)
    return len(finished)


def expire_old(now: datetime | None = None) -> int:
    """Forget finished exports older than EXPORT_KEEP_HOURS, and their files when nothing else uses them."""
    from app.core.storage import discard_folder_copy, forget_if_unused

    now = now or utcnow()
    cutoff = now - timedelta(hours=current_app.config["EXPORT_KEEP_HOURS"])
    old = db.session.execute(
        select(ExportJob.id, ExportJob.stored_file_id).where(
            ExportJob.status.in_(("done", "failed")), ExportJob.finished_at < cutoff
        )
    ).all()
    if not old:
        return 0
    from app.core.db import write_transaction

    def work():
        db.session.execute(delete(ExportJob).where(ExportJob.id.in_([row.id for row in old])))
        return [
            forget_if_unused(stored_file_id)
            for stored_file_id in sorted({row.stored_file_id for row in old if row.stored_file_id})
        ]

    for sha in write_transaction(work):
        if sha:
            discard_folder_copy(sha)
    return len(old)


def waiting_count() -> int:
    return (
        db.session.scalar(
            select(func.count()).select_from(ExportJob).where(ExportJob.status.in_(("queued", "running")))
        )
        or 0
    )
