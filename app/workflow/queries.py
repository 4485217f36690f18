"""Workflow rules turned into SQL conditions, so lists of "what waits on whom" are counted,
sorted and paged by the database instead of evaluating every agreement in Python.

An agreement runs on its own frozen definition (or today's, before its first move), so
each condition is built once per definition in use: OR over (agreements on that definition
AND the rule as that definition states it). Definitions in use are a handful; agreements
are tens of thousands.

Built once, used by many requests: such a condition is a tree of thousands of SQL elements, and
building it cost more than the statement's execution. So each public condition below is kept
(`_built`) for the definitions in use (a new version, or other definitions, is another key), and
for what else it reads: the day, the user's identity, the column it compares. (SQLAlchemy's compiled
cache already spared the compiling: the day's cutoffs and the ids are bound values; not the building.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

from flask import g, has_app_context
from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true

from app.agreements.models import Agreement
from app.core import clock
from app.core.bounded import BoundedCache
from app.core.permissions import holders_of_roles_clause, holds_role, may_decide_approvals, may_move_own_agreements
from app.extensions import db
from app.workflow import conditions, engine, rules
from app.workflow.definitions import WorkflowDefinition
from app.workflow.models import ApprovalDecision, ApprovalRound


def definitions_in_use() -> list[tuple[ColumnElement[bool], WorkflowDefinition]]:
    """(condition selecting the agreements on a definition, that definition), for today's
    definitions and every frozen version. One query per request; parsed bodies are cached, and
    so is this list (the same object while the same definitions are in use: `_built` keys on it)."""
    cache = g.setdefault("sharaka_definitions_in_use", None) if has_app_context() else None
    if cache is not None:
        return cache
    current = engine.current_definitions()
    versions = engine.version_definitions()
    key = (
        "definitions in use",
        tuple((type_, id(definition)) for type_, definition in current.items()),
        tuple((version_id, id(definition)) for version_id, definition in versions.items()),
    )

    def build() -> list[tuple[ColumnElement[bool], WorkflowDefinition]]:
        pairs: list[tuple[ColumnElement[bool], WorkflowDefinition]] = [
            (and_(Agreement.workflow_version_id.is_(None), Agreement.type == type_), definition)
            for type_, definition in current.items()
        ]
        for version_id, definition in versions.items():
            pairs.append((Agreement.workflow_version_id == version_id, definition))
        return pairs

    pairs = _BUILT.get(key, build, keep=(tuple(current.values()), tuple(versions.values())))
    if has_app_context():
        g.sharaka_definitions_in_use = pairs
    return pairs


# A dozen kinds of condition, some per reader (what waits on them), each for today. With the demo
# definitions an entry weighs about 110 KB on average (the readers' approvals the most): 128 entries,
# enough for the approvers at work on a day, stay near 15 MB per worker.
_BUILT = BoundedCache(128)


def _built(key: tuple, build: Callable[[], ColumnElement[bool]], keep: object = None) -> ColumnElement[bool]:
    """build(), or the condition built for `key` and the same definitions in use before."""
    in_use = definitions_in_use()
    return _BUILT.get((id(in_use), *key), build, keep=(in_use, keep))


def _identity(person) -> tuple:
    """What the approval conditions read of a person: who (the SQL names their id), their role, their e-mail."""
    return (person.id, person.role, person.email)


def per_definition(rule: Callable[[WorkflowDefinition], ColumnElement[bool] | None]):
    """OR over the definitions in use of (agreement on it AND rule(definition)); a rule that
    answers None never holds for that definition. Definitions for which the rule is the same SQL
    (a version and today's definition it froze, most often) share it: (agreement on one of them AND
    the rule), a condition half the size or less."""
    groups: dict[tuple, tuple[list[ColumnElement[bool]], ColumnElement[bool]]] = {}
    for on_definition, definition in definitions_in_use():
        clause = rule(definition)
        if clause is not None:
            groups.setdefault(_sql_of(clause), ([], clause))[0].append(on_definition)
    clauses = [and_(or_(*on_definitions), clause) for on_definitions, clause in groups.values()]
    return or_(*clauses) if clauses else false()


def _sql_of(clause: ColumnElement[bool]) -> tuple:
    """The SQL text of `clause` and its values (in the database's dialect, which the app's own SQL
    constructs compile for): two conditions with the same hold for the same rows."""
    compiled = clause.compile(dialect=db.engine.dialect)
    return compiled.string, repr(sorted(compiled.params.items()))


def in_state_tagged(tag: str):
    """Agreements whose current state carries `tag` in the definition they run on."""

    def rule(definition: WorkflowDefinition):
        names = definition.states_tagged(tag)
        return Agreement.state.in_(names) if names else None

    return _built(("tagged", tag), lambda: per_definition(rule))


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def over_state_sla(since, today: date, times: int = 1):
    """True when `since` lies further back than the SLA of the agreement's current state (`times` that
    SLA), counted in whole UTC days as the inbox shows them (presenter.days_since). Kept per `since`
    object: pass the same column or expression each time (not a new one per request)."""

    def rule(definition: WorkflowDefinition):
        by_sla: dict[int, list[str]] = {}
        for name, state in definition.states.items():
            if state.sla_days is not None and state.kind != "final":
                by_sla.setdefault(state.sla_days, []).append(name)
        if not by_sla:
            return None
        return or_(
            *(
                and_(Agreement.state.in_(names), since < utc_midnight(today - timedelta(days=sla * times)))
                for sla, names in by_sla.items()
            )
        )

    return _built(("over state sla", id(since), today, times), lambda: per_definition(rule), keep=since)


def _approved_in_step(step_name: str):
    return (
        select(func.count())
        .select_from(ApprovalDecision)
        .where(
            ApprovalDecision.round_id == ApprovalRound.id,
            ApprovalDecision.step == step_name,
            ApprovalDecision.decision == "approve",
        )
        .scalar_subquery()
    )


def _step_started(steps, index: int):
    """The round reached step `index`: the step before it that applies to the agreement has an approval
    (the first always has). A step whose `when:` does not hold is passed over, as engine.applicable_steps
    passes over it; conditions.clause is the same rule in SQL."""
    if index == 0:
        return None
    previous = steps[index - 1]
    approved = _step_done(previous)
    if previous.when is None:
        return approved
    earlier = _step_started(steps, index - 1)
    return or_(
        and_(conditions.clause(previous.when), approved),
        and_(~conditions.clause(previous.when), true() if earlier is None else earlier),
    )


def _step_done(step):
    """As engine.step_status counts it: enough approvals for the quorum, and every required
    approver (role or named person) among them."""
    from app.auth.models import User

    parts = [_approved_in_step(step.name) >= step.quorum]
    for role in step.required_roles:
        parts.append(
            exists().where(
                ApprovalDecision.round_id == ApprovalRound.id,
                ApprovalDecision.step == step.name,
                ApprovalDecision.decision == "approve",
                ApprovalDecision.counted_user_id == User.id,
                holders_of_roles_clause([role]),
            )
        )
    for email in step.required_users:
        parts.append(
            exists().where(
                ApprovalDecision.round_id == ApprovalRound.id,
                ApprovalDecision.step == step.name,
                ApprovalDecision.decision == "approve",
                ApprovalDecision.counted_user_id == User.id,
                func.lower(User.email) == email,
            )
        )
    return and_(*parts)


def _step_applies(step):
    """SQL for "this step applies to the agreement" (None: it always does)."""
    return None if step.when is None else conditions.clause(step.when)


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
        return (
            exists()
            .where(
                ApprovalDecision.round_id == ApprovalRound.id,
                ApprovalDecision.step == step.name,
                ApprovalDecision.decision == "approve",
                ApprovalDecision.counted_user_id == approver.id,
                condition,
            )
            .correlate_except(ApprovalDecision, approver)
        )

    missing = [
        (holds_role(identity, (role,)), ~covered(holders_of_roles_clause((role,), approver)))
        for role in step.required_roles
    ]
    missing += [(email == identity.email, ~covered(approver.email == email)) for email in step.required_users]
    fills = [clause for is_identity, clause in missing if is_identity]
    parts = [_approved_in_step(step.name) >= step.quorum - 1, or_(*(clause for _is, clause in missing))]
    if fills:
        parts.append(~or_(*fills))
    return and_(*parts)


def _field_given(name: str):
    """SQL for a field the engine finds given (engine.blocking_reasons: a truthy value)."""
    from sqlalchemy import String

    column = getattr(Agreement, name)
    if isinstance(column.type, String):
        return and_(column.is_not(None), column != "")
    return column.is_not(None)


def _document_given(kind: str):
    from app.workflow.models import AgreementDocument

    return exists().where(AgreementDocument.agreement_id == Agreement.id, AgreementDocument.kind == kind)


def needs_met(definition: WorkflowDefinition, transition):
    """SQL that holds when nothing is missing for `transition` (engine.blocking_reasons finds no reason,
    fields and documents read from the agreement as for an approval): each of definition.needs, a named
    guard by its SQL side (rules.GUARD_CLAUSES). None when the move needs nothing."""
    parts = []
    for what, need in definition.needs(transition):
        if what == "guard" and isinstance(need, str):
            parts.append(rules.GUARD_CLAUSES[need]())
        elif what == "field" or (what == "guard" and "field" in need):
            parts.append(_field_given(need if what == "field" else need["field"]))
        else:
            parts.append(_document_given(need if what == "document" else need["document"]))
    return and_(*parts) if parts else None


def _approval_steps(definition: WorkflowDefinition):
    """(transition, its steps, index, step) for every step of every approval in `definition`."""
    for transition in definition.transitions:
        if transition.approval is not None:
            for index, step in enumerate(transition.approval.steps):
                yield transition, transition.approval.steps, index, step


def _open_rounds_where(rule):
    """Open rounds of the agreement's current state for which `rule(definition)` holds."""
    return and_(ApprovalRound.status == "open", ApprovalRound.from_state == Agreement.state, per_definition(rule))


