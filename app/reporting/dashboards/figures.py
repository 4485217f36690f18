"""The portfolio's counts and figures: agreements per state, type and month of signature, and per
responsible organisation the overdue deliverables and the on-time rate. Each is one aggregate
statement (GROUP BY, window functions), whatever the size of the portfolio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import format_date
from sqlalchemy import and_, case, extract, func, or_, select

from app.agreements.models import AGREEMENT_TYPES, Agreement
from app.core.kept import kept_while_unchanged
from app.core.permissions import (
    portfolio_scope,
    sees_every_agreement,
    visible_agreements_clause,
    visible_deliverables_clause,
)
from app.deliverables.falling_due import shown_as
from app.deliverables.models import Deliverable, Occurrence
from app.extensions import db
from app.organizations.models import Organization, name_of
from app.workflow.engine import state_labels
from app.workflow.queries import in_state_tagged

ORGANIZATIONS_LISTED = 10  # partners an organisation card lists


@dataclass
class Count:
    """One bar of a chart: a key (state, type, organisation id), its label and its value."""

    key: str | int
    label: str
    value: int


@dataclass
class OnTimeRate:
    organization_id: int
    name: str  # in the reader's language
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
    # Signed means past the signature in its workflow: a draft entered with the date it is to be signed on
    # had counted as signed that month.
    in_year = and_(
        Agreement.signed_on.is_not(None), extract("year", Agreement.signed_on) == year, in_state_tagged("after_signing")
    )
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


def visible_occurrences(user, *columns, owner=None):
    """SELECT `columns` (occurrences by default) from the occurrences on agreements `user` may see.
    Agreements are joined only when the reader's visibility or the owner needs them: a condition on the
    agreement is asked without them (falling_due.deliverable_falling_due) or with an owner given."""
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


def organization_figures(
    user, today: date, *, limit: int = ORGANIZATIONS_LISTED
) -> tuple[list[Count], int, list[OnTimeRate]]:
    """Per responsible organisation, from one statement:
    - overdue deliverables (pending, past their due date): the `limit` with most, and how many in all;
    - on-time rate: of the occurrences due so far that were handed in, how many were first handed in
      on or before their due date on the ministry's calendar (Occurrence.was_handed_in_on_time, read
      from the stored day of the first hand-in), the `limit` worst first (a government has hundreds
      of partners).
    The statement groups every occurrence due so far: its rows are kept while nothing changes
    (app/core/kept.py), shared by the readers who see the same portfolio; names are given here in
    the reader's language.
    """
    rows = kept_while_unchanged(
        ("organization figures", portfolio_scope(user), today, limit),
        lambda: _organization_rows(user, today, limit),
    )
    overdue = [Count(row.id, name_of(row), int(row.overdue)) for row in rows if row.overdue]
    rates = [
        OnTimeRate(row.id, name_of(row), int(row.handed_in), int(row.on_time or 0)) for row in rows if row.handed_in
    ]
    overdue = sorted(overdue, key=lambda row: (-row.value, row.label))[:limit]
    rates = sorted(rates, key=lambda rate: (rate.on_time / rate.handed_in, rate.name))[:limit]
    return overdue, int(rows[0].overdue_total or 0) if rows else 0, rates


def _organization_rows(user, today: date, limit: int) -> list:
    """Rows of the organisations in either short list: their naming columns (as organizations.name_of
    reads them), overdue, handed_in, on_time and overdue_total. Plain rows, which outlive the session."""
    # Overdue is owed only while the agreement runs: asked of the running agreements' ids rather than by
    # joining each of the tens of thousands of occurrences due so far to its agreement (30 -> 25 ms at
    # 10,000 agreements on PostgreSQL). The agreements are joined only for a reader's visibility.
    is_overdue = shown_as("overdue", today, agreement_joined=False)
    per_organization = (
        visible_occurrences(
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
    return db.session.execute(
        select(
            *Organization.naming_columns(),
            ranked.c.overdue,
            ranked.c.handed_in,
            ranked.c.on_time,
            ranked.c.overdue_total,
        )
        .join(ranked, ranked.c.organization_id == Organization.id)
        .where(
            or_(
                and_(ranked.c.overdue > 0, ranked.c.overdue_rank <= limit),
                and_(ranked.c.handed_in > 0, ranked.c.rate_rank <= limit),
            )
        )
    ).all()
