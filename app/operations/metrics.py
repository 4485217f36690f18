"""Figures read from the database at scrape time: they are the same whichever web
server is scraped, and cover every scheduler process."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from app.core.db import database_now
from app.extensions import db
from app.notifications.models import OutboxMessage
from app.notifications.outbox import outbox_counts
from app.operations.services import job_statuses


class DatabaseCollector:
    def collect(self):
        outbox = GaugeMetricFamily(
            "sharaka_outbox_messages", "Messages in the mail outbox, by status.", labels=["status"]
        )
        for status, count in outbox_counts().items():
            outbox.add_metric([status], count)
        yield outbox
        oldest = db.session.scalar(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(("pending", "sending")))
        )
        age = (database_now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "sharaka_outbox_oldest_pending_age_seconds",
            "Age of the oldest message not yet sent (0 when none).",
            value=max(age, 0.0),
        )
        runs = CounterMetricFamily("sharaka_job_runs", "Scheduled job runs, every scheduler.", labels=["job"])
        failures = CounterMetricFamily("sharaka_job_failures", "Scheduled job runs that failed.", labels=["job"])
        duration = GaugeMetricFamily("sharaka_job_last_duration_seconds", "How long the last run took.", labels=["job"])
        success = GaugeMetricFamily(
            "sharaka_job_last_success_timestamp_seconds",
            "When the last successful run finished (Unix time; 0 never).",
            labels=["job"],
        )
        for job in job_statuses():
            runs.add_metric([job.name], job.runs or 0)
            failures.add_metric([job.name], job.failures or 0)
            duration.add_metric([job.name], (job.last_duration_ms or 0) / 1000)
            success.add_metric([job.name], job.last_success_at.timestamp() if job.last_success_at else 0)
        yield from (runs, failures, duration, success)
        db.session.rollback()
