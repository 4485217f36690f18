"""The scheduler process (`flask scheduler run`): periodic ticks that scan the database.

It runs in its own process, never inside web workers: a job store cannot be
shared between processes, and a scheduler per worker would run every job once
per worker. Jobs are idempotent scans ("what is due now?"), so a missed run is
caught up by the next one and a second scheduler started by mistake is harmless.
"""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

log = logging.getLogger("sharaka.scheduler")
CASABLANCA = ZoneInfo("Africa/Casablanca")


def date_transitions_job(app: Flask) -> None:
    """Apply today's date-driven moves (signed → active, active → expired)."""
    from app.extensions import db
    from app.workflow.engine import run_date_transitions

    with app.app_context():
        today = datetime.now(CASABLANCA).date()
        try:
            results = run_date_transitions(today)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("date transitions failed")
            raise
        finally:
            db.session.remove()
        moved = [r for r in results if r[2] == "done"]
        log.info("date transitions for %s: %d moved, %d looked at", today, len(moved), len(results))


def build_scheduler(app: Flask):
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    scheduler = BlockingScheduler(timezone=CASABLANCA, job_defaults={"coalesce": True, "max_instances": 1,
                                                                     "misfire_grace_time": 3600})
    # Hourly rather than daily: a day missed while the process was down is
    # caught up within the hour, and the scan is cheap and idempotent.
    scheduler.add_job(date_transitions_job, CronTrigger(minute=5), args=[app], id="date-transitions",
                      replace_existing=True, next_run_time=datetime.now(CASABLANCA))
    return scheduler