def approvals_waiting_on(user, people: list) -> ColumnElement[bool]:
    """Open rounds of the agreement's current state where `user`, or someone who delegated to
    them (`people`: the user first), holds a slot of a step that has started, has not approved
    it yet, is not kept out by the four-eyes rule, and, in a sequential step, whose turn came.

    Nor, as the engine keeps it (_place_kept_for_required), when the step's last place is kept for a
    required approver they are not; nor while the move is blocked (a guard, or what the target state
    requires, is missing: needs_met), as the engine then offers no approval.
    """

    def rule(definition: WorkflowDefinition):
        clauses = []
        for transition, steps, index, step in _approval_steps(definition):
            met = needs_met(definition, transition)
            for identity in people:
                slot = engine.slot_of(step, identity)
                if slot is None:
                    continue
                parts = [
                    ApprovalRound.transition == transition.name,
                    ~exists().where(
                        ApprovalDecision.round_id == ApprovalRound.id,
                        ApprovalDecision.step == step.name,
                        ApprovalDecision.counted_user_id == identity.id,
                    ),
                ]
                for extra in (_step_started(steps, index), _step_applies(step)):
                    if extra is not None:
                        parts.append(extra)
                if step.exclude_requester:
                    parts.append(
                        or_(
                            ApprovalRound.requested_by_id.is_(None),
                            ApprovalRound.requested_by_id.not_in({user.id, identity.id}),
                        )
                    )
                if step.mode == "sequential" and slot > 0:
                    parts.append(_approved_in_step(step.name) >= slot)
                kept = _place_kept_for_required(step, identity)
                if kept is not None:
                    parts.append(~kept)
                if met is not None:
                    parts.append(met)
                clauses.append(and_(*parts))
        return or_(*clauses) if clauses else None

    if not may_decide_approvals(user):
        return false()
    key = ("approvals waiting on", _identity(user), tuple(_identity(person) for person in people))
    return _built(key, lambda: _open_rounds_where(rule))


