"""The calendar: one month of deadlines — deliverables due, approvals due by their SLA, agreements ending.

The same three kinds of dates as the personal iCal feed (app/notifications/calendar.py), but
for everything the reader may see rather than only what is theirs to do.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from app.agreements.models import Agreement
from app.core.permissions import can, is_partner, visible_agreements_clause, visible_deliverables_clause
from app.extensions import db
from app.workflow.engine import definition_for, label
from app.workflow.queries import in_state_tagged, round_due_clause

OPEN_OCCURRENCE_STATUSES = ("pending", "sent_back", "submitted")
KINDS = ("deliverable", "approval", "end")
# Deliverables a day lists; the rest are one link away in the deliverables list of that day. It
# bounds the page whatever the portfolio (a government's reports fall due on the same few days).
DELIVERABLES_PER_DAY = 10


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
    # Deliverables due on a day beyond the DELIVERABLES_PER_DAY listed: {day: how many}.
    more_deliverables: dict[date, int] = field(default_factory=dict)

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
        return self._by_day.get(day, [])

    @cached_property
    def _by_day(self) -> dict[date, list[Deadline]]:
        by_day: dict[date, list[Deadline]] = {}
        for deadline in self.deadlines:
            by_day.setdefault(deadline.day, []).append(deadline)
        return by_day

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
            *_deliverables(user, month.first, month.last, month.more_deliverables),
            *_approvals(user, month.first, month.last),
            *_endings(user, month.first, month.last),
        ],
        key=lambda d: (d.day, KINDS.index(d.kind), d.agreement.reference),
    )
    return month


def _deliverables(user, first: date, last: date, more: dict):
    """The first DELIVERABLES_PER_DAY open occurrences due each day of the month; `more` gets how many
    more each day has (both numbered by the database, per day)."""
    from app.deliverables.models import Deliverable, Occurrence

    due = (
        select(
            Occurrence.id.label("id"),
            func.row_number().over(partition_by=Occurrence.due_on, order_by=Occurrence.id).label("position"),
            func.count().over(partition_by=Occurrence.due_on).label("on_the_day"),
        )
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .join(Agreement, Agreement.id == Deliverable.agreement_id)
        .where(
            visible_agreements_clause(user),
            visible_deliverables_clause(user),
            Occurrence.status.in_(OPEN_OCCURRENCE_STATUSES),
            Occurrence.due_on >= first,
            Occurrence.due_on <= last,
        )
    )
    if is_partner(user):
        # A partner's calendar shows what their organisation owes.
        due = due.where(Deliverable.responsible_organization_id == user.organization_id)
    due = due.subquery()
    rows = db.session.execute(
        select(Occurrence, due.c.on_the_day)
        .join(due, due.c.id == Occurrence.id)
        .where(due.c.position <= DELIVERABLES_PER_DAY)
        .options(
            joinedload(Occurrence.deliverable).joinedload(Deliverable.agreement),
            joinedload(Occurrence.deliverable).joinedload(Deliverable.responsible_organization),
        )
    ).all()
    for occurrence, on_the_day in rows:
        if on_the_day > DELIVERABLES_PER_DAY:
            more[occurrence.due_on] = on_the_day - DELIVERABLES_PER_DAY
    for occurrence, _on_the_day in rows:
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
