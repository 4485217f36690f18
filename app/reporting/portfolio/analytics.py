"""Stage analytics from the audit trail: how long agreements stay in each stage, which
agreements are over their stage's SLA now, and which approval step is the slowest.

The arithmetic is plain functions over plain values (events, visits, rounds), testable
without a database; the `load_*` functions fetch their inputs with one query each.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, select

from app.core import clock
from app.core.permissions import sees_every_agreement, visible_agreements_clause
from app.extensions import db

# The stays in each stage are worked out where the engine keeps them (app/workflow/stage_history.py).
from app.workflow.stage_history import SECONDS_PER_DAY, StageEvent, Visit, days_between, stage_visits  # noqa: F401

# --- plain values ---------------------------------------------------------------------


@dataclass(frozen=True)
class StageStat:
    agreement_type: str
    state: str
    visits: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class RoundRecord:
    """An approval round as the step analysis needs it: its steps in order and its decisions."""

    agreement_type: str
    transition: str
    requested_at: datetime
    steps: tuple[str, ...]
    decisions: tuple[tuple[str, datetime], ...]  # (step name, decided_at)


@dataclass(frozen=True)
class StepStat:
    agreement_type: str
    transition: str
    step: str
    position: int  # 1-based place of the step in its transition
    decisions: int
    median: float | None
    p90: float | None


# --- arithmetic -------------------------------------------------------------------------


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The `fraction` quantile with linear interpolation between closest ranks
    (numpy's default, Excel's PERCENTILE.INC); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stage_durations(
    visits: Iterable[Visit], types: Mapping[int, str], *, year: int | None = None, agreement_type: str | None = None
) -> dict[tuple[str, str], list[float]]:
    """Days spent per finished visit, keyed by (agreement type, stage); visits still open are left out.
    `year` keeps the visits that entered the stage that year."""
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for visit in visits:
        kind = types.get(visit.agreement_id)
        if visit.left_at is None or kind is None:
            continue
        if agreement_type is not None and kind != agreement_type:
            continue
        if year is not None and visit.entered_at.year != year:
            continue
        durations[(kind, visit.state)].append(visit.days)
    return dict(durations)


def stage_statistics(
    durations: Mapping[tuple[str, str], list[float]], order: Mapping[str, list[str]]
) -> list[StageStat]:
    """Median and 90th percentile per (type, stage), the stages of each type in workflow order
    (`order`: type -> its stages); a stage nobody left yet has no figures."""
    stats = []
    for kind, states in order.items():
        for state in states:
            values = durations.get((kind, state), [])
            stats.append(StageStat(kind, state, len(values), percentile(values, 0.5), percentile(values, 0.9)))
    return stats


def step_waits(rounds: Iterable[RoundRecord]) -> dict[tuple[str, str, str], list[float]]:
    """Days each approval decision waited, keyed by (type, transition, step).

    Steps follow one another: the first step waits from the round's request, each later
    step from the last decision of the step before it. Decisions of a step that never
    started (its predecessor has no decision) or of a step the definition no longer has
    are left out.
    """
    waits: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for round_ in rounds:
        started = round_.requested_at
        for step in round_.steps:
            moments = sorted(at for name, at in round_.decisions if name == step)
            if not moments:
                break
            for moment in moments:
                waits[(round_.agreement_type, round_.transition, step)].append(max(0.0, days_between(started, moment)))
            started = moments[-1]
    return dict(waits)


def step_statistics(
    waits: Mapping[tuple[str, str, str], list[float]], positions: Mapping[tuple[str, str, str], int]
) -> list[StepStat]:
    """Median and 90th percentile wait per approval step, slowest first."""
    stats = [
        StepStat(
            kind,
            transition,
            step,
            positions.get((kind, transition, step), 1),
            len(values),
            percentile(values, 0.5),
            percentile(values, 0.9),
        )
        for (kind, transition, step), values in waits.items()
        if values
    ]
    return sorted(stats, key=lambda s: (-(s.median or 0), s.agreement_type, s.transition, s.position))


def slowest(stats: list[StepStat]) -> StepStat | None:
    return max(stats, key=lambda s: s.median or 0, default=None) if stats else None


def year_start(year: int) -> datetime:
    """New Year's midnight on the ministry's clock: a year's figures hold what happened in its days."""
    return clock.start_of(date(year, 1, 1))