def forward_move_states(definition: WorkflowDefinition, user) -> set[str]:
    """Working states (with an SLA, or tagged waits_on_owner) from which the owner `user` has a move
    forward to a later, unfinished state: their agreement waits on them there. Negotiating states
    have their own turns."""
    order = list(definition.states)
    found = set()
    for name, state in definition.states.items():
        if (
            state.kind == "final"
            or state.has("negotiating")
            or (state.sla_days is None and not state.has("waits_on_owner"))
        ):
            continue
        for transition in definition.transitions_from(name):
            if transition.approval is not None or not transition.roles:
                continue
            target = definition.states[transition.target]
            if target.kind == "final" or order.index(transition.target) <= order.index(name):
                continue
            if may_move_own_agreements(user, transition.roles):
                found.add(name)
                break
    return found


def moves_waiting_on_owner(user) -> ColumnElement[bool]:
    """Agreements in a state from which their owner, were it `user`, has a move forward
    (forward_move_states): what their role lets them move, so kept per role."""

    def rule(definition: WorkflowDefinition):
        states = forward_move_states(definition, user)
        return Agreement.state.in_(sorted(states)) if states else None

    return _built(("moves waiting on owner", user.role), lambda: per_definition(rule))


def _current_step_where(test):
    """Open rounds whose current step has an SLA and satisfies `test(definition, step, sla, started)`, where
    `started` is SQL for the moment the step began: the round's request (the first step) or the last
    approval of the steps before it; the current step is the furthest one started that applies (as
    engine.step_waiting finds it, and engine.step_sla gives its SLA)."""

    def rule(definition: WorkflowDefinition):
        clauses = []
        for transition, steps, index, step in _approval_steps(definition):
            for source in transition.sources:
                sla = engine.step_sla(definition, source, step)
                if sla is None:
                    continue
                parts = [
                    ApprovalRound.transition == transition.name,
                    ApprovalRound.from_state == source,
                    test(definition, step, sla, _step_began_at(steps, index)),
                ]
                if index > 0:
                    parts.append(_step_started(steps, index))
                if step.when is not None:
                    parts.append(_step_applies(step))
                if index + 1 < len(steps):
                    parts.append(~_step_started(steps, index + 1))
                clauses.append(and_(*parts))
        return or_(*clauses) if clauses else None

    return _open_rounds_where(rule)


