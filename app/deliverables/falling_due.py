"""When deliverables fall due: the one rule for what is owed now, in Python and in SQL.

A plan may be drawn up during the talks, and an agreement signed with an effective date still to come,
or suspended, owes nothing for the time being: its deliverables fall due while it runs (its state carries
the `running` tag, "deliverables fall due and are reminded") through its last day. The day after, the
date job ends it and waives what it still owed. Until then a pending occurrence shows as "not owed now"
in every list, count, export, feed and answer of the API, and nobody is reminded of it: a draft's
planned quarter past its date is not an overdue report.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app
from sqlalchemy import and_, not_, or_, select

from app.agreements.models import Agreement
from app.deliverables.models import Deliverable, Occurrence, shown_status
from app.workflow.engine import state_has
from app.workflow.queries import in_state_tagged


def due_window() -> int:
    """Days before its due date that a pending occurrence shows as "due"."""
    return current_app.config.get("DELIVERABLE_DUE_WINDOW_DAYS", 14)


def falls_due(agreement, today: date) -> bool:
    """Whether `agreement`'s deliverables are owed today (its SQL twin: falling_due)."""
    return state_has(agreement, "running") and (agreement.expires_on is None or agreement.expires_on >= today)


def falling_due(today: date):
    """SQL, on the Agreement's columns: agreements whose deliverables are owed today (falls_due)."""
    return and_(in_state_tagged("running"), or_(Agreement.expires_on.is_(None), Agreement.expires_on >= today))


def deliverable_falling_due(today: date):
    """SQL, on the Deliverable's columns: falling_due asked of its agreement without joining it (the
    agreements that run, found once by the database). For a statement that otherwise reads no agreement:
    joining each of tens of thousands of occurrences to its agreement only to ask this cost more than
    the rest of the statement (organization figures, 10,000 agreements)."""
    return Deliverable.agreement_id.in_(select(Agreement.id).where(falling_due(today)))


def shown_status_of(occurrence: Occurrence, today: date) -> str:
    """The status a person sees today of an occurrence loaded with its deliverable and agreement."""
    return shown_status(
        occurrence.status,
        occurrence.due_on,
        today,
        due_window(),
        falls_due(occurrence.deliverable.agreement, today),
    )


def shown_as(status: str, today: date, *, agreement_joined: bool = True):
    """SQL twin of shown_status_of: the occurrences a person sees today as `status`. The statement must
    join the occurrence's deliverable, and its agreement unless `agreement_joined` is False (the
    agreement is then asked through deliverable_falling_due)."""
    pending = Occurrence.status == "pending"
    runs = falling_due(today) if agreement_joined else deliverable_falling_due(today)
    if status == "not_owed":
        return and_(pending, not_(runs))
    window_end = today + timedelta(days=due_window())
    if status == "overdue":
        return and_(pending, Occurrence.due_on < today, runs)
    if status == "due":
        return and_(pending, Occurrence.due_on >= today, Occurrence.due_on <= window_end, runs)
    if status == "not_yet_due":
        return and_(pending, Occurrence.due_on > window_end, runs)
    return Occurrence.status == status
