"""The scheduler process (`flask scheduler run`): periodic ticks that scan the database.

It runs in its own process, never inside web workers: a job store cannot be
shared between processes, and a scheduler per worker would run every job once
per worker. Jobs are idempotent scans ("what is due now?"), so a missed run is
caught up by the next one, and several schedulers (one per machine, or a second
started by mistake) are harmless: reminders have natural keys, the outbox claims
under leases. Each run is recorded in `job_status` (`flask jobs status`, /admin/jobs).
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from app.core import clock
from app.core.db import log_failure, unit_of_work

log = logging.getLogger("sharaka.scheduler")

# Set when the process is asked to stop (SIGTERM, Ctrl-C): a long job (sending thousands of e-mails)
# finishes what it is doing and returns, instead of running on until the service manager kills it.
STOPPING = threading.Event()


def date_transitions_job(app: Flask) -> None:
    """Apply today's date-driven moves (signed → active, active → expired)."""
    from app.deliverables.services import release_owed_of_ended_agreements
    from app.extensions import db
    from app.operations.services import track_job
    from app.workflow.date_moves import apply_date_moves

    with app.app_context():
        today = clock.today()
        try:
            with track_job("date-transitions") as counts:
                run = apply_date_moves(today)
                counts.update(moved=run.moved, failed=run.failed, looked_at=len(run.results), problems=run.problems)
                # What agreements that ended before (or outside) a move still owed: released once, kept so.
                counts.update(released=release_owed_of_ended_agreements())
                db.session.commit()
        except Exception:
            log_failure(log, "date transitions failed")
            return  # recorded as failed (track_job); the next run tries again
        finally:
            db.session.remove()
        log.info(
            "date transitions for %s: %d moved, %d failed, %d looked at",
            today,
            run.moved,
            run.failed,
            len(run.results),
        )


def reminders_job(app: Flask) -> None:
    """Generate the reminders and digests due now (each exactly once); the outbox job sends their e-mails
    on its own thread within OUTBOX_INTERVAL_SECONDS."""
    from app.extensions import db
    from app.notifications.reminders import run_pass
    from app.operations.services import track_job

    with app.app_context():
        try:
            with track_job("reminders") as counts:
                report = run_pass(clock.utcnow())
                log.info("reminders: %d new, %d already sent, %d errors", report.created, report.already, report.errors)
                counts.update(
                    created=report.created, already=report.already, errors=report.errors, problems=report.problems
                )
        except Exception:
            log_failure(log, "reminders failed")
        finally:
            db.session.remove()


def outbox_job(app: Flask) -> None:
    """Send what is waiting in the outbox (mail written by the web app, retries)."""
    from app.extensions import db
    from app.notifications.outbox import send_due
    from app.operations.services import track_job

    with app.app_context():
        try:
            with track_job("outbox") as counts:
                report = send_due(stopping=STOPPING.is_set)
                counts.update(
                    sent=report.sent,
                    retried=report.retried,
                    failed=report.failed,
                    withdrawn=report.withdrawn,
                    interrupted=report.interrupted,
                    unreachable=bool(report.unreachable),
                    no_server=report.held_because == "no_server",
                    paused=report.held_because == "paused",
                )
            if report.sent or report.retried or report.failed or report.withdrawn or report.interrupted:
                log.info("outbox: %s", report)
        except Exception:
            log_failure(log, "outbox failed")
        finally:
            db.session.remove()


def exports_job(app: Flask) -> None:
    """Write the spreadsheets people asked for on long lists, and forget the old ones."""
    from app.exports.services import run_due

    _counted(app, "exports", lambda: run_due(stopping=STOPPING.is_set))


def audit_anchor_job(app: Flask) -> None:
    """Publish the audit chain's head once a day (the copies outside the database are the evidence)."""
    from app.audit.services import publish_anchor

    def work() -> dict:
        with unit_of_work():
            anchor = publish_anchor()
            # A broken chain is the run's news: counted as a failed item, shown in warning colours.
            return {"chain_rows": anchor.chain_seq, "failed": 0 if anchor.verification.startswith("ok") else 1}

    _counted(app, "audit-anchor", work)


def storage_sweep_job(app: Flask) -> None:
    """Remove what killed processes left under UPLOAD_DIR (storage.sweep_leftovers)."""
    from app.core.storage import sweep_leftovers

    _counted(app, "storage-sweep", sweep_leftovers)


def receipts_purge_job(app: Flask) -> None:
    """Forget the answers kept against repeated sends once their day is over (receipts.py)."""
    from app.core.receipts import forget_stale_receipts

    _counted(app, "receipts-purge", forget_stale_receipts)


