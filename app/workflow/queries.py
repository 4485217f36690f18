"""Workflow rules turned into SQL conditions, so lists of "what waits on whom" are counted,
sorted and paged by the database instead of evaluating every agreement in Python.

An agreement runs on its own frozen definition (or today's, before its first move), so
each condition is built once per definition in use: OR over (agreements on that definition
AND the rule as that definition states it). Definitions in use are a handful; agreements
are tens of thousands.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

from flask import g, has_app_context
from sqlalchemy import and_, exists, false, func, or_, select

from app.agreements.models import Agreement
from app.extensions import db
from app.workflow import engine
from app.workflow.definitions import WorkflowDefinition
from app.workflow.models import ApprovalDecision, ApprovalRound


def definitions_in_use() -> list[tuple[object, WorkflowDefinition]]:
    """(condition selecting the agreements on a definition, that definition), for today's
    definitions and every frozen version. One query per request; parsed bodies are cached."""
    cache = g.setdefault("sharaka_definitions_in_use", None) if has_app_context() else None
    if cache is not None:
        return cache
    pairs: list[tuple[object, WorkflowDefinition]] = [
        (and_(Agreement.workflow_version_id.is_(None), Agreement.type == type_), definition)
        for type_, definition in engine.current_definitions().items()]
    for version_id, definition in engine.version_definitions().items():
        pairs.append((Agreement.workflow_version_id == version_id, definition))
    if has_app_context():
        g.sharaka_definitions_in_use = pairs
    return pairs


def per_definition(rule: Callable[[WorkflowDefinition], object | None]):
    """OR over the definitions in use of (agreement on it AND rule(definition)); a rule that
    answers None never holds for that definition."""
    clauses = []
    for on_definition, definition in definitions_in_use():
        clause = rule(definition)
        if clause is not None:
            clauses.append(and_(on_definition, clause))
    return or_(*clauses) if clauses else false()


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def over_state_sla(since, today: date):
    """True when `since` lies further back than the SLA of the agreement's current state,
    counted in whole UTC days as the inbox shows them (presenter.days_since)."""
    def rule(definition: WorkflowDefinition):
        by_sla: dict[int, list[str]] = {}
        for name, state in definition.states.items():
            if state.sla_days is not None and state.kind != "final":
                by_sla.setdefault(state.sla_days, []).append(name)
        if not by_sla:
            return None
        return or_(*(and_(Agreement.state.in_(names), since < utc_midnight(today - timedelta(days=sla)))
                     for sla, names in by_sla.items()))
    return per_definition(rule)


def _approved_in_step(step_name: str):
    return select(func.count()).select_from(ApprovalDecision).where(
        ApprovalDecision.round_id == ApprovalRound.id, ApprovalDecision.step == step_name,
        ApprovalDecision.decision == "approve").scalar_subquery()


def _step_started(steps, index: int):
    """The round reached step `index`: the step before it has an approval (the first always has)."""
    if index == 0:
        return None
    return exists().where(ApprovalDecision.round_id == ApprovalRound.id,
                          ApprovalDecision.step == steps[index - 1].name, ApprovalDecision.decision == "approve")


def _place_kept_for_required(step, identity):
    """The step's remaining place is kept for a required approver `identity` is not (engine._eligibility:
    the approvals reach quorum - 1 while a required role or person has not approved), or None when the
    step requires nobody in particular."""
    from sqlalchemy.orm import aliased

    from app.auth.models import User

    if not (step.required_roles or step.required_users):
        return None
    approver = aliased(User)

    def covered(condition):
        return exists().where(ApprovalDecision.round_id == ApprovalRound.id, ApprovalDecision.step == step.name,
                              ApprovalDecision.decision == "approve", ApprovalDecision.counted_user_id == approver.id,
                              condition).correlate_except(ApprovalDecision, approver)
    missing = [(role == identity.role, ~covered(approver.role == role)) for role in step.required_roles]
    missing += [(email == identity.email, ~covered(approver.email == email)) for email in step.required_users]
    fills = [clause for is_identity, clause in missing if is_identity]
    parts = [_approved_in_step(step.name) >= step.quorum - 1, or_(*(clause for _is, clause in missing))]
    if fills:
        parts.append(~or_(*fills))
    return and_(*parts)


def _approval_steps(definition: WorkflowDefinition):
    """(transition, its steps, index, step) for every step of every approval in `definition`."""
    for transition in definition.transitions:
        if transition.approval is not None:
            for index, step in enumerate(transition.approval.steps):
                yield transition, transition.approval.steps, index, step


def _open_rounds_where(rule):
    """Open rounds of the agreement's current state for which `rule(definition)` holds."""
    return and_(ApprovalRound.status == "open", ApprovalRound.from_state == Agreement.state, per_definition(rule))


