"""Reports due before an agreement signed before Sharaka came into it: chased as owed, or settled outside it.

An agreement signed months before Sharaka is activated with its effective date months back: the plan (its own,
or its type's default one, planned by the activation) then has due dates between that start and today. Chased,
the partner was mailed "239 days late" at the next reminder pass, then escalated, for reports often handed in
outside Sharaka. The activation says so before the move (past_due_at_activation) and lets the person choose:
chase them as owed (the default, as before), or record them as settled before Sharaka, waived with that reason
by the person who activated (settle_before_sharaka): no longer overdue, reminded, escalated, nor counted in the
on-time rates (nothing was handed in here).
"""

from __future__ import annotations

from datetime import date

from flask_babel import format_date
from sqlalchemy import select

from app.agreements.models import Agreement
from app.core import audit, stored_texts
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.permissions import can
from app.deliverables.falling_due import falls_due
from app.deliverables.models import Deliverable, Occurrence
from app.deliverables.services import default_plan_dates, has_own_plan, waive_all
from app.extensions import db
from app.workflow.engine import definition_for

CHASE, SETTLED = "chase", "settled"
CHOICES = (CHASE, SETTLED)


def brings_into_force(transition) -> bool:
    """Whether `transition` brings the agreement's plan into force (it plans the type's default one)."""
    return transition is not None and "plan_default_deliverables" in transition.effects


def past_due_at_activation(
    agreement: Agreement, effective_on: date | None, today: date, expires_on: date | None = None
) -> list[date]:
    """The due dates, soonest first, already past `today` that activating `agreement` in force from `effective_on`
    (to `expires_on`, else its end) would make owed: those of its own plan still pending, or else those its type's
    default plan would give it. None when the move would wait for an effective date still to come."""
    if effective_on is None or effective_on > today:
        return []
    if has_own_plan(agreement):
        return list(db.session.scalars(_pending_before(agreement, today, Occurrence.due_on)))
    end = expires_on or agreement.expires_on
    return [day for day in default_plan_dates(agreement, effective_on, end) if day < today]


def past_due_message(dates: list[date]) -> str:
    """What the activation form says of the due dates already past: "3 reports fall before today, the first
    due on 30 June 2026"."""
    return ngettext(
        "%(num)d report falls before today, due on %(date)s.",
        "%(num)d reports fall before today, the first due on %(date)s.",
        len(dates),
        date=format_date(dates[0], "long"),
    )


def past_due_occurrences(agreement: Agreement, today: date) -> list[Occurrence]:
    """What `agreement` owes today that fell due before it, nothing handed in for it yet: while it runs."""
    if not falls_due(agreement, today):
        return []
    return list(db.session.scalars(_pending_before(agreement, today, Occurrence)))


def _pending_before(agreement: Agreement, today: date, what):
    """`what` of `agreement`'s occurrences still pending whose due date is before `today`, soonest first."""
    return (
        select(what)
        .join(Deliverable, Deliverable.id == Occurrence.deliverable_id)
        .where(Deliverable.agreement_id == agreement.id, Occurrence.status == "pending", Occurrence.due_on < today)
        .order_by(Occurrence.due_on, Occurrence.id)
    )


def settle_before_sharaka(agreement: Agreement, *, by, today: date) -> list[Occurrence]:
    """Record what `agreement` owed before `today`, nothing handed in here, as settled before Sharaka: waived with
    that reason, decided by `by`, in one audit row on the agreement. Returns them."""
    if not can(by, "agreement.settle_before_sharaka", agreement):
        raise PermissionDenied(
            _("Only the agreement's owner or a manager records its reports as settled before Sharaka.")
        )
    settled = past_due_occurrences(agreement, today)
    if settled:
        waive_all(settled, stored_texts.SETTLED_BEFORE_SHARAKA, by=by)
        audit.record(
            "deliverables_settled_before_sharaka",
            agreement,
            actor=by,
            changes={"settled": len(settled), "occurrences": [occurrence.id for occurrence in settled]},
        )
    return settled


def follow_choice(agreement: Agreement, transition_name: str, choice: str | None, *, by, today: date) -> list:
    """After a move taken on `agreement` (the page and the API alike): what the person chose for the reports it
    left due before today. `choice` chase, or none (scripts written before the choice): chased as owed; settled:
    settle_before_sharaka, for a move that brings the plan into force only. Returns what was settled."""
    if choice in (None, "", CHASE):
        return []
    if choice != SETTLED:
        message = _("Choose whether the reports due before today are chased or were settled before Sharaka.")
        raise ValidationFailed(message, {"past_due": [message]})
    if not brings_into_force(definition_for(agreement).transition(transition_name)):
        message = _("Only the move that brings the agreement into force records reports as settled before Sharaka.")
        raise ValidationFailed(message, {"past_due": [message]})
    return settle_before_sharaka(agreement, by=by, today=today)


def settled_message(settled: list) -> str:
    """What the person is told after the move of what was recorded as settled before Sharaka."""
    return ngettext(
        "%(num)d report due before today is recorded as settled before Sharaka.",
        "%(num)d reports due before today are recorded as settled before Sharaka.",
        len(settled),
    )