def directory_sweep_job(app: Flask) -> None:
    """Look directory-linked accounts up again: leavers lose access without signing in (directory.sweep)."""
    from app.auth.directory import sweep

    def work() -> dict:
        with unit_of_work():
            report = sweep()
        return {
            "looked_at": report.looked_at,
            "closed": report.closed,
            "role_changed": report.role_changed,
            "failed": 1 if report.held else 0,
        }

    _counted(app, "directory-sweep", work)


def _counted(app: Flask, name: str, work) -> None:
    """Run `work()` as job `name`, its returned counts recorded (track_job); a failure is logged and
    recorded, and the next run tries again."""
    from app.extensions import db
    from app.operations.services import track_job

    with app.app_context():
        try:
            with track_job(name) as counts:
                counts.update(work())
        except Exception:
            log_failure(log, "%s failed", name)
        finally:
            db.session.remove()


class _SkippedWhileRunning(logging.Filter):
    """Drops APScheduler's warning that a job's next run was skipped as its last one still runs: the outbox
    and exports run every few seconds, so a long send or sheet wrote one at every interval (dozens a drain),
    for what is their ordinary way. A run that lasts is shown by the jobs page (under way, since when)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in str(record.msg)


def build_scheduler(app: Flask):
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    # A thread for sending mail, one for writing spreadsheets, one for the rest, each job taking turns
    # with those of its thread: thousands of e-mails to a slow SMTP server no longer hold up an export or
    # the day's moves for minutes. Jobs on different threads already run side by side whenever two
    # schedulers run (claims under leases, natural keys), and SQLite's writers wait their turn.
    zone = clock.zone_named(app.config["MINISTRY_TIMEZONE"])
    apscheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(each, _SkippedWhileRunning) for each in apscheduler_log.filters):
        apscheduler_log.addFilter(_SkippedWhileRunning())
    # In a thread of its own: the process's main thread waits for a stop signal (app.cli, scheduler run).
    scheduler = BackgroundScheduler(
        timezone=zone,
        executors={
            "default": ThreadPoolExecutor(max_workers=1),
            "mail": ThreadPoolExecutor(max_workers=1),
            "exports": ThreadPoolExecutor(max_workers=1),
            # A directory slow to answer holds only its own sweep, not the day's moves and reminders.
            "directory": ThreadPoolExecutor(max_workers=1),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    # Hourly rather than daily: a day missed while the process was down is
    # caught up within the hour, and the scan is cheap and idempotent.
    scheduler.add_job(
        date_transitions_job,
        CronTrigger(minute=5),
        args=[app],
        id="date-transitions",
        replace_existing=True,
        next_run_time=clock.utcnow().astimezone(zone),
    )
    # On the hour, so Monday 08:00's digest leaves at 08:00; a pass missed while
    # the process was down is caught up by the next one (the keys say what was sent).
    scheduler.add_job(
        reminders_job,
        CronTrigger(minute=0),
        args=[app],
        id="reminders",
        replace_existing=True,
        next_run_time=clock.utcnow().astimezone(zone),
    )
    scheduler.add_job(
        outbox_job,
        IntervalTrigger(seconds=app.config["OUTBOX_INTERVAL_SECONDS"]),
        args=[app],
        id="outbox",
        executor="mail",
        replace_existing=True,
        misfire_grace_time=60,
    )
    scheduler.add_job(
        exports_job,
        IntervalTrigger(seconds=app.config["EXPORT_INTERVAL_SECONDS"]),
        args=[app],
        id="exports",
        executor="exports",
        replace_existing=True,
        misfire_grace_time=60,
    )
    scheduler.add_job(
        audit_anchor_job, CronTrigger(hour=0, minute=30), args=[app], id="audit-anchor", replace_existing=True
    )
    scheduler.add_job(
        storage_sweep_job,
        CronTrigger(hour=3, minute=15),
        args=[app],
        id="storage-sweep",
        replace_existing=True,
        next_run_time=clock.utcnow().astimezone(zone),
    )
    if app.config.get("LDAP_URL"):  # leavers lose access between their sign-ins (directory.sweep)
        scheduler.add_job(
            directory_sweep_job,
            IntervalTrigger(minutes=app.config["DIRECTORY_SWEEP_MINUTES"]),
            args=[app],
            id="directory-sweep",
            executor="directory",
            replace_existing=True,
            next_run_time=clock.utcnow().astimezone(zone),
        )
    scheduler.add_job(
        receipts_purge_job, CronTrigger(hour=3, minute=45), args=[app], id="receipts-purge", replace_existing=True
    )
    return scheduler
