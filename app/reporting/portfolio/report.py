"""The stage analytics page's content: the figures of app/portfolio/analytics.py with labels and SLAs.
Those figures read every stay and decision of the years shown: they are kept while the audit trail is
unchanged (app/core/kept.py), shared by the readers who see the same portfolio."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.agreements.models import Agreement, type_label_of
from app.core import clock
from app.core.kept import kept_while_unchanged
from app.core.pagination import first_with_total
from app.core.permissions import portfolio_scope, visible_agreements_clause
from app.extensions import db
from app.reporting.portfolio import analytics
from app.reporting.portfolio.stages import in_view
from app.workflow.engine import current_definitions, definition_for, label, step_sla
from app.workflow.models import StageVisit
from app.workflow.queries import over_state_sla

OVER_SLA_LISTED = 50


@dataclass
class StageRow:
    state: str
    label: str
    sla_days: int | None
    visits: int
    median: float | None
    p90: float | None

    @property
    def is_over_sla(self) -> bool:
        return self.sla_days is not None and self.median is not None and self.median > self.sla_days


@dataclass
class TypeReport:
    type: str
    label: str
    rows: list[StageRow]

    @property
    def visits(self) -> int:
        return sum(row.visits for row in self.rows)


@dataclass
class OverSla:
    agreement: Agreement
    state_label: str
    days: int
    sla_days: int

    @property
    def days_over(self) -> int:
        return self.days - self.sla_days


@dataclass
class StepRow:
    stat: analytics.StepStat
    type_label: str
    transition_label: str
    approvers: list[str]  # roles and named approvers' e-mails, as in the definition
    steps_in_transition: int
    sla_days: int | None


@dataclass
class StageReport:
    types: list[TypeReport]
    over_sla: list[OverSla]  # the OVER_SLA_LISTED longest in their stage
    steps: list[StepRow]
    years: list[int] = field(default_factory=list)
    over_sla_total: int = 0

    @property
    def slowest(self) -> StepRow | None:
        return self.steps[0] if self.steps and self.steps[0].stat.median is not None else None


def year_choices(user) -> list[int]:
    """Years from the first stay in a stage on record to this year, newest first."""
    first = kept_while_unchanged(
        ("first stay", portfolio_scope(user)),
        # The earliest visible stay, read along the index on entered_at until the first one the reader
        # may see (min() over the join would read every stay at a government's scale).
        lambda: db.session.scalar(
            select(StageVisit.entered_at)
            .join(Agreement, Agreement.id == StageVisit.agreement_id)
            .where(visible_agreements_clause(user))
            .order_by(StageVisit.entered_at)
            .limit(1)
        ),
    )
    this_year = clock.today().year
    first_year = min(clock.day_of(first).year, this_year) if first else this_year
    return list(range(this_year, first_year - 1, -1))


def build_report(user, *, agreement_type: str | None, year: int | None, now: datetime) -> StageReport:
    definitions = current_definitions()
    shown = in_view(definitions, agreement_type)
    order = {d.type: [name for name, state in d.states.items() if state.kind != "final"] for d in shown}
    stats = kept_while_unchanged(
        ("stage statistics", portfolio_scope(user), agreement_type, year, _frozen(order)),
        lambda: analytics.load_stage_statistics(user, order, agreement_type=agreement_type, year=year),
    )
    type_reports = []
    for definition in shown:
        rows = [
            StageRow(
                s.state,
                label(definition.states[s.state].label),
                definition.states[s.state].sla_days,
                s.visits,
                s.median,
                s.p90,
            )
            for s in stats
            if s.agreement_type == definition.type
        ]
        type_reports.append(TypeReport(definition.type, type_label_of(definition.type), rows))
    over_sla, over_sla_total = _over_sla(user, agreement_type, year, clock.day_of(now))
    return StageReport(
        types=type_reports, over_sla=over_sla, steps=_steps(user, agreement_type, year), over_sla_total=over_sla_total
    )


def _over_sla(user, agreement_type: str | None, year: int | None, today: date) -> tuple[list[OverSla], int]:
    """Agreements in a stage longer than its SLA now (days counted as on the agreement page): the
    database finds and counts them; the OVER_SLA_LISTED longest in their stage are listed."""
    conditions = [
        visible_agreements_clause(user),
        Agreement.state_entered_at.is_not(None),
        over_state_sla(Agreement.state_entered_at, today),
    ]
    if agreement_type:
        conditions.append(Agreement.type == agreement_type)
    if year:
        conditions += [
            Agreement.state_entered_at >= analytics.year_start(year),
            Agreement.state_entered_at < analytics.year_start(year + 1),
        ]
    agreements, total = first_with_total(
        select(Agreement)
        .where(*conditions)
        .options(selectinload(Agreement.parties))
        .order_by(Agreement.state_entered_at, Agreement.reference),
        OVER_SLA_LISTED,
        # Counted on the ids alone: thousands of agreements over their SLA, each read whole (with its owner
        # and organisation) only to be counted, cost PostgreSQL a sort spilled to disk.
        unique_by=Agreement.id,
    )
    late = []
    for agreement in agreements:
        state = definition_for(agreement).states.get(agreement.state)
        days = clock.days_since(agreement.state_entered_at, today)
        late.append(OverSla(agreement, label(state.label), days, state.sla_days))
    return sorted(late, key=lambda row: (-row.days_over, row.agreement.reference)), total


def _steps(user, agreement_type: str | None, year: int | None) -> list[StepRow]:
    definitions = current_definitions()
    positions, details = {}, {}
    for kind, definition in definitions.items():
        for transition in definition.transitions:
            if transition.approval is None:
                continue
            for index, step in enumerate(transition.approval.steps, start=1):
                key = (kind, transition.name, step.name)
                positions[key] = index
                details[key] = (
                    label(transition.label),
                    [*step.roles, *step.users],
                    len(transition.approval.steps),
                    step_sla(definition, transition.sources[0], step) if transition.sources else None,
                )
    stats = kept_while_unchanged(
        ("step statistics", portfolio_scope(user), agreement_type, year, _frozen(positions)),
        lambda: analytics.load_step_statistics(user, positions, agreement_type=agreement_type, year=year),
    )
    rows = []
    for stat in stats:
        key = (stat.agreement_type, stat.transition, stat.step)
        transition_label, approvers, count, sla = details.get(key, (stat.transition, [], 1, None))
        rows.append(
            StepRow(
                stat,
                type_label_of(stat.agreement_type),
                transition_label,
                approvers,
                count,
                sla,
            )
        )
    return rows


def _frozen(mapping) -> tuple:
    """A mapping of the definitions' stages or steps as part of a kept figure's key."""
    return tuple((key, tuple(value) if isinstance(value, list) else value) for key, value in mapping.items())
