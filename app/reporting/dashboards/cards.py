"""The dashboards' cards that list a few rows (agreements ending or stuck, notice deadlines, late
approvals, deliverables due): how many in all and the first few, from one statement each; only the
listed few are dressed in Python."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import joinedload, selectinload

from app.agreements.models import Agreement
from app.agreements.renewals import ENDING_WITHIN_DAYS, awaiting_notice, ending_between
from app.core import clock
from app.core.pagination import first_with_total, firsts_with_totals
from app.core.permissions import visible_agreements_clause
from app.deliverables.falling_due import falling_due, shown_as
from app.deliverables.models import Deliverable, Occurrence
from app.extensions import db
from app.notifications.reminders import local_date, local_midnight
from app.reporting.dashboards.figures import visible_occurrences
from app.workflow.engine import definition_for, label, slot_of, step_waiting
from app.workflow.models import ApprovalDecision, ApprovalRound
from app.workflow.presenter import STUCK_AFTER_SLA_TIMES
from app.workflow.queries import late_round_clause, over_state_sla, picked_rounds, rounds_waiting_on_nobody

LISTED = 5  # rows a card lists before "see all"


@dataclass
class DeliverablesSummary:
    due_this_month: int
    overdue: int
    month_end: date
    next_due: list[Occurrence] = field(default_factory=list)
    most_overdue: list[Occurrence] = field(default_factory=list)


@dataclass
class EndingSummary:
    total: int
    agreements: list[Agreement]
    until: date
    # (agreement, its notice deadline of non-renewal) for deadlines within the same window, soonest first.
    notices: list = field(default_factory=list)


@dataclass
class LateApproval:
    agreement: Agreement
    round: ApprovalRound
    step_label: str
    since: datetime
    days_waiting: int
    sla_days: int
    # The reader holds a slot of the waiting step: "Review"; else "Send a reminder" (and delegate, managers).
    is_yours: bool = False


@dataclass
class LateApprovals:
    total: int
    oldest: list[LateApproval]


@dataclass
class StuckAgreement:
    agreement: Agreement
    stage_label: str
    days: int
    sla_days: int


@dataclass
class StuckAgreements:
    total: int
    longest: list[StuckAgreement]


@dataclass
class WaitingOnNobody:
    """Approval steps no active account may decide for the agreements waiting at them (the approvals panel's
    rule: queries.rounds_waiting_on_nobody), each once as pages name it, and those agreements: they cannot
    move until someone is given the role."""

    steps: list
    total: int
    agreements: list[Agreement]


def _ending_list(user, today: date, owner=None):
    """Agreements in force that end within the next 90 days (not those renewing by themselves then: their
    notice deadline is listed instead), soonest first: (query, order)."""
    until = today + timedelta(days=ENDING_WITHIN_DAYS)
    query = select(Agreement).where(visible_agreements_clause(user), ending_between(today, until))
    if owner is not None:
        query = query.where(Agreement.owner_id == owner.id)
    return query, (Agreement.expires_on, Agreement.reference)


def _stuck_list(user, today: date, owner=None):
    """Agreements in their stage more than STUCK_AFTER_SLA_TIMES its deadline (days counted as on the
    agreement's page), longest first: (query, order)."""
    query = select(Agreement).where(
        visible_agreements_clause(user),
        Agreement.state_entered_at.is_not(None),
        over_state_sla(Agreement.state_entered_at, today, STUCK_AFTER_SLA_TIMES),
    )
    if owner is not None:
        query = query.where(Agreement.owner_id == owner.id)
    return query, (Agreement.state_entered_at, Agreement.reference)


def _waiting_on_nobody_list(user, stranded: list):
    """Agreements with an open approval waiting at one of the `stranded` steps that no active account may
    decide now (queries.rounds_waiting_on_nobody: the approvals panel's rule), longest in their stage
    first: (query, order)."""
    waiting = rounds_waiting_on_nobody(
        frozenset((id(each.definition), each.transition.name, each.step.name) for each in stranded)
    )
    query = select(Agreement).where(
        visible_agreements_clause(user), exists().where(ApprovalRound.agreement_id == Agreement.id, waiting)
    )
    return query, (Agreement.state_entered_at, Agreement.reference)


def _as_pages_name_them(stranded: list) -> dict[tuple, list]:
    """The `stranded` steps grouped as the card names them (a frozen version and today's definition share theirs)."""
    steps: dict[tuple, list] = {}
    for step in stranded:
        steps.setdefault((step.label, step.still_needed), []).append(step)
    return steps


def agreement_cards(
    user, today: date, *, owner=None, limit: int = LISTED, stranded: list | None = None
) -> tuple[EndingSummary, StuckAgreements, WaitingOnNobody | None]:
    """The "ending soon" and "stuck agreements" cards (only `owner`'s agreements when given), and, given
    the steps that may wait on nobody (workflow.checks.steps_left_to_nobody), the agreements waiting on nobody
    and the steps they wait at: how many each, and the first few, from one statement; only the listed few
    are dressed in Python."""
    lists = {"ending": _ending_list(user, today, owner), "stuck": _stuck_list(user, today, owner)}
    grouped = _as_pages_name_them(stranded or [])
    if grouped:
        lists["nobody"] = _waiting_on_nobody_list(user, stranded)
        # One list per step as the card names it, for the steps that have an agreement waiting at them.
        for number, steps in enumerate(grouped.values()):
            lists[("nobody at", number)] = _waiting_on_nobody_list(user, steps)
    found = firsts_with_totals(Agreement, lists, limit)
    ending, ending_total = found["ending"]
    until = today + timedelta(days=ENDING_WITHIN_DAYS)
    stuck = []
    for agreement in found["stuck"][0]:
        state = definition_for(agreement).states.get(agreement.state)
        if state is not None and state.sla_days:
            stuck.append(
                StuckAgreement(
                    agreement, label(state.label), clock.days_since(agreement.state_entered_at, today), state.sla_days
                )
            )
    waiting_at = [steps[0] for number, steps in enumerate(grouped.values()) if found[("nobody at", number)][1]]
    return (
        EndingSummary(
            total=ending_total,
            agreements=ending,
            until=until,
            notices=notice_deadlines(user, today, until, owner=owner, limit=limit),
        ),
        StuckAgreements(total=found["stuck"][1], longest=stuck),
        _waiting_on_nobody(waiting_at, *found["nobody"]) if grouped else None,
    )


def _waiting_on_nobody(steps: list, agreements: list, total: int) -> WaitingOnNobody | None:
    """The card: the steps agreements wait on nobody at, each once as pages name it, and those agreements."""
    if not total:
        return None
    return WaitingOnNobody(steps=steps, total=total, agreements=agreements)


def notice_deadlines(user, today: date, until: date, *, owner=None, limit: int = LISTED) -> list:
    """(agreement, notice deadline) for agreements in force with renewal terms whose deadline to give
    notice of non-renewal falls between today and `until`, no notice given yet: the first few, found,
    sorted and cut by the database (Agreement.notice_deadline is SQL too)."""
    deadline = Agreement.notice_deadline
    conditions = [
        visible_agreements_clause(user),
        awaiting_notice(),
        deadline >= today,
        deadline <= until,
    ]
    if owner is not None:
        conditions.append(Agreement.owner_id == owner.id)
    rows = db.session.execute(
        select(Agreement, deadline).where(*conditions).order_by(deadline, Agreement.reference).limit(limit)
    )
    return [(agreement, on) for agreement, on in rows]


# What a listed occurrence shows besides itself, loaded with it.
_LISTED_OCCURRENCE = (
    joinedload(Occurrence.deliverable).joinedload(Deliverable.agreement),
    joinedload(Occurrence.deliverable).joinedload(Deliverable.responsible_organization),
)


def my_deliverables(user, today: date, *, limit: int = LISTED) -> DeliverablesSummary:
    """Deliverables on `user`'s agreements still to hand in: due by the end of this month, and overdue.

    "Overdue" is what the deliverables list calls overdue: pending and past its due date.
    """
    month_end = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    is_overdue = shown_as("overdue", today)
    pending_now = and_(Occurrence.status == "pending", falling_due(today))
    is_due = and_(pending_now, Occurrence.due_on >= today, Occurrence.due_on <= month_end)
    order = (Occurrence.due_on, Occurrence.id)
    found = firsts_with_totals(
        Occurrence,
        {
            "due": (visible_occurrences(user, owner=user).where(is_due), order),
            "overdue": (visible_occurrences(user, owner=user).where(is_overdue), order),
        },
        limit,
        options=_LISTED_OCCURRENCE,
    )
    (next_due, due_this_month), (most_overdue, overdue) = found["due"], found["overdue"]
    return DeliverablesSummary(
        due_this_month=due_this_month,
        overdue=overdue,
        month_end=month_end,
        next_due=next_due,
        most_overdue=most_overdue,
    )


def late_approvals(user, today: date, *, limit: int = LISTED) -> LateApprovals:
    """Open approval rounds whose current step waited longer than its SLA (else its state's), oldest first.

    The database finds and counts them (the SLAs of each definition in use become conditions,
    app/workflow/queries/); only the few listed rounds are dressed in Python.
    """
    picked = picked_rounds(visible_agreements_clause(user), late_round_clause(today, local_midnight))
    rows, total = first_with_total(
        select(ApprovalRound, Agreement)
        .join(picked, picked.c.id == ApprovalRound.id)
        .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
        .options(selectinload(ApprovalRound.decisions).joinedload(ApprovalDecision.counted_user))
        .order_by(ApprovalRound.requested_at, ApprovalRound.id),
        limit,
    )
    late = []
    for round_, agreement in rows:
        waiting = step_waiting(round_, definition_for(agreement), agreement)
        if waiting is None:
            continue
        transition, step, started, sla = waiting
        late.append(
            LateApproval(
                agreement,
                round_,
                label(transition.label),
                started,
                (today - local_date(started)).days,
                sla,
                is_yours=_yours(round_, step, user),
            )
        )
    return LateApprovals(total=total, oldest=sorted(late, key=lambda item: item.since))


def _yours(round_, step, user) -> bool:
    """The reader holds a slot of the waiting step and has not decided it yet."""
    decided = any(d.step == step.name and d.counted_user_id == user.id for d in round_.decisions)
    return slot_of(step, user) is not None and not decided
