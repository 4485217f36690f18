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
from datetime import date, datetime, timezone

from sqlalchemy import select

from app.core.permissions import visible_agreements_clause
from app.extensions import db

SECONDS_PER_DAY = 86400


# --- plain values ---------------------------------------------------------------------

@dataclass(frozen=True)
class StageEvent:
    """One audit row that changes an agreement's stage: its creation or a transition."""

    agreement_id: int
    occurred_at: datetime
    action: str  # "created" | "transition"
    before: str | None  # the stage left (transitions only)
    after: str | None  # the stage entered


@dataclass(frozen=True)
class Visit:
    """A stay of one agreement in one stage; `left_at` is None while it is still there."""

    agreement_id: int
    state: str
    entered_at: datetime
    left_at: datetime | None

    @property
    def days(self) -> float | None:
        return None if self.left_at is None else days_between(self.entered_at, self.left_at)


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

def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / SECONDS_PER_DAY


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


def stage_visits(events: Iterable[StageEvent]) -> list[Visit]:
    """Each agreement's stays in a stage, from the event that entered the stage to the one that left it.

    A creation row opens the first stage unless a stage is already open (data placed in a
    stage with a history dated before its creation row). A transition closes the open stay
    only when it leaves that very stage; a stay whose start is unknown (an agreement put in
    a state by hand, then moved) is not a visit. Stays not yet left come last, with left_at None.
    """
    per_agreement: dict[int, list[tuple[datetime, int, StageEvent]]] = defaultdict(list)
    for index, event in enumerate(events):
        per_agreement[event.agreement_id].append((event.occurred_at, index, event))
    visits: list[Visit] = []
    for agreement_id, rows in per_agreement.items():
        rows.sort(key=lambda row: (row[0], row[1]))
        open_state: str | None = None
        opened_at: datetime | None = None
        for occurred_at, _index, event in rows:
            if event.action == "created":
                if open_state is None and event.after:
                    open_state, opened_at = event.after, occurred_at
                continue
            if open_state is not None and open_state == event.before:
                visits.append(Visit(agreement_id, open_state, opened_at, occurred_at))
            open_state, opened_at = (event.after, occurred_at) if event.after else (None, None)
        if open_state is not None:
            visits.append(Visit(agreement_id, open_state, opened_at, None))
    return visits


def stage_durations(visits: Iterable[Visit], types: Mapping[int, str], *, year: int | None = None,
                    agreement_type: str | None = None) -> dict[tuple[str, str], list[float]]:
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


def stage_statistics(durations: Mapping[tuple[str, str], list[float]],
                     order: Mapping[str, list[str]]) -> list[StageStat]:
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
                waits[(round_.agreement_type, round_.transition, step)].append(
                    max(0.0, days_between(started, moment)))
            started = moments[-1]
    return dict(waits)


def step_statistics(waits: Mapping[tuple[str, str, str], list[float]],
                    positions: Mapping[tuple[str, str, str], int]) -> list[StepStat]:
    """Median and 90th percentile wait per approval step, slowest first."""
    stats = [StepStat(kind, transition, step, positions.get((kind, transition, step), 1), len(values),
                      percentile(values, 0.5), percentile(values, 0.9))
             for (kind, transition, step), values in waits.items() if values]
    return sorted(stats, key=lambda s: (-(s.median or 0), s.agreement_type, s.transition, s.position))


def slowest(stats: list[StepStat]) -> StepStat | None:
    return max(stats, key=lambda s: s.median or 0, default=None) if stats else None


def calendar_days_since(moment: datetime | None, today: date) -> int | None:
    """Whole days from `moment`'s date to today (the agreement page counts days in a stage the same way)."""
    if moment is None:
        return None
    return max(0, (today - moment.date()).days)


def year_start(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=timezone.utc)


# --- loading (one query each) ------------------------------------------------------------

def load_stage_events(user, *, agreement_type: str | None = None, since_year: int | None = None,
                      initial_states: Mapping[str, str] | None = None) -> tuple[list[StageEvent], dict[int, str]]:
    """Every creation and transition row of the agreements `user` may see, in one query,
    with each agreement's type. A creation row that does not say its state starts the type's
    initial state (`initial_states`: type -> state)."""
    from app.agreements.models import Agreement
    from app.core.audit import AuditEvent

    query = (select(AuditEvent.object_id, AuditEvent.occurred_at, AuditEvent.action, AuditEvent.changes,
                    Agreement.type)
             .join(Agreement, Agreement.id == AuditEvent.object_id)
             .where(AuditEvent.object_type == "agreements", AuditEvent.action.in_(("created", "transition")),
                    visible_agreements_clause(user))
             .order_by(AuditEvent.object_id, AuditEvent.occurred_at, AuditEvent.id))
    if agreement_type is not None:
        query = query.where(Agreement.type == agreement_type)
    if since_year is not None:
        # A visit entered in that year starts with an event of that year; it may end later.
        query = query.where(AuditEvent.occurred_at >= year_start(since_year))
    events, types = [], {}
    for agreement_id, occurred_at, action, changes, kind in db.session.execute(query):
        types[agreement_id] = kind
        changes = changes if isinstance(changes, dict) else {}
        before = changes.get("before") if isinstance(changes.get("before"), dict) else {}
        after = changes.get("after") if isinstance(changes.get("after"), dict) else {}
        entered = after.get("state")
        if action == "created" and not entered:
            entered = (initial_states or {}).get(kind)
        events.append(StageEvent(agreement_id, occurred_at, action, before.get("state"), entered))
    return events, types


def load_rounds(user, *, agreement_type: str | None = None, year: int | None = None) -> list[RoundRecord]:
    """Approval rounds with at least one decision, with their steps from each agreement's own definition.
    Two queries: the rounds with their agreements, then every decision of those rounds."""
    from app.agreements.models import Agreement
    from app.workflow.engine import definition_for
    from app.workflow.models import ApprovalDecision, ApprovalRound

    query = (select(ApprovalRound, Agreement).join(Agreement, Agreement.id == ApprovalRound.agreement_id)
             .where(visible_agreements_clause(user),
                    ApprovalRound.id.in_(select(ApprovalDecision.round_id)))
             .order_by(ApprovalRound.id))
    if agreement_type is not None:
        query = query.where(Agreement.type == agreement_type)
    if year is not None:
        query = query.where(ApprovalRound.requested_at >= year_start(year),
                            ApprovalRound.requested_at < year_start(year + 1))
    rows = db.session.execute(query).all()
    if not rows:
        return []
    decisions: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for round_id, step, decided_at in db.session.execute(
            select(ApprovalDecision.round_id, ApprovalDecision.step, ApprovalDecision.decided_at)
            .where(ApprovalDecision.round_id.in_([round_.id for round_, _agreement in rows]))):
        decisions[round_id].append((step, decided_at))
    records = []
    for round_, agreement in rows:
        transition = definition_for(agreement).transition(round_.transition)
        steps = tuple(step.name for step in transition.approval.steps) if transition and transition.approval else ()
        records.append(RoundRecord(agreement.type, round_.transition, round_.requested_at, steps,
                                   tuple(decisions[round_.id])))
    return records
