"""The figures of the home dashboards, each computed with a fixed number of queries.

Every function answers with aggregates (GROUP BY, COUNT, subqueries) and, where
a card lists a few rows, loads just those few with `selectinload`: the number of
queries a dashboard costs does not grow with the portfolio.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from flask_babel import format_date
from sqlalchemy import and_, bindparam, case, extract, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app.agreements.models import AGREEMENT_TYPES, Agreement
from app.core import clock
from app.core.audit import AuditEvent
from app.core.pagination import first_with_total, firsts_with_totals
from app.core.permissions import can, sees_every_agreement, visible_agreements_clause, visible_deliverables_clause
from app.deliverables.models import Deliverable, Occurrence
from app.extensions import db
from app.notifications.models import Notification
from app.notifications.reminders import local_date, local_midnight
from app.notifications.services import unread_count
from app.organizations.models import Organization
from app.workflow.engine import definition_for, label, slot_of, state_labels, step_waiting
from app.workflow.inbox import inbox_for
from app.workflow.models import ApprovalDecision, ApprovalRound
from app.workflow.presenter import STUCK_AFTER_SLA_TIMES
from app.workflow.queries import in_state_tagged, late_round_clause, over_state_sla

ENDING_WITHIN_DAYS = 90
LISTED = 5  # rows a card lists before "see all"
ACTIONS_LISTED = 10
ORGANIZATIONS_LISTED = 10  # partners an organisation card lists


@dataclass
class Count:
    """One bar of a chart: a key (state, type, organisation id), its label and its value."""

    key: str | int
    label: str
    value: int


@dataclass
class ActionsSummary:
    items: list  # the oldest InboxItem rows
    total: int
    over_sla: int


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
class OnTimeRate:
    organization: Organization
    handed_in: int
    on_time: int

    @property
    def percent(self) -> int:
        return round(100 * self.on_time / self.handed_in) if self.handed_in else 0


@dataclass
class MonthCount:
    month: int
    label: str  # "janv."
    title: str  # "janvier 2026"
    number: str  # "1", in the reader's digits
    value: int


# --- shared pieces -------------------------------------------------------------------------


def dashboard_version(user, now: datetime, language: str) -> str:
    """A fingerprint of everything a dashboard shows, from one query: every change writes an audit
    row (so the trail's last id moves with any change, the reader's own included), the reader's
    notices and unread count (the bell, counted already by the sign-in's query), the day (days
    waiting, what is due) and the hour (the page's CSRF tokens stay fresh). Equal fingerprints mean
    an identical page: a reload may be answered 304."""
    last_change, last_notice = db.session.execute(_version_statement(), {"user_id": user.id}).one()
    unread = unread_count(user)
    raw = f"{user.id}:{user.role}:{user.language}:{language}:{now:%Y-%m-%dT%H}:{last_change}:{last_notice}:{unread}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@cache
def _version_statement():
    """Built once per process: a kept dashboard's reload costs little more than this statement."""
    return select(
        select(func.max(AuditEvent.id)).scalar_subquery(),
        select(func.max(Notification.id)).where(Notification.user_id == bindparam("user_id")).scalar_subquery(),
    )


def _ordered_counts(rows, labels: dict) -> list[Count]:
    """(key, count) rows in the order of `labels` (the lifecycle order for states), unknown keys last."""
    counts = {key: count for key, count in rows}
    order = list(labels) + sorted(k for k in counts if k not in labels)
    return [Count(key, str(labels.get(key, key)), counts[key]) for key in order if counts.get(key)]


def counts_by_state(user, *, owner=None) -> list[Count]:
    """Agreements `user` may see per state, in lifecycle order (only `owner`'s when given)."""
    query = select(Agreement.state, func.count()).where(visible_agreements_clause(user))
    if owner is not None:
        query = query.where(Agreement.owner_id == owner.id)
    return _ordered_counts(db.session.execute(query.group_by(Agreement.state)).all(), state_labels())


def portfolio_counts(user, year: int) -> tuple[list[Count], list[Count], list[MonthCount]]:
    """Agreements `user` may see per state and per type, and those signed in each month of `year` (all
    twelve months, zeros included), from one GROUP BY over the three."""
    in_year = and_(Agreement.signed_on.is_not(None), extract("year", Agreement.signed_on) == year)
    # A subquery names the month, so the GROUP BY repeats a column, not an expression with parameters.
    facts = (
        select(
            Agreement.state.label("state"),
            Agreement.type.label("type"),
            case((in_year, extract("month", Agreement.signed_on)), else_=None).label("month"),
        )
        .where(visible_agreements_clause(user))
        .subquery()
    )
    rows = db.session.execute(
        select(facts.c.state, facts.c.type, facts.c.month, func.count()).group_by(
            facts.c.state, facts.c.type, facts.c.month
        )
    ).all()
    by_state: dict[str, int] = {}
    by_type: dict[str, int] = {}
    by_month: dict[int, int] = {}
    for state, type_, month, count in rows:
        by_state[state] = by_state.get(state, 0) + count
        by_type[type_] = by_type.get(type_, 0) + count
        if month is not None:
            by_month[int(month)] = by_month.get(int(month), 0) + count
    return (
        _ordered_counts(by_state.items(), state_labels()),
        _ordered_counts(by_type.items(), AGREEMENT_TYPES),
        _months(year, by_month),
    )


def _ending_list(user, today: date, owner=None):
    """Agreements in force whose end date falls within the next 90 days, soonest first: (query, order)."""
    until = today + timedelta(days=ENDING_WITHIN_DAYS)
    # In force (states tagged in_force): the ones whose end date matters.
    query = select(Agreement).where(
        visible_agreements_clause(user),
        in_state_tagged("in_force"),
        Agreement.expires_on >= today,
        Agreement.expires_on <= until,
    )
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


def agreement_cards(user, today: date, *, owner=None, limit: int = LISTED) -> tuple[EndingSummary, StuckAgreements]:
    """The "ending soon" and "stuck agreements" cards (only `owner`'s agreements when given): how many
    each, and the first few, from one statement; only the listed few are dressed in Python."""
    found = firsts_with_totals(
        Agreement, {"ending": _ending_list(user, today, owner), "stuck": _stuck_list(user, today, owner)}, limit
    )
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
    return (
        EndingSummary(
            total=ending_total,
            agreements=ending,
            until=until,
            notices=notice_deadlines(user, today, until, owner=owner, limit=limit),
        ),
        StuckAgreements(total=found["stuck"][1], longest=stuck),
    )


def notice_deadlines(user, today: date, until: date, *, owner=None, limit: int = LISTED) -> list:
    """(agreement, notice deadline) for agreements in force with renewal terms whose deadline to give
    notice of non-renewal falls between today and `until`, no notice given yet: the first few, found,
    sorted and cut by the database (Agreement.notice_deadline is SQL too)."""
    deadline = Agreement.notice_deadline
    conditions = [
        visible_agreements_clause(user),
        in_state_tagged("in_force"),
        Agreement.non_renewal_on.is_(None),
        deadline >= today,
        deadline <= until,
    ]
    if owner is not None:
        conditions.append(Agreement.owner_id == owner.id)
    rows = db.session.execute(
        select(Agreement, deadline).where(*conditions).order_by(deadline, Agreement.reference).limit(limit)
    )
    return [(agreement, on) for agreement, on in rows]


def _occurrences(user, *columns, owner=None):
    """SELECT `columns` (occurrences by default) from the occurrences on agreements `user` may see.
    Agreements are joined only when the reader's visibility or the owner needs them: a manager's
    portfolio figures read occurrences and deliverables alone."""
    query = (
        select(*(columns or (Occurrence,)))
        .select_from(Occurrence)
        .join(Deliverable, Occurrence.deliverable_id == Deliverable.id)
        .where(visible_deliverables_clause(user))
    )
    if owner is not None or not sees_every_agreement(user):
        query = query.join(Agreement, Deliverable.agreement_id == Agreement.id).where(visible_agreements_clause(user))
    if owner is not None:
        query = query.where(Agreement.owner_id == owner.id)
    return query


# What a listed occurrence shows besides itself, loaded with it.
_LISTED_OCCURRENCE = (
    joinedload(Occurrence.deliverable).joinedload(Deliverable.agreement),
    joinedload(Occurrence.deliverable).joinedload(Deliverable.responsible_organization),
)


# --- the officer's cards ---------------------------------------------------------------------


def my_actions(user, today: date, *, limit: int = ACTIONS_LISTED) -> ActionsSummary:
    """What waits on `user` (the "My actions" inbox): the oldest few, how many in all, how many past the SLA."""
    page = inbox_for(user, today, per_page=limit)
    return ActionsSummary(items=page.items, total=page.total, over_sla=page.over_sla)


def my_deliverables(user, today: date, *, limit: int = LISTED) -> DeliverablesSummary:
    """Deliverables on `user`'s agreements still to hand in: due by the end of this month, and overdue.

    "Overdue" is what the deliverables list calls overdue: pending and past its due date.
    """
    month_end = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    pending = Occurrence.status == "pending"
    is_overdue = and_(pending, Occurrence.due_on < today)
    is_due = and_(pending, Occurrence.due_on >= today, Occurrence.due_on <= month_end)
    order = (Occurrence.due_on, Occurrence.id)
    found = firsts_with_totals(
        Occurrence,
        {
            "due": (_occurrences(user, owner=user).where(is_due), order),
            "overdue": (_occurrences(user, owner=user).where(is_overdue), order),
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


def officer_home(user, today: date) -> dict:
    """Everything an officer's dashboard shows: their actions, agreements, deliverables and endings."""
    ending, stuck = agreement_cards(user, today, owner=user)
    return {
        "actions": my_actions(user, today),
        "my_states": counts_by_state(user, owner=user),
        "deliverables": my_deliverables(user, today),
        "ending": ending,
        "stuck": stuck,
    }


# --- the portfolio cards (managers; auditors and admins read them too) ----------------------------


def late_approvals(user, today: date, *, limit: int = LISTED) -> LateApprovals:
    """Open approval rounds whose current step waited longer than its SLA (else its state's), oldest first.

    The database finds and counts them (the SLAs of each definition in use become conditions,
    app/workflow/queries/); only the few listed rounds are dressed in Python.
    """
    rows, total = first_with_total(
        select(ApprovalRound, Agreement)
        .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
        .where(visible_agreements_clause(user), late_round_clause(today, local_midnight))
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


def _months(year: int, counts: dict[int, int]) -> list[MonthCount]:
    """Agreements signed in each month of `year` (all twelve months, zeros included)."""
    return [
        MonthCount(
            m,
            format_date(date(year, m, 1), "MMM"),
            format_date(date(year, m, 1), "MMMM y"),
            format_date(date(year, m, 1), "M"),
            counts.get(m, 0),
        )
        for m in range(1, 13)
    ]


def organization_figures(
    user, today: date, *, limit: int = ORGANIZATIONS_LISTED
) -> tuple[list[Count], int, list[OnTimeRate]]:
    """Per responsible organisation, from one statement:
    - overdue deliverables (pending, past their due date): the `limit` with most, and how many in all;
    - on-time rate: of the occurrences due so far that were handed in, how many were first handed in
      on or before their due date on the ministry's calendar (Occurrence.was_handed_in_on_time, read
      from the stored day of the first hand-in), the `limit` worst first (a government has hundreds
      of partners).
    """
    is_overdue = and_(Occurrence.status == "pending", Occurrence.due_on < today)
    per_organization = (
        _occurrences(
            user,
            Deliverable.responsible_organization_id.label("organization_id"),
            func.sum(case((is_overdue, 1), else_=0)).label("overdue"),
            func.count(Occurrence.first_handed_in_on).label("handed_in"),
            func.sum(case((Occurrence.was_handed_in_on_time, 1), else_=0)).label("on_time"),
        )
        .where(Occurrence.due_on <= today)
        .group_by(Deliverable.responsible_organization_id)
        .subquery()
    )
    figures = per_organization.c
    rate = figures.on_time * 1.0 / func.nullif(figures.handed_in, 0)
    # Each list's rank in the database, so only the rows of the two short lists come back.
    ranked = (
        select(
            figures.organization_id,
            figures.overdue,
            figures.handed_in,
            figures.on_time,
            func.sum(figures.overdue).over().label("overdue_total"),
            func.row_number().over(order_by=(figures.overdue.desc(), Organization.slug)).label("overdue_rank"),
            func.row_number()
            .over(order_by=(case((figures.handed_in > 0, 0), else_=1), rate, Organization.slug))
            .label("rate_rank"),
        )
        .join(Organization, Organization.id == figures.organization_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Organization, ranked.c.overdue, ranked.c.handed_in, ranked.c.on_time, ranked.c.overdue_total)
        .join(ranked, ranked.c.organization_id == Organization.id)
        .where(
            or_(
                and_(ranked.c.overdue > 0, ranked.c.overdue_rank <= limit),
                and_(ranked.c.handed_in > 0, ranked.c.rate_rank <= limit),
            )
        )
    ).all()
    overdue = [Count(org.id, org.name, int(n)) for org, n, _handed_in, _on_time, _total in rows if n]
    rates = [
        OnTimeRate(org, int(handed_in), int(on_time or 0)) for org, _n, handed_in, on_time, _total in rows if handed_in
    ]
    overdue = sorted(overdue, key=lambda row: (-row.value, row.label))[:limit]
    rates = sorted(rates, key=lambda rate: (rate.on_time / rate.handed_in, rate.organization.name))[:limit]
    return overdue, int(rows[0][4] or 0) if rows else 0, rates


def portfolio_home(user, today: date) -> dict:
    """Everything the portfolio dashboard shows (managers; auditors and admins read it)."""
    by_state, by_type, signed = portfolio_counts(user, today.year)
    ending, stuck = agreement_cards(user, today)
    overdue, overdue_total, on_time = organization_figures(user, today)
    return {
        # What waits on the reader comes first on every dashboard (a manager's own approvals too).
        "actions": my_actions(user, today) if can(user, "inbox.view") else None,
        "by_state": by_state,
        "by_type": by_type,
        "total": sum(row.value for row in by_state),
        "late_approvals": late_approvals(user, today),
        "stuck": stuck,
        "overdue": overdue,
        "overdue_total": overdue_total,
        "ending": ending,
        "signed_per_month": signed,
        "year": today.year,
        "on_time": on_time,
    }