# --- loading (one query each) ------------------------------------------------------------


def load_stage_statistics(
    user, order: Mapping[str, list[str]], *, agreement_type: str | None = None, year: int | None = None
) -> list[StageStat]:
    """Median and 90th percentile days per (type, stage) from the stays kept in `stage_visits`
    (app/workflow/stage_history.py), for the agreements `user` may see; `year` keeps the stays
    entered that year. PostgreSQL computes the percentiles itself (percentile_cont interpolates
    like `percentile`) and sends a row per stage; elsewhere the days are read and counted here.
    Each stay carries its agreement's type: agreements are joined only when the reader's visibility
    needs them, so the whole portfolio's figures are read from ix_stage_visits_finished alone."""
    from app.agreements.models import Agreement
    from app.workflow.models import StageVisit

    def stays(*columns):
        query = select(*columns).where(StageVisit.left_at.is_not(None))
        if not sees_every_agreement(user):
            query = query.join(Agreement, Agreement.id == StageVisit.agreement_id).where(
                visible_agreements_clause(user)
            )
        if agreement_type is not None:
            query = query.where(StageVisit.agreement_type == agreement_type)
        if year is not None:
            query = query.where(StageVisit.entered_at >= year_start(year), StageVisit.entered_at < year_start(year + 1))
        return query

    if db.session.get_bind().dialect.name == "postgresql":
        figures = {
            (kind, state): (visits, median, p90)
            for kind, state, visits, median, p90 in db.session.execute(
                stays(
                    StageVisit.agreement_type,
                    StageVisit.state,
                    func.count(),
                    func.percentile_cont(0.5).within_group(StageVisit.days),
                    func.percentile_cont(0.9).within_group(StageVisit.days),
                ).group_by(StageVisit.agreement_type, StageVisit.state)
            )
        }
        return [
            StageStat(kind, state, *figures.get((kind, state), (0, None, None)))
            for kind, states in order.items()
            for state in states
        ]
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for kind, state, days in db.session.execute(stays(StageVisit.agreement_type, StageVisit.state, StageVisit.days)):
        durations[(kind, state)].append(days)
    return stage_statistics(durations, order)


