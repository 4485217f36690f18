"""Approval rounds in SQL: which wait on a person, which are late, which fall due in a period: the
engine's step rules (engine.step_status, step_waiting, blocking_reasons) as conditions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true

from app.agreements.models import Agreement
from app.core import clock
from app.core.permissions import holders_of_roles_clause, holds_role, may_decide_approvals, partner_accounts_clause
from app.workflow import conditions, engine, rules
from app.workflow.definitions import WorkflowDefinition
from app.workflow.models import ApprovalDecision, ApprovalRound
from app.workflow.queries.built import _built, _identity, in_ended_state, per_definition


def _approved_in_step(step_name: str):
    """The round's approvals of `step_name`, correlated to the round however deep the statement asks (inside
    someone_may_decide, two levels down, the rounds' table had been read again and every round's counted)."""
    return (
        select(func.count())
        .select_from(ApprovalDecision)
        .where(
            ApprovalDecision.round_id == ApprovalRound.id,
            ApprovalDecision.step == step_name,
            ApprovalDecision.decision == "approve",
        )
        .correlate_except(ApprovalDecision)
        .scalar_subquery()
    )


def step_approved_by(step_name: str, approver, *conditions):
    """EXISTS an approval of the round's step `step_name` counted for `approver` (User or an alias of it)
    meeting `conditions`; correlation is the caller's."""
    return exists().where(
        ApprovalDecision.round_id == ApprovalRound.id,
        ApprovalDecision.step == step_name,
        ApprovalDecision.decision == "approve",
        ApprovalDecision.counted_user_id == approver.id,
        *conditions,
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

    def approved_by(condition):
        return step_approved_by(step.name, User, condition).correlate_except(ApprovalDecision, User)

    parts = [_approved_in_step(step.name) >= step.quorum]
    parts += [approved_by(holders_of_roles_clause([role])) for role in step.required_roles]
    parts += [approved_by(func.lower(User.email) == email) for email in step.required_users]
    return and_(*parts)


def _step_applies(step):
    """SQL for "this step applies to the agreement" (None: it always does)."""
    return None if step.when is None else conditions.clause(step.when)


def _required_not_yet_approved(step) -> list[tuple[str, str, ColumnElement[bool]]]:
    """(kind "role" or "user", the role or address, SQL holding while none of the step's approvals in the
    round counts for it) for each required approver of `step` (engine.step_status's missing ones)."""
    from sqlalchemy.orm import aliased

    from app.auth.models import User

    approver = aliased(User)

    def covered(condition):
        return step_approved_by(step.name, approver, condition).correlate_except(ApprovalDecision, approver)

    missing = [("role", role, ~covered(holders_of_roles_clause((role,), approver))) for role in step.required_roles]
    missing += [("user", email, ~covered(approver.email == email)) for email in step.required_users]
    return missing


def _place_kept_for_required(step, identity):
    """The step's remaining place is kept for a required approver `identity` is not (engine._eligibility:
    the approvals reach quorum - 1 while a required role or person has not approved), or None when the
    step requires nobody in particular."""
    if not (step.required_roles or step.required_users):
        return None
    missing = _required_not_yet_approved(step)
    fills = [
        clause
        for kind, value, clause in missing
        if (holds_role(identity, (value,)) if kind == "role" else value == identity.email)
    ]
    parts = [_approved_in_step(step.name) >= step.quorum - 1, or_(*(clause for _k, _v, clause in missing))]
    if fills:
        parts.append(~or_(*fills))
    return and_(*parts)


def _holds_slot(slot: str, account) -> ColumnElement[bool]:
    """SQL on the User alias `account`: it holds the step's `slot` ("role:legal", "user:<address>"), as
    engine.slot_of finds."""
    kind, value = slot.split(":", 1)
    return holders_of_roles_clause((value,), account) if kind == "role" else func.lower(account.email) == value


def someone_may_decide(step) -> ColumnElement[bool]:
    """SQL that holds for a round (ApprovalRound) waiting at `step` when an active ministry account may decide it
    now, for themselves: engine._eligibility asked of every account holding a place in the step, as the
    approvals panel asks (reminders.waiting_approval: "nobody can give this approval" when none may). Not the
    requester when the step keeps them out; nobody who decided another step of the round or approved this one;
    in a sequential step, only someone whose places before theirs are filled; and when the last place is kept
    for a required approver, only one of them."""
    from sqlalchemy.orm import aliased

    from app.auth.models import User

    person, earlier = aliased(User), aliased(User)
    parts = [
        person.is_active_account.is_(True),
        ~partner_accounts_clause(person),
        or_(*(_holds_slot(slot, person) for slot in step.slots)),
        # Correlated to the round at hand two levels up, which auto-correlation (the enclosing statement's own
        # tables only) does not reach: the rounds' table had been read again here, so a decision in any round
        # counted, and whoever had approved one agreement could decide no other.
        ~exists()
        .where(
            ApprovalDecision.round_id == ApprovalRound.id,
            or_(ApprovalDecision.approver_id == person.id, ApprovalDecision.counted_user_id == person.id),
            or_(ApprovalDecision.step != step.name, ApprovalDecision.decision == "approve"),
        )
        .correlate_except(ApprovalDecision),
    ]
    if step.exclude_requester:
        parts.append(or_(ApprovalRound.requested_by_id.is_(None), ApprovalRound.requested_by_id != person.id))
    if step.mode == "sequential":

        def first_place(index: int, account):
            """`account`'s first place in the step is `index` (engine.slot_of)."""
            return and_(
                _holds_slot(step.slots[index], account),
                *(~_holds_slot(slot, account) for slot in step.slots[:index]),
            )

        def filled(index: int):
            return step_approved_by(step.name, earlier, first_place(index, earlier)).correlate_except(
                ApprovalDecision, earlier
            )

        parts.append(
            or_(*(and_(first_place(index, person), *map(filled, range(index))) for index in range(len(step.slots))))
        )
    if step.required_roles or step.required_users:
        missing = _required_not_yet_approved(step)
        kept = and_(_approved_in_step(step.name) >= step.quorum - 1, or_(*(clause for _k, _v, clause in missing)))
        fills = [
            and_(
                holders_of_roles_clause((value,), person) if kind == "role" else func.lower(person.email) == value,
                clause,
            )
            for kind, value, clause in missing
        ]
        parts.append(or_(~kept, *fills))
    return exists().where(*parts)


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
    guard by its SQL side (rules.GUARD_CLAUSES); and, for a move that does not end the agreement, a
    parent that has not ended (engine._under_ended_parent). None when the move needs nothing."""
    parts = []
    target = definition.states.get(transition.target)
    if target is None or target.kind != "final":
        parts.append(_parent_not_ended())
    for what, need in definition.needs(transition):
        if what == "guard" and isinstance(need, str):
            parts.append(rules.GUARD_CLAUSES[need]())
        elif what == "field" or (what == "guard" and "field" in need):
            parts.append(_field_given(need if what == "field" else need["field"]))
        else:
            parts.append(_document_given(need if what == "document" else need["document"]))
    return and_(*parts) if parts else None


def _parent_not_ended():
    """The agreement has no parent, or one that has not ended (in_ended_state, read in the subquery's own
    FROM: uncorrelated, the database finds the ended agreements once per statement)."""
    ended = select(Agreement.id).where(in_ended_state()).correlate(None)
    return or_(Agreement.parent_id.is_(None), Agreement.parent_id.not_in(ended))


def _approval_steps(definition: WorkflowDefinition):
    """(transition, its steps, index, step) for every step of every approval in `definition`."""
    for transition in definition.transitions:
        if transition.approval is not None:
            for index, step in enumerate(transition.approval.steps):
                yield transition, transition.approval.steps, index, step


def _open_rounds_where(rule):
    """Open rounds of the agreement's current state for which `rule(definition)` holds.

    The rule is an OR over definitions, each arm naming the agreement and the round. PostgreSQL copies
    the rounds' part of such an OR onto its scan of the rounds (a weaker filter to apply early): every
    definition's subqueries then ran twice per round, the copy hashing some over every decision ever
    made (3x the time of the manager's inbox at 10,000 agreements). An arm that names no round and
    never holds for a joined agreement (its id is never null) leaves nothing to copy. The agreements' part
    was copied onto their scan likewise: every agreement's budget summed and tested (10,000 at 10,000
    agreements) before the join found the few hundred with an open round, and then hashed; the arm that
    names only the round and never holds (a round's id is never null) leaves nothing there either."""
    return and_(
        ApprovalRound.status == "open",
        ApprovalRound.from_state == Agreement.state,
        or_(Agreement.id.is_(None), ApprovalRound.id.is_(None), per_definition(rule)),
    )


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
                    # Not counted in this round yet, nor acting in it: one person approves one step
                    # (engine._eligibility).
                    ~exists().where(
                        ApprovalDecision.round_id == ApprovalRound.id,
                        or_(ApprovalDecision.counted_user_id == identity.id, ApprovalDecision.approver_id == user.id),
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


def rounds_waiting_on_nobody(stranded: frozenset[tuple[int, str, str]]):
    """Open rounds whose current step (the first that applies and is not complete, as engine.step_waiting
    finds it) is one of `stranded` (workflow.checks.steps_left_to_nobody: the id of its definition, its
    transition's name and its own) and no active account may decide now (someone_may_decide: the approvals
    panel's rule), on the dashboards. Kept (`_built`) for those steps and the definitions in use, as the other
    conditions are: the accounts are asked in SQL, and building it again for each of the dashboard's lists
    was most of the managers' dashboard's time (about 200 ms a page at any size)."""

    def rule(definition: WorkflowDefinition):
        clauses = []
        for transition, steps, index, step in _approval_steps(definition):
            if (id(definition), transition.name, step.name) not in stranded:
                continue
            parts = [ApprovalRound.transition == transition.name, ~_step_done(step), ~someone_may_decide(step)]
            for extra in (_step_started(steps, index), _step_applies(step)):
                if extra is not None:
                    parts.append(extra)
            clauses.append(and_(*parts))
        return or_(*clauses) if clauses else None

    return _built(("waiting on nobody", tuple(sorted(stranded))), lambda: _open_rounds_where(rule))


def _current_step_where(test):
    """Open rounds whose current step has an SLA and satisfies `test(definition, step, sla, began)`, where
    `began` (a _StepBegan) compares the moment the step began with others; the current step is the
    furthest one started that applies (as engine.step_waiting finds it, and engine.step_sla gives its SLA)."""

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
                    test(definition, step, sla, _StepBegan(steps, index)),
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


@dataclass(frozen=True)
class _StepBegan:
    """The moment the round's step `index` began, in SQL: the round's request (the first step) or the last
    approval of the steps before it."""

    steps: list
    index: int

    def _approvals_before(self):
        return (
            ApprovalDecision.round_id == ApprovalRound.id,
            ApprovalDecision.step.in_([s.name for s in self.steps[: self.index]]),
        )

    def before(self, moment):
        if self.index == 0:
            return ApprovalRound.requested_at < moment
        return select(func.max(ApprovalDecision.decided_at)).where(*self._approvals_before()).scalar_subquery() < moment

    def between(self, first, end):
        """On or after `first` and before `end`. The last approval is read once: named in both bounds, its
        subquery ran twice for each open round of each definition (a quarter of the calendar's statement
        of approval deadlines at 10,000 agreements on PostgreSQL). A round with no approval yet has no
        group, so it is not picked, as comparing its missing moment picked nothing; GROUP BY, as SQLite
        before 3.39 refuses HAVING without it."""
        if self.index == 0:
            return and_(ApprovalRound.requested_at >= first, ApprovalRound.requested_at < end)
        last = func.max(ApprovalDecision.decided_at)
        return exists(
            select(ApprovalDecision.round_id)
            .where(*self._approvals_before())
            .group_by(ApprovalDecision.round_id)
            .having(and_(last >= first, last < end))
        )


def late_round_clause(today: date, local_midnight: Callable[[date], datetime], also=None):
    """Open rounds whose current step has waited longer than its SLA. `local_midnight(day)` is the start
    of that day where days are counted (in the ministry's zone: clock.start_of). `also(definition, step,
    sla, waited_past)`, when given, adds a condition on each such round: `waited_past(days)` holds when
    the step has waited more than `days` days (built anew each time: `also` is the caller's)."""

    def test(definition: WorkflowDefinition, step, sla: int, began: _StepBegan):
        def waited_past(days: int):
            return began.before(local_midnight(today - timedelta(days=days)))

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

    def test(_definition: WorkflowDefinition, _step, sla: int, began: _StepBegan):
        return began.between(
            local_midnight(first - timedelta(days=sla)), local_midnight(last + timedelta(days=1 - sla))
        )

    key = ("rounds due between", first, last, id(local_midnight), clock.ministry_zone())
    return _built(key, lambda: _current_step_where(test), keep=local_midnight)


def picked_rounds(*where):
    """The ids of the rounds meeting `where` (conditions on ApprovalRound and its Agreement, joined), as a
    CTE to join the rounds and agreements to load onto. The rules above put conditions on the agreement
    for each definition in use; selecting whole agreements beside them, PostgreSQL hashed every agreement
    row (1.3 KB each, spilling at 10,000) instead of looking up the few hundred open rounds' own: picked
    narrow first (MATERIALIZED: not folded back into the loading join), the loading is by key."""
    return (
        select(ApprovalRound.id.label("id"))
        .join(Agreement, Agreement.id == ApprovalRound.agreement_id)
        .where(*where)
        .cte("picked_rounds")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
