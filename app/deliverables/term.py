"""Nothing is owed before an agreement starts: the one rule, for the plan and for the moves that date it.

A plan line is checked against the start when it is written (services._check_plan). A plan drawn up during
the talks has no start to be checked against: the signature (or, without one, the date of entry into force)
gives it later. The workflows' stages that follow it require the guard below (`requires: guards:` of
`signed` and `active` in workflows/), so the move that dates the agreement is refused, naming the lines to
move, instead of making them overdue from their first day (a one-off planned on a draft for 1 January 2020,
then signed in November 2026, was 2,500 days late on the partner's portal, and reminded).
"""

from __future__ import annotations

from datetime import date

from flask_babel import format_date
from sqlalchemy import inspect, select

from app.core.i18n import gettext as _
from app.core.i18n import isolate, list_of
from app.deliverables.models import Deliverable
from app.extensions import db
from app.workflow.rules import guard


def term_start(agreement) -> date | None:
    """The first day anything may be owed under `agreement`: the earlier of its signature and its entry into
    force (an inception report may fall between the two); None while it has neither."""
    return min((day for day in (agreement.signed_on, agreement.effective_on) if day), default=None)


def lines_due_before_start(agreement) -> list[Deliverable]:
    """The plan lines first due before the agreement starts (term_start), soonest first."""
    start = term_start(agreement)
    if start is None:
        return []
    if "deliverables" not in inspect(agreement).unloaded:  # loaded with many (the board's cards): no statement each
        return sorted(
            (line for line in agreement.deliverables if line.first_due_on < start),
            key=lambda line: (line.first_due_on, line.id),
        )
    return list(
        db.session.scalars(
            select(Deliverable)
            .where(Deliverable.agreement_id == agreement.id, Deliverable.first_due_on < start)
            .order_by(Deliverable.first_due_on, Deliverable.id)
        )
    )


@guard("nothing_due_before_start")
def _nothing_due_before_start(agreement) -> str | None:
    early = lines_due_before_start(agreement)
    if not early:
        return None
    start = format_date(term_start(agreement), "long")
    lines = [
        _("“%(title)s” first due on %(date)s", title=isolate(line.title), date=format_date(line.first_due_on, "long"))
        for line in early
    ]
    return _(
        "Nothing is owed before the agreement starts (%(start)s), yet the plan has %(lines)s: move each line's "
        "first due date to %(start)s or later in the deliverables plan.",
        start=start,
        lines=list_of(lines),
    )


def past_date_warning(agreement, first_due_on: date, today: date) -> str | None:
    """What to tell the one who plans a line first due before `today` on an agreement with no start yet: kept
    (an agreement signed before Sharaka may owe reports already past), but unless the signature comes first,
    the line will have to move before the agreement is marked signed (nothing_due_before_start)."""
    if term_start(agreement) is not None or first_due_on >= today:
        return None
    return _(
        "The first due date (%(date)s) is already past. Nothing is owed before the agreement is signed: unless "
        "it is signed on or before that day, move the date before marking it signed.",
        date=format_date(first_due_on, "long"),
    )
