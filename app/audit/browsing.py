"""The audit trail read a page at a time, newest first, whatever its length: each page starts below the
last row of the one before (its id), so the database reads 50 rows from an index, not the whole trail, to
find a page (a million rows at a government's scale)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from app.core import clock
from app.core.audit import AuditEvent
from app.extensions import db

PER_PAGE = 50


@dataclass(frozen=True)
class TrailFilters:
    action: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    actor_id: int | None = None
    since: date | None = None
    until: date | None = None


def trail_page(filters: TrailFilters, before: int | None = None, per_page: int = PER_PAGE):
    """The rows `filters` select, newest first, below the row `before` (an id) when given; and the id to ask
    the next page below, or None when these were the last."""
    query = select(AuditEvent)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id is not None:
        query = query.where(AuditEvent.object_id == filters.object_id)
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    # The days are the ministry's (midnight to midnight on its clock). Rows are written in time order, so
    # each bound is also an id, found at the start of the time index: the page then reads its rows from
    # there, where reading down from the newest would pass every row since (a year of them, for last year's).
    if filters.since:
        start = clock.start_of(filters.since)
        first = db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.occurred_at >= start).order_by(AuditEvent.occurred_at).limit(1)
        )
        query = query.where(AuditEvent.occurred_at >= start, AuditEvent.id >= (first or 0))
    if filters.until:
        end = clock.start_of(filters.until + timedelta(days=1))
        last = db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.occurred_at < end).order_by(AuditEvent.occurred_at.desc()).limit(1)
        )
        query = query.where(AuditEvent.occurred_at < end, AuditEvent.id <= (last or 0))
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(per_page + 1)))
    older = rows[per_page - 1].id if len(rows) > per_page else None
    return rows[:per_page], older
