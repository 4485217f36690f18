"""The audit trail read a page at a time, newest first, whatever its length: each page starts below the
last row of the one before (its id), so the database reads 50 rows from an index, not the whole trail, to
find a page (a million rows at a government's scale)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import format_date
from sqlalchemy import and_, or_, select

from app.agreements.models import Agreement
from app.audit.labels import action_label, actor_label, object_label
from app.auth.models import User
from app.core import clock
from app.core.audit import SYSTEM_LABEL, AuditEvent
from app.core.exports import streamed_pieces
from app.core.i18n import gettext as _
from app.extensions import db

PER_PAGE = 50


@dataclass(frozen=True)
class TrailFilters:
    action: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    actor_id: int | None = None
    by_system: bool = False  # only the rows Sharaka wrote itself (scheduled jobs, commands)
    since: date | None = None
    until: date | None = None


def trail_query(filters: TrailFilters):
    """SQL: the rows `filters` select, unordered."""
    query = select(AuditEvent)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.object_type == "agreements" and filters.object_id is not None:
        query = query.where(_about_the_agreement(filters.object_id))
    else:
        if filters.object_type:
            query = query.where(AuditEvent.object_type == filters.object_type)
        if filters.object_id is not None:
            query = query.where(AuditEvent.object_id == filters.object_id)
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.by_system:
        # Read from the actor index (its null entries): the label alone tells them from a removed account's.
        query = query.where(AuditEvent.actor_id.is_(None), AuditEvent.actor_label == SYSTEM_LABEL)
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
    return query


def _about_the_agreement(agreement_id: int):
    """SQL: the rows about one agreement and what belongs to it (its deliverables' hand-ins and reviews, its
    approval rounds, its messages), each read from the object index. Asked for an agreement, the trail had
    left out every hand-in of its deliverables: those rows are filed under the deliverable."""
    from app.deliverables.models import Deliverable, Occurrence
    from app.discussions.models import DiscussionMessage
    from app.workflow.models import ApprovalRound

    belongings = {
        "agreements": select(Agreement.id).where(Agreement.id == agreement_id),
        "deliverable_occurrences": select(Occurrence.id)
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .where(Deliverable.agreement_id == agreement_id),
        "approval_rounds": select(ApprovalRound.id).where(ApprovalRound.agreement_id == agreement_id),
        "discussion_messages": select(DiscussionMessage.id).where(DiscussionMessage.agreement_id == agreement_id),
    }
    return or_(
        *(
            and_(AuditEvent.object_type == object_type, AuditEvent.object_id.in_(ids))
            for object_type, ids in belongings.items()
        )
    )


def agreement_referenced(typed: str) -> int | None:
    """The id of the agreement whose reference `typed` is (MTNRA-2026-012, as the auditor knows it, in any
    case); None when no agreement has it."""
    typed = (typed or "").strip()
    if not typed.isprintable() or len(typed) > 40:  # no reference is (a NUL would reach PostgreSQL)
        return None
    return db.session.scalar(select(Agreement.id).where(Agreement.reference == typed.upper()))


def trail_page(filters: TrailFilters, before: int | None = None, per_page: int = PER_PAGE):
    """The rows `filters` select, newest first, below the row `before` (an id) when given; and the id to ask
    the next page below, or None when these were the last."""
    query = trail_query(filters)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    rows = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(per_page + 1)))
    older = rows[per_page - 1].id if len(rows) > per_page else None
    return rows[:per_page], older


def agreement_references(rows) -> dict[int, str]:
    """The references of the agreements `rows` are about, by id, read in one statement for the page (a row
    names its agreement by reference, "MTNRA-2025-010", not by its database id); a deleted one is missing."""
    ids = {row.object_id for row in rows if row.object_type == "agreements" and row.object_id}
    if not ids:
        return {}
    listed = db.session.execute(select(Agreement.id, Agreement.reference).where(Agreement.id.in_(sorted(ids))))
    return {agreement_id: reference for agreement_id, reference in listed}


# --- the trail as a spreadsheet (app/exports: written in the request, or by the scheduler when long) -----


def exported_query(user, filters: TrailFilters, today: date):
    """SQL: the exported rows, newest first, as the page lists them (who may read them: the export's
    permission, audit.list, checked by the caller and again when the scheduler writes the file)."""
    return trail_query(filters).order_by(AuditEvent.id.desc())


def export_table(user, filters: TrailFilters, today: date) -> tuple[list[str], Iterator[list]]:
    """Every row the filters select (no pages), newest first, in the reader's language; read as written out.
    Each moment is the ministry's wall clock with its offset, to the second: an auditor lines rows up with
    other logs by it."""
    headings = [
        _("Row"),
        _("When"),
        _("Who"),
        _("What"),
        _("Action code"),
        _("About"),
        _("Its number"),
        _("Comment"),
        _("What changed"),
    ]
    listed = exported_query(user, filters, today).with_only_columns(
        AuditEvent.id,
        AuditEvent.chain_seq,
        AuditEvent.occurred_at,
        AuditEvent.actor_label,
        AuditEvent.action,
        AuditEvent.object_type,
        AuditEvent.object_id,
        AuditEvent.comment,
        AuditEvent.changes,
    )

    def rows() -> Iterator[list]:
        for piece in streamed_pieces(listed):
            for row in piece:
                yield [
                    row.chain_seq or row.id,
                    clock.as_ministry_time(row.occurred_at).isoformat(sep=" ", timespec="seconds"),
                    actor_label(row.actor_label),
                    action_label(row.action),
                    row.action,
                    object_label(row.object_type),
                    row.object_id or None,
                    row.comment,
                    json.dumps(row.changes, ensure_ascii=False, sort_keys=True, default=str) if row.changes else None,
                ]

    return headings, rows()


def filters_described(filters: TrailFilters) -> list[tuple[str, str | None]]:
    """The filters as the trail's form names them ((label, value)), for the spreadsheet written of it."""
    described: list[tuple[str, str | None]] = []
    if filters.action:
        described.append((_("What"), action_label(filters.action)))
    if filters.object_type:
        described.append((_("About"), object_label(filters.object_type)))
    if filters.object_id is not None:
        described.append((_("Its number"), str(filters.object_id)))
    if filters.actor_id is not None:
        described.append((_("Who (name or e-mail address)"), _actor_email(filters.actor_id)))
    if filters.by_system:
        described.append((_("Only Sharaka's own (scheduled jobs, commands)"), None))
    if filters.since:
        described.append((_("From"), format_date(filters.since)))
    if filters.until:
        described.append((_("Until"), format_date(filters.until)))
    return described


def filters_as_arguments(filters: TrailFilters) -> dict:
    """The trail page's query string for `filters` (the inverse of its form)."""
    return {
        key: value
        for key, value in {
            "action": filters.action,
            "about": filters.object_type,
            "about_id": filters.object_id,
            "who": _actor_email(filters.actor_id) if filters.actor_id is not None else None,
            "system": "y" if filters.by_system else None,
            "since": filters.since.isoformat() if filters.since else None,
            "until": filters.until.isoformat() if filters.until else None,
        }.items()
        if value
    }


def _actor_email(actor_id: int) -> str | None:
    return db.session.scalar(select(User.email).where(User.id == actor_id))
