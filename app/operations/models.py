"""What the scheduler's jobs leave behind: one row per job with its last run and its totals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import UTCDateTime
from app.extensions import db


class JobStatus(db.Model):
    """A scheduled job's record, shared by every scheduler process (hence in the database)."""

    __tablename__ = "job_status"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_duration_ms: Mapped[int | None] = mapped_column()
    last_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_host: Mapped[str | None] = mapped_column(String(100))
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The run under way, written as it starts (the rest is written as a run ends): a run that
    # started and never ended was cut short (see operations.services.note_interrupted_runs).
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    running_host: Mapped[str | None] = mapped_column(String(100))
    # The items (agreements, reminders) that failed in the last run while the others went on.
    last_problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