def load_step_statistics(
    user, positions: Mapping[tuple[str, str, str], int], *, agreement_type: str | None = None, year: int | None = None
) -> list[StepStat]:
    """step_statistics(step_waits(rounds)) for the rounds `user` may see, with the wait of each decision
    reckoned by the database as step_waits reckons it: from the round's request for a step that is the
    first of its approval (in the agreement's own definition), else from the last decision of the step
    before it; a decision of a step whose predecessor has none, or of a step the definition does not have,
    counts for nothing. PostgreSQL also computes the percentiles and sends a row per step; elsewhere the
    waits (one number per decision) are read and counted here."""
    from sqlalchemy import case, literal
    from sqlalchemy.orm import aliased

    from app.agreements.models import Agreement
    from app.workflow.models import ApprovalDecision, ApprovalRound
    from app.workflow.queries import definitions_in_use

    # The step before each step, as each definition in use orders them ("" for a first step).
    previous_steps = [
        (
            and_(on_definition, ApprovalRound.transition == transition.name, ApprovalDecision.step == step.name),
            literal(steps[index - 1].name if index else ""),
        )
        for on_definition, definition in definitions_in_use()
        for transition in definition.transitions
        if transition.approval is not None
        for steps in [transition.approval.steps]
        for index, step in enumerate(steps)
    ]
    if not previous_steps:
        return []
    previous = case(*previous_steps, else_=None)
    # Each expression is computed once per decision, in its own materialized step: written inline, the
    # step-before CASE (one branch per step of each definition in use) and the correlated "last decision
    # of the step before" were repeated by PostgreSQL wherever the wait's formula named them (five
    # seconds a page at 10,000 agreements).
    decisions = (
        select(
            Agreement.type.label("agreement_type"),
            ApprovalRound.transition.label("transition"),
            ApprovalDecision.step.label("step"),
            ApprovalDecision.decided_at.label("decided_at"),
            ApprovalRound.requested_at.label("requested_at"),
            ApprovalRound.id.label("round_id"),
            previous.label("previous"),
        )
        .select_from(ApprovalDecision)
        .join(ApprovalRound, ApprovalRound.id == ApprovalDecision.round_id)
        .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
        .where(visible_agreements_clause(user), previous.is_not(None))
    )
    if agreement_type is not None:
        decisions = decisions.where(Agreement.type == agreement_type)
    if year is not None:
        decisions = decisions.where(
            ApprovalRound.requested_at >= year_start(year), ApprovalRound.requested_at < year_start(year + 1)
        )
    decisions = decisions.cte("decision_steps").prefix_with("MATERIALIZED", dialect="postgresql")
    earlier = aliased(ApprovalDecision)
    started = case(
        (decisions.c.previous == "", decisions.c.requested_at),
        else_=select(func.max(earlier.decided_at))
        .where(earlier.round_id == decisions.c.round_id, earlier.step == decisions.c.previous)
        .scalar_subquery(),
    )
    timed = (
        select(
            decisions.c.agreement_type,
            decisions.c.transition,
            decisions.c.step,
            decisions.c.decided_at,
            started.label("started"),
        )
        .cte("timed_steps")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        days = func.extract("epoch", timed.c.decided_at - timed.c.started) / SECONDS_PER_DAY
    else:
        days = func.julianday(timed.c.decided_at) - func.julianday(timed.c.started)
    waits = (
        select(
            timed.c.agreement_type,
            timed.c.transition,
            timed.c.step,
            case((days < 0, 0.0), else_=days).label("days"),
        )
        .where(timed.c.started.is_not(None))
        .subquery()
    )
    key = (waits.c.agreement_type, waits.c.transition, waits.c.step)
    if postgresql:
        stats = [
            StepStat(kind, transition, step, positions.get((kind, transition, step), 1), count, median, p90)
            for kind, transition, step, count, median, p90 in db.session.execute(
                select(
                    *key,
                    func.count(),
                    func.percentile_cont(0.5).within_group(waits.c.days),
                    func.percentile_cont(0.9).within_group(waits.c.days),
                ).group_by(*key)
            )
        ]
        return sorted(stats, key=lambda s: (-(s.median or 0), s.agreement_type, s.transition, s.position))
    found: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for kind, transition, step, wait in db.session.execute(select(*key, waits.c.days)):
        found[(kind, transition, step)].append(float(wait))
    return step_statistics(found, positions)


def load_rounds(user, *, agreement_type: str | None = None, year: int | None = None) -> list[RoundRecord]:
    """Approval rounds with at least one decision, with their steps from each agreement's own definition.
    Two queries: the rounds with their agreements, then every decision of those rounds. Every round is
    read: the page asks load_step_statistics, and the tests hold its SQL to step_waits over these."""
    from app.agreements.models import Agreement
    from app.workflow.engine import definition_for
    from app.workflow.models import ApprovalDecision, ApprovalRound

    query = (
        select(ApprovalRound, Agreement)
        .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
        .where(visible_agreements_clause(user), ApprovalRound.id.in_(select(ApprovalDecision.round_id)))
        .order_by(ApprovalRound.id)
    )
    if agreement_type is not None:
        query = query.where(Agreement.type == agreement_type)
    if year is not None:
        query = query.where(
            ApprovalRound.requested_at >= year_start(year), ApprovalRound.requested_at < year_start(year + 1)
        )
    rows = db.session.execute(query).all()
    if not rows:
        return []
    decisions: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for round_id, step, decided_at in db.session.execute(
        select(ApprovalDecision.round_id, ApprovalDecision.step, ApprovalDecision.decided_at).where(
            ApprovalDecision.round_id.in_([round_.id for round_, _agreement in rows])
        )
    ):
        decisions[round_id].append((step, decided_at))
    records = []
    for round_, agreement in rows:
        transition = definition_for(agreement).transition(round_.transition)
        steps = tuple(step.name for step in transition.approval.steps) if transition and transition.approval else ()
        records.append(
            RoundRecord(agreement.type, round_.transition, round_.requested_at, steps, tuple(decisions[round_.id]))
        )
    return records
