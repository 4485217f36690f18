"""The calendar: one month of deadlines — deliverables due, approvals due by their SLA, agreements ending.

The same three kinds of dates as the personal iCal feed (app/notifications/calendar.py), but
for everything the reader may see rather than only what is theirs to do.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.agreements.models import Agreement
from app.core.permissions import can, is_partner, visible_agreements_clause, visible_deliverables_clause
from app.extensions import db
from app.workflow.engine import definition_for, label
from app.workflow.queries import in_state_tagged, round_due_clause

OPEN_OCCURRENCE_STATUSES = ("pending", "sent_back", "submitted")
KINDS = ("deliverable", "approval", "end")


@dataclass
class Deadline:
    day: date
    kind: str  # one of KINDS
    title: str
    agreement: Agreement
    url: str
    occurrence: object | None = None  # for deliverables: the occurrence (its status badge)
    detail: str | None = None


@dataclass
class Month:
    first: date
    today: date
    weeks: list[list[date]]
    deadlines: list[Deadline] = field(default_factory=list)

    @property
    def last(self) -> date:
        return self.first.replace(day=calendar.monthrange(self.first.year, self.first.month)[1])

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return self.last + timedelta(days=1)

    def on(self, day: date) -> list[Deadline]:
        return [d for d in self.deadlines if d.day == day]

    @property
    def days(self) -> list[date]:
        """Days of the month with at least one deadline, in order."""
        return sorted({d.day for d in self.deadlines})


def month_grid(first: date) -> list[list[date]]:
    """The weeks covering the month, Monday first (the ministry's working week starts on Monday)."""
    return calendar.Calendar(firstweekday=calendar.MONDAY).monthdatescalendar(first.year, first.month)


def build_month(user, first: date, today: date) -> Month:
    month = Month(first=first, today=today, weeks=month_grid(first))
    month.deadlines = sorted(
        [
            *_deliverables(user, month.first, month.last),
            *_approvals(user, month.first, month.last),
            *_endings(user, month.first, month.last),
        ],
        key=lambda d: (d.day, KINDS.index(d.kind), d.agreement.reference),
    )
    return month


def _deliverables(user, first: date, last: date):
    from app.deliverables.models import Deliverable, Occurrence

    query = (
        select(Occurrence)
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .join(Agreement, Agreement.id == Deliverable.agreement_id)
        .where(
            visible_agreements_clause(user),
            visible_deliverables_clause(user),
            Occurrence.status.in_(OPEN_OCCURRENCE_STATUSES),
            Occurrence.due_on >= first,
            Occurrence.due_on <= last,
        )
        .options(
            joinedload(Occurrence.deliverable).joinedload(Deliverable.agreement),
            joinedload(Occurrence.deliverable).joinedload(Deliverable.responsible_organization),
        )
    )
    if is_partner(user):
        # A partner's calendar shows what their organisation owes.
        query = query.where(Deliverable.responsible_organization_id == user.organization_id)
    for occurrence in db.session.scalars(query):
        deliverable = occurrence.deliverable
        yield Deadline(
            occurrence.due_on,
            "deliverable",
            deliverable.title,
            deliverable.agreement,
            url_for("deliverables.view_occurrence", occurrence_id=occurrence.id),
            occurrence=occurrence,
            detail=deliverable.responsible_organization.name,
        )


def approval_deadline(round_, agreement) -> tuple[date, object] | None:
    """(deadline, transition) of an open round: its current step is due `sla` days after it began.

    The same reckoning as the reminders (app/notifications/reminders/ `waiting_approval`),
    without asking who may approve, which the calendar does not need (one query per round)."""
    from app.notifications.reminders import local_date
    from app.workflow.engine import step_waiting

    waiting = step_waiting(round_, definition_for(agreement), agreement)
    if waiting is None or waiting[3] is None:
        return None
    transition, _step, started, sla = waiting
    return local_date(started) + timedelta(days=sla), transition


def _approvals(user, first: date, last: date):
    """Open approval rounds of the agreements' current stage, due by their step's SLA."""
    from app.notifications.reminders import local_midnight
    from app.workflow.models import ApprovalDecision, ApprovalRound

    if not can(user, "agreement.approvals"):
        return  # the ministry's internal approvals are not the partner's business (their deadlines neither)
    # The database keeps the rounds due this month (queries.round_due_clause); each is dated below.
    rows = db.session.execute(
        select(ApprovalRound, Agreement)
        .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
        .where(visible_agreements_clause(user), round_due_clause(first, last, local_midnight))
        .options(selectinload(ApprovalRound.decisions).joinedload(ApprovalDecision.counted_user))
        .order_by(ApprovalRound.id)
    )
    for round_, agreement in rows:
        due = approval_deadline(round_, agreement)
        if due is not None and first <= due[0] <= last:
            yield Deadline(
                due[0],
                "approval",
                label(due[1].label),
                agreement,
                url_for("agreements.view_agreement", agreement_id=agreement.id, _anchor="approvals-heading"),
            )


def _endings(user, first: date, last: date):
    agreements = db.session.scalars(
        select(Agreement).where(
            visible_agreements_clause(user),
            in_state_tagged("in_force"),
            Agreement.expires_on >= first,
            Agreement.expires_on <= last,
        )
    )
    for agreement in agreements:
        yield Deadline(
            agreement.expires_on,
            "end",
            agreement.title,
            agreement,
            url_for("agreements.view_agreement", agreement_id=agreement.id),
        )


def weekday_names(locale) -> list[tuple[str, str]]:
    """(abbreviated, full) day names, Monday first, in the reader's language (Babel's data)."""
    from babel.dates import get_day_names

    short, wide = get_day_names("abbreviated", locale=locale), get_day_names("wide", locale=locale)
    return [(short[day], wide[day]) for day in range(7)]  # Babel numbers days from Monday = 0