def approvals_waiting_on(user, people: list) -> object:
    """Open rounds of the agreement's current state where `user`, or someone who delegated to
    them (`people`: the user first), holds a slot of a step that has started, has not approved
    it yet, is not kept out by the four-eyes rule, and, in a sequential step, whose turn came.

    Nor, as the engine keeps it (_place_kept_for_required), when the step's last place is kept for a
    required approver they are not. What the engine checks beyond this (guards that block the move)
    shows on the agreement's page.
    """
    def rule(definition: WorkflowDefinition):
        clauses = []
        for transition, steps, index, step in _approval_steps(definition):
            for identity in people:
                slot = engine.slot_of(step, identity)
                if slot is None:
                    continue
                parts = [ApprovalRound.transition == transition.name,
                         ~exists().where(ApprovalDecision.round_id == ApprovalRound.id,
                                         ApprovalDecision.step == step.name,
                                         ApprovalDecision.counted_user_id == identity.id)]
                started = _step_started(steps, index)
                if started is not None:
                    parts.append(started)
                if step.exclude_requester:
                    parts.append(or_(ApprovalRound.requested_by_id.is_(None),
                                     ApprovalRound.requested_by_id.not_in({user.id, identity.id})))
                if step.mode == "sequential" and slot > 0:
                    parts.append(_approved_in_step(step.name) >= slot)
                kept = _place_kept_for_required(step, identity)
                if kept is not None:
                    parts.append(~kept)
                clauses.append(and_(*parts))
        return or_(*clauses) if clauses else None
    if user.role in ("partner", "auditor"):
        return false()
    return _open_rounds_where(rule)


def forward_move_states(definition: WorkflowDefinition, user) -> set[str]:
    """Working states (with an SLA, or signed) from which the owner `user` has a move forward to a
    later, unfinished state: their agreement waits on them there. Negotiation has its own turns."""
    order = list(definition.states)
    found = set()
    for name, state in definition.states.items():
        if state.kind == "final" or name == "negotiation" or (state.sla_days is None and name != "signed"):
            continue
        for transition in definition.transitions_from(name):
            if transition.approval is not None or not transition.roles:
                continue
            target = definition.states[transition.target]
            if target.kind == "final" or order.index(transition.target) <= order.index(name):
                continue
            if (user.role in transition.roles and user.role != "partner") or (
                    "owner" in transition.roles and user.role in ("officer", "manager", "admin")):
                found.add(name)
                break
    return found


def late_round_clause(today: date, local_midnight: Callable[[date], datetime], also=None):
    """Open rounds whose current step has waited longer than its SLA. A step starts at the round's
    request (the first) or at the last approval of the step before it; the current step is the
    furthest one started. `local_midnight(day)` is the start of that day where days are counted.
    `also(definition, step, sla, waited_past)`, when given, adds a condition on each such round:
    `waited_past(days)` holds when the step has waited more than `days` days."""
    def rule(definition: WorkflowDefinition):
        clauses = []
        for transition, steps, index, step in _approval_steps(definition):
            for source in transition.sources:
                # As the approval reminders count it: the step's own SLA, else its state's.
                state = definition.states.get(source)
                sla = step.sla_days or (state.sla_days if state else None)
                if sla is None:
                    continue

                def waited_past(days: int, index=index, steps=steps):
                    cutoff = local_midnight(today - timedelta(days=days))
                    if index == 0:
                        return ApprovalRound.requested_at < cutoff
                    return select(func.max(ApprovalDecision.decided_at)).where(
                        ApprovalDecision.round_id == ApprovalRound.id,
                        ApprovalDecision.step == steps[index - 1].name).scalar_subquery() < cutoff
                parts = [ApprovalRound.transition == transition.name, ApprovalRound.from_state == source,
                         waited_past(sla)]
                if index > 0:
                    parts.append(_step_started(steps, index))
                if index + 1 < len(steps):
                    parts.append(~_step_started(steps, index + 1))
                if also is not None:
                    parts.append(also(definition, step, sla, waited_past))
                clauses.append(and_(*parts))
        return or_(*clauses) if clauses else None
    return _open_rounds_where(rule)


def drafts_waiting_on_partner(user) -> list[tuple[Agreement, object]]:
    """(agreement, its latest version of the text) for each negotiation the reader's organisation must
    answer now: the ministry sent the latest version and the text is not agreed yet (the partner portal)."""
    from app.core.permissions import visible_agreements_clause
    from app.workflow.models import NegotiationRound

    latest = (select(NegotiationRound.agreement_id, func.max(NegotiationRound.number).label("number"))
              .group_by(NegotiationRound.agreement_id).subquery())
    return list(db.session.execute(
        select(Agreement, NegotiationRound)
        .join(latest, latest.c.agreement_id == Agreement.id)
        .join(NegotiationRound, and_(NegotiationRound.agreement_id == Agreement.id,
                                     NegotiationRound.number == latest.c.number))
        .where(visible_agreements_clause(user), Agreement.state == "negotiation",
               Agreement.agreed_round_id.is_(None), NegotiationRound.side == "ministry")
        .order_by(NegotiationRound.sent_at)).tuples())