def _step_began_at(steps, index: int):
    if index == 0:
        return ApprovalRound.requested_at
    return (
        select(func.max(ApprovalDecision.decided_at))
        .where(
            ApprovalDecision.round_id == ApprovalRound.id, ApprovalDecision.step.in_([s.name for s in steps[:index]])
        )
        .scalar_subquery()
    )


def late_round_clause(today: date, local_midnight: Callable[[date], datetime], also=None):
    """Open rounds whose current step has waited longer than its SLA. `local_midnight(day)` is the start
    of that day where days are counted (in the ministry's zone: clock.start_of). `also(definition, step,
    sla, waited_past)`, when given, adds a condition on each such round: `waited_past(days)` holds when
    the step has waited more than `days` days (built anew each time: `also` is the caller's)."""

    def test(definition: WorkflowDefinition, step, sla: int, started):
        def waited_past(days: int):
            return started < local_midnight(today - timedelta(days=days))

        late = waited_past(sla)
        return late if also is None else and_(late, also(definition, step, sla, waited_past))

    if also is not None:
        return _current_step_where(test)
    key = ("late rounds", today, id(local_midnight), clock.ministry_zone())
    return _built(key, lambda: _current_step_where(test), keep=local_midnight)


def rounds_due_between(first: date, last: date, local_midnight: Callable[[date], datetime]):
    """Open rounds whose current step falls due between `first` and `last` (both included): the day its
    step began, counted where `local_midnight` counts days, plus its SLA — engine.step_waiting's deadline,
    so the calendar reads only the rounds due in its month. A round is late the day after it falls due."""

    def test(_definition: WorkflowDefinition, _step, sla: int, started):
        return and_(
            started >= local_midnight(first - timedelta(days=sla)),
            started < local_midnight(last + timedelta(days=1 - sla)),
        )

    key = ("rounds due between", first, last, id(local_midnight), clock.ministry_zone())
    return _built(key, lambda: _current_step_where(test), keep=local_midnight)


def partner_turn_clause(organization_id, negotiation_round):
    """A partner organisation's turn on `negotiation_round` (the latest version of the text): it has not
    accepted that version yet. The sender's own acceptance is recorded with the version, so a party
    never waits on itself; every other party (the ministry, each partner) answers. The SQL twin of
    services.waiting_parties, for the inbox and the partner portal."""
    from app.workflow.models import NegotiationAcceptance

    return and_(
        negotiation_round.id.is_not(None),
        ~select(NegotiationAcceptance.id)
        .where(
            NegotiationAcceptance.round_id == negotiation_round.id,
            NegotiationAcceptance.organization_id == organization_id,
        )
        .exists(),
    )


def ministry_turn_clause(negotiation_round):
    """The ministry's turn: no version yet (it writes the first), or it has not accepted the latest."""
    return or_(negotiation_round.id.is_(None), negotiation_round.ministry_accepted_at.is_(None))


def drafts_waiting_on_partner(user) -> list[tuple[Agreement, object]]:
    """(agreement, its latest version of the text) for each negotiation the reader's organisation must
    answer now (the partner portal): the same rule as the inbox's."""
    from app.core.permissions import visible_agreements_clause
    from app.workflow.models import NegotiationRound

    latest = (
        select(NegotiationRound.agreement_id, func.max(NegotiationRound.number).label("number"))
        .group_by(NegotiationRound.agreement_id)
        .subquery()
    )
    return list(
        db.session.execute(
            select(Agreement, NegotiationRound)
            .join(latest, latest.c.agreement_id == Agreement.id)
            .join(
                NegotiationRound,
                and_(NegotiationRound.agreement_id == Agreement.id, NegotiationRound.number == latest.c.number),
            )
            .where(
                visible_agreements_clause(user),
                in_state_tagged("negotiating"),
                Agreement.agreed_round_id.is_(None),
                partner_turn_clause(user.organization_id, NegotiationRound),
            )
            .order_by(NegotiationRound.sent_at)
        )
    )
