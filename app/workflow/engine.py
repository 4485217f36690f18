"""The one engine that moves agreements through their workflow definitions.

For a user and an agreement it computes the moves they may make now and why
others are blocked; it applies a move atomically (guards, approvals, state,
audit row, signal) under the agreement's optimistic lock, so two people
clicking at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from blinker import Namespace
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.auth.models import User
from app.core import audit, clock
from app.core.dates import within_calendar
from app.core.db import check_version, flush_or_conflict, take_turns_on
from app.core.errors import DomainError, PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.i18n import list_of
from app.core.models import utcnow
from app.core.permissions import holds_role, may_decide_approvals, plays_workflow_role
from app.core.templating import written_date
from app.core.text import one_line, trimmed
from app.extensions import db
from app.workflow import rules
from app.workflow.definitions import ApprovalStep, Transition, WorkflowDefinition
from app.workflow.models import ApprovalDecision, ApprovalRound, Delegation
from app.workflow.states import (  # noqa: F401 (callers ask engine.definition_for, engine.state_has...)
    current_definitions,
    definition_for,
    definitions_running,
    ensure_version,
    forget_definitions_in_use,
    has_ended,
    is_final,
    is_initial,
    label,
    pin_definition,
    state_has,
    state_label,
    state_labels,
    state_of,
    version_definition,
    version_definitions,
)

signals = Namespace()
# Sent inside the transaction after every state change: receivers may add rows
# (notifications, outbox mail) that commit or roll back with the move itself.
agreement_moved = signals.signal("agreement-moved")
approval_recorded = signals.signal("approval-recorded")
version_sent = signals.signal("version-sent")  # a new version of the text in negotiation (services.send_version)
# A party accepted a version of the text (services._accept: by the page, implied by sending one, or recorded).
version_accepted = signals.signal("version-accepted")


class WorkflowError(DomainError):
    """The move is not possible now (the agreement is no longer where the user saw it)."""

    status_code = 409


def refuse_if_ended(agreement) -> None:
    """Nothing more is planned or handed in under an agreement that has ended (expired, terminated, closed,
    cancelled). What waits for review or a waiver can still be settled."""
    refusal = ended_refusal(agreement)
    if refusal is not None:
        raise refusal


def ended_refusal(agreement) -> WorkflowError | None:
    """refuse_if_ended's refusal, or None: for a page that offers its buttons only when it would not refuse."""
    if not has_ended(agreement):
        return None
    return WorkflowError(
        _(
            "This agreement has ended (%(state)s): nothing more is planned or handed in under it.",
            state=state_label(agreement),
        )
    )


class TransitionBlocked(ValidationFailed):
    """The move exists, but something it needs is missing."""


# --- what a user may do -------------------------------------------------------------


@dataclass
class ActionOption:
    transition: Transition
    is_allowed: bool
    reasons: list[str] = field(default_factory=list)
    # For approval transitions: the step the user would approve, of which open round, and for whom.
    approval_step: ApprovalStep | None = None
    acting_for: User | None = None
    approval_round: ApprovalRound | None = None
    # Whether the user holds a place in the step's decision (themselves or for a delegator), whatever
    # blocks the move itself: one who may decide may send back an agreement that cannot go forward.
    may_decide: bool = False
    # Details of the agreement the move waits for that its own form does not ask (a title in French):
    # the page offers the edit form beside the reasons.
    missing_fields: list[str] = field(default_factory=list)
    # The user's own approval in the open round (of this step or an earlier one): nothing is left for them to
    # decide in it, so its reason is a status (when, and what it waits for), not a move blocked for now.
    own_decision: ApprovalDecision | None = None

    @property
    def name(self) -> str:
        return self.transition.name

    @property
    def is_approval(self) -> bool:
        return self.transition.approval is not None

    @property
    def needs_comment(self) -> bool:
        return self.transition.comment == "required"


def actions_for(agreement, user, today: date | None = None) -> list[ActionOption]:
    """Every move from the agreement's state, with whether `user` may take it now and why not."""
    today = today or clock.today()
    definition = definition_for(agreement)
    options = []
    for transition in definition.transitions_from(agreement.state):
        if transition.approval is not None:
            if _could_ever_approve(transition, user, today, agreement):
                options.append(_approval_option(agreement, transition, user, today))
            continue
        if not transition.roles:
            continue  # automatic only: nobody clicks it
        reasons = []
        if not _has_role(user, transition.roles, agreement):
            continue  # not theirs: do not show it at all
        reasons.extend(blocking_reasons(agreement, transition, definition, check_fields=False))
        options.append(
            ActionOption(
                transition,
                is_allowed=not reasons,
                reasons=reasons,
                missing_fields=missing_fields(agreement, transition, definition),
            )
        )
    return options


def _has_role(user, roles, agreement) -> bool:
    return plays_workflow_role(user, roles, agreement)


def blocking_reasons(
    agreement, transition: Transition, definition: WorkflowDefinition, check_fields: bool = True
) -> list[str]:
    """What is missing for `transition` (its guards and what its target state requires), and whether an
    ended parent keeps it from moving on (_under_ended_parent)."""
    reasons = _under_ended_parent(agreement, transition, definition)
    fields_given_by_form = set(transition.fields) if not check_fields else set()
    documents_given_by_form = set(transition.documents) if not check_fields else set()
    present = {d.kind for d in agreement.documents}
    # Documents a move asks for (a termination notice) are required by that move (definition.needs).
    for what, need in definition.needs(transition):
        if what == "guard":
            reason = _check_guard(agreement, need)
            if reason:
                reasons.append(reason)
        elif what == "field":
            if need not in fields_given_by_form and not is_given(agreement, need):
                reasons.append(_("Missing: %(field)s.", field=field_label(need)))
        elif need not in present and need not in documents_given_by_form:
            reasons.append(_("Missing document: %(kind)s.", kind=document_label(need)))
    return reasons


def _under_ended_parent(agreement, transition: Transition, definition: WorkflowDefinition) -> list[str]:
    """A child or an amendment whose parent has ended only ends too (cancelled, closed): approved, signed
    or brought into force, it had stood in force under a terminated protocol, or amended nothing."""
    parent = agreement.parent if agreement.parent_id else None
    target = definition.states.get(transition.target)
    if parent is None or (target is not None and target.kind == "final") or not has_ended(parent):
        return []
    return [
        _(
            "Its parent agreement %(ref)s has ended (%(state)s): it can only be cancelled or closed.",
            ref=parent.reference,
            state=state_label(parent),
        )
    ]


def is_given(agreement, name: str) -> bool:
    """Whether a field a guard or a state asks for is filled in: any value but empty (the SQL twin is
    app/workflow/queries/approvals.py's, for the lists)."""
    return bool(getattr(agreement, name, None))


def missing_fields(agreement, transition: Transition, definition: WorkflowDefinition) -> list[str]:
    """The agreement's fields `transition` needs (by a guard or its target state) that are empty and that
    its own form does not ask for."""
    return [name for name in fields_needed(transition, definition) if not is_given(agreement, name)]


def fields_needed(transition: Transition, definition: WorkflowDefinition) -> list[str]:
    """The agreement's fields `transition` needs (by a guard or its target state) that its own form does
    not ask for: they are filled on the agreement's form."""
    named = [
        need["field"] if what == "guard" else need
        for what, need in definition.needs(transition)
        if what == "field" or (what == "guard" and isinstance(need, dict) and "field" in need)
    ]
    return [name for name in dict.fromkeys(named) if name not in transition.fields]


def draft_needs() -> list[tuple[list[str], str, list[str]]]:
    """What the new-agreement form warns of: (the types, or [] for every type, a move out of the draft,
    the labels of the fields that move needs but the form does not require), for the moves that need
    any (an MoU goes to review with its French title: an officer writing in Arabic learns it before
    saving, not after)."""
    from app.agreements.models import AGREEMENT_TYPES

    creatable = [type_ for type_ in AGREEMENT_TYPES if type_ != "amendment"]  # amendments: their own page
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for type_ in creatable:
        definition = current_definitions()[type_]
        for transition in definition.transitions_from(definition.initial_state):
            needed = tuple(field_label(name) for name in fields_needed(transition, definition))
            if needed and transition.approval is None:
                grouped.setdefault((label(transition.label), needed), []).append(str(AGREEMENT_TYPES[type_]))
    return [
        ([] if len(types) == len(creatable) else types, move, list(fields)) for (move, fields), types in grouped.items()
    ]


def _check_guard(agreement, guard) -> str | None:
    if isinstance(guard, str):
        return rules.GUARDS[guard](agreement)
    if "field" in guard:
        if not is_given(agreement, guard["field"]):
            return _("Missing: %(field)s.", field=field_label(guard["field"]))
        return None
    if not any(d.kind == guard["document"] for d in agreement.documents):
        return _("Missing document: %(kind)s.", kind=document_label(guard["document"]))
    return None


def field_label(name: str) -> str:
    from app.workflow.labels import FIELD_LABELS

    return str(FIELD_LABELS.get(name, name))


def document_label(kind: str) -> str:
    from app.workflow.labels import DOCUMENT_LABELS

    return str(DOCUMENT_LABELS.get(kind, kind))


# --- approvals ------------------------------------------------------------------------


def open_round(agreement, transition_name: str) -> ApprovalRound | None:
    return next(
        (
            r
            for r in agreement.approval_rounds
            if r.status == "open" and r.transition == transition_name and r.from_state == agreement.state
        ),
        None,
    )


def unknown_move(definition, name) -> ValidationFailed:
    """A move no workflow of this agreement's type defines: bad input (422, naming the moves there are),
    not a conflict with a change made meanwhile."""
    message = _(
        "There is no move “%(name)s” in this workflow. Its moves: %(moves)s.",
        name=one_line(str(name))[:60],
        moves=", ".join(t.name for t in definition.transitions),
    )
    return ValidationFailed(message, {"transition": [message]})


def approval_under_way(agreement) -> bool:
    """Whether an approval round is open on the agreement in its state: what its steps depend on (the
    budget, the parties: conditions.py) holds still until it is given or sent back. A budget lowered under
    a waiting "minister's office" step left a round no one could finish; one raised would skip it."""
    return any(r.status == "open" and r.from_state == agreement.state for r in agreement.approval_rounds)


def steps_not_asked(agreement) -> list[str]:
    """The approval steps that apply to the agreement as it is now but were not asked in the approval it
    went through: its budget raised past a step's threshold since, or a foreign partner added (the MoU's
    minister's office, skipped). Past that approval only: before it, the round to come asks them all.
    Each is named as the agreement's page names it: its approval's label, and its number when it has several."""
    if is_initial(agreement):
        return []
    missing = []
    for transition in definition_for(agreement).transitions:
        if transition.approval is None or agreement.state in transition.sources:
            continue
        approved = [r for r in agreement.approval_rounds if r.transition == transition.name and r.status == "approved"]
        if not approved:
            continue
        decided = {d.step for d in max(approved, key=lambda r: r.id).decisions}
        steps = list(applicable_steps(transition, agreement))
        missing += [
            step_label(transition, position, len(steps))
            for position, step in enumerate(steps, start=1)
            if step.name not in decided
        ]
    return missing


def step_label(transition: Transition, position: int, count: int) -> str:
    """An approval step as the agreement's page shows it: the approval's label ("Approve for negotiation"),
    then "Step 2" when `count` steps apply (a step's name in the YAML file is the workflow's, not the reader's)."""
    if count < 2:
        return label(transition.label)
    return f"{label(transition.label)} · {_('Step %(number)s', number=position)}"


def step_asked(transition: Transition | None, agreement, step_name: str) -> tuple[str | None, list[str]]:
    """A round's step as the approvals panel names it ("Approve for negotiation · Step 2" when several steps apply)
    and who it is for ("Finance controller"), for the pages about one step (approve by mail, reassign); the
    approval's name alone for a step no longer applying (the budget changed since), None without a move."""
    from app.workflow.labels import workflow_role_label

    if transition is None:
        return None, []
    steps = list(applicable_steps(transition, agreement))
    position = next((number for number, step in enumerate(steps, start=1) if step.name == step_name), None)
    if position is None:
        return label(transition.label), []
    holders = [said for role in steps[position - 1].roles if (said := workflow_role_label(role)) is not None]
    return step_label(transition, position, len(steps)), holders


def refuse_steps_not_asked(agreement) -> None:
    """After a change of the agreement's budget or parties (flushed): refused when it makes an approval
    step apply that its approval never asked. The way on is the workflow's: back to draft, reviewed again."""
    missing = steps_not_asked(agreement)
    if missing:
        raise ValidationFailed(
            _(
                "This change needs an approval that was not asked (%(steps)s): send the agreement back to draft "
                "and submit it for review again.",
                steps=list_of(missing),
            )
        )


def visible_rounds(agreement, user, rounds=None) -> list[ApprovalRound]:
    """The approval rounds of `agreement` (or those of `rounds`) that `user` may read."""
    from app.core.permissions import may_see_approval_round

    definition = definition_for(agreement)
    shown = []
    for round_ in agreement.approval_rounds if rounds is None else rounds:
        transition = definition.transition(round_.transition)
        if may_see_approval_round(user, agreement, transition.approval if transition else None):
            shown.append(round_)
    return shown


def step_status(step: ApprovalStep, round_: ApprovalRound) -> dict:
    """Who approved this step, and whether its quorum and required approvers are met."""
    approvals = [d for d in round_.decisions if d.step == step.name and d.decision == "approve"]
    people = {d.counted_user_id: d for d in approvals}
    emails_covered = {d.counted_user.email for d in people.values()}
    missing_roles = [
        r for r in step.required_roles if not any(holds_role(d.counted_user, (r,)) for d in people.values())
    ]
    missing_users = [u for u in step.required_users if u not in emails_covered]
    done = len(people) >= step.quorum and not missing_roles and not missing_users
    return {
        "approvals": list(people.values()),
        "count": len(people),
        "done": done,
        "missing_roles": missing_roles,
        "missing_users": missing_users,
    }


def still_asked_of(step: ApprovalStep, round_: ApprovalRound) -> list[str]:
    """The roles (and named approvers' addresses) the step still waits for: its required ones that have not
    approved, else every one it names. Whom to give a role when nobody may decide the step."""
    status = step_status(step, round_)
    return status["missing_roles"] + status["missing_users"] or [*step.roles, *step.users]


def applicable_steps(transition: Transition, agreement) -> Iterator[ApprovalStep]:
    """The steps of the transition's approval that apply to this agreement, in order: those without
    a `when:` condition and those whose condition holds (its budget, partners, type). Every page, the
    API, the reminders and the inbox queries (queries.py, in SQL) follow this answer. Lazily: a
    condition is looked at only when the walk reaches its step (a list of rounds at their first step
    reads no budget)."""
    from app.workflow import conditions

    approval = transition.approval
    if approval is None:
        return iter(())  # a move without an approval has no steps to decide
    if not any(step.when is not None for step in approval.steps):
        return iter(approval.steps)
    return conditions.applicable_steps(approval, conditions.facts_of(agreement))


def _agreement_of_round(round_: ApprovalRound):
    from app.agreements.models import Agreement

    return db.session.get(Agreement, round_.agreement_id)


def current_step(transition: Transition, round_: ApprovalRound, agreement=None) -> ApprovalStep | None:
    """Steps follow one another: the first that applies to the agreement and is not complete."""
    for step in applicable_steps(transition, agreement or _agreement_of_round(round_)):
        if not step_status(step, round_)["done"]:
            return step
    return None


def step_sla(definition: WorkflowDefinition, from_state: str, step: ApprovalStep) -> int | None:
    """The approval deadline rule, for every caller (inbox, reminders, dashboards, calendar, reports):
    days an approval step may take — its own sla_days, else those of the state it is decided in."""
    state = definition.states.get(from_state)
    return step.sla_days or (state.sla_days if state else None)


def step_waiting(round_: ApprovalRound, definition: WorkflowDefinition, agreement=None):
    """What an open round waits on: (its transition, the current step, since when the step waits
    — the request, or the last decision of the step before it — and its SLA in days: the step's
    own, else its state's, or None), or None when the round has no step left to decide."""
    transition = definition.transition(round_.transition)
    if transition is None or transition.approval is None:
        return None
    earlier, step = set(), None
    for candidate in applicable_steps(transition, agreement or _agreement_of_round(round_)):
        if not step_status(candidate, round_)["done"]:
            step = candidate
            break
        earlier.add(candidate.name)
    if step is None:
        return None
    sla = step_sla(definition, round_.from_state, step)
    decided = [d.decided_at for d in round_.decisions if d.step in earlier]
    return transition, step, max(decided) if decided else round_.requested_at, sla


def active_delegators(user, today: date) -> list:
    """People who handed their approvals to `user` for today (asked once per request)."""
    from flask import g, has_app_context

    key = ("sharaka_delegators", user.id, today)
    cache = g.setdefault("sharaka_delegators", {}) if has_app_context() else {}
    if key not in cache:
        rows = db.session.scalars(
            select(Delegation).where(
                Delegation.delegate_id == user.id,
                Delegation.revoked_at.is_(None),
                Delegation.starts_on <= today,
                Delegation.ends_on >= today,
            )
        )
        cache[key] = [row.delegator for row in rows if row.delegator.is_active]
    return cache[key]


def slot_of(step: ApprovalStep, person) -> int | None:
    for index, slot in enumerate(step.slots):
        kind, value = slot.split(":", 1)
        if (kind == "user" and person.email == value) or (kind == "role" and holds_role(person, (value,))):
            return index
    return None


def may_decide_step(step: ApprovalStep, round_: ApprovalRound, acting, identity) -> bool:
    """Whether `acting` may decide `step` of `round_` as `identity` (themselves, or a delegator): the rules
    a decision is checked by, asked before telling someone a decision waits on them."""
    return _eligibility(step, round_, acting, identity) is None


def _eligibility(step: ApprovalStep, round_: ApprovalRound, acting, identity) -> str | None:
    """None when `acting` may approve this step as `identity` (themselves or a delegator)."""
    slot = slot_of(step, identity)
    if slot is None:
        return _("You are not an approver of this step.")
    if step.exclude_requester and round_.requested_by_id in (acting.id, identity.id):
        return _("The person who asked for approval cannot approve it (four-eyes rule).")
    if any(
        d.step != step.name and (d.approver_id == acting.id or d.counted_user_id == identity.id)
        for d in round_.decisions
    ):
        # A later step asks someone else: the manager who approved as head of department is not also
        # the Minister's office that signs off after them.
        return _("You approved an earlier step of this approval: another person approves this one (four-eyes rule).")
    status = step_status(step, round_)
    if any(d.counted_user_id == identity.id for d in status["approvals"]):
        return _("%(name)s has already approved this step.", name=identity.full_name)
    if any(d.approver_id == acting.id for d in status["approvals"]):
        # A step that asks for two approvals asks for two people: one who also acts for a delegator
        # would fill both places alone.
        return _("You have already approved this step; another approver must give the next approval.")
    if step.mode == "sequential":
        filled = {slot_of(step, d.counted_user) for d in status["approvals"]}
        if any(index not in filled for index in range(slot)):
            return _("Waiting for the approvers before you in this step.")
    if len(status["approvals"]) >= step.quorum and not (status["missing_roles"] or status["missing_users"]):
        return _("This step is already complete.")
    if len(status["approvals"]) >= step.quorum - 1 and (status["missing_roles"] or status["missing_users"]):
        # The last place is kept for a required approver.
        if not holds_role(identity, status["missing_roles"]) and identity.email not in status["missing_users"]:
            return _("The remaining approval must come from a required approver.")
    return None


def _could_ever_approve(transition: Transition, user, today: date, agreement) -> bool:
    """Whether `user` (or someone who delegated to them) holds a slot in a step that applies to the
    agreement: others never see the button."""
    if user is None or not may_decide_approvals(user):
        return False
    people = [user, *active_delegators(user, today)]
    return any(
        slot_of(step, person) is not None for step in applicable_steps(transition, agreement) for person in people
    )


def _approval_option(agreement, transition: Transition, user, today: date) -> ActionOption:
    round_ = open_round(agreement, transition.name)
    step = current_step(transition, round_, agreement) if round_ else None
    if round_ is None or step is None:
        return ActionOption(transition, is_allowed=False, reasons=[_("No approval is open.")])
    reasons_seen = []
    for identity in [user, *active_delegators(user, today)]:
        reason = _eligibility(step, round_, user, identity)
        if reason is None:
            blocked = blocking_reasons(agreement, transition, definition_for(agreement))
            return ActionOption(
                transition,
                is_allowed=not blocked,
                reasons=blocked,
                approval_step=step,
                acting_for=None if identity is user else identity,
                approval_round=round_,
                may_decide=True,
            )
        reasons_seen.append((slot_of(step, identity) is not None, reason))
    own = _own_approval(round_, user)
    if own is not None:
        # Said to the approver as theirs: "Karim Exemple has already approved" had named the reader in the
        # third person under a greyed button, as if it might become possible.
        return ActionOption(
            transition,
            is_allowed=False,
            reasons=[_own_approval_status(own, step)],
            approval_step=step,
            approval_round=round_,
            own_decision=own,
        )
    # The reason that matters: that of someone whose place it is (a delegate who asked for the approval
    # learns of the four-eyes rule, not that they are no approver themselves).
    reason = next((said for holds_place, said in reasons_seen if holds_place), reasons_seen[0][1])
    return ActionOption(transition, is_allowed=False, reasons=[reason], approval_step=step, approval_round=round_)


def _own_approval(round_: ApprovalRound, user) -> ApprovalDecision | None:
    """The latest approval `user` gave in the round, for themselves or for someone they act for: once given,
    the four-eyes rules leave them nothing else to decide in it (_eligibility)."""
    given = [d for d in round_.decisions if d.approver_id == user.id and d.decision == "approve"]
    return max(given, key=lambda d: d.decided_at) if given else None


def _own_approval_status(own: ApprovalDecision, step: ApprovalStep) -> str:
    """What the approver's own approval `own` leaves waiting, in their words: the step now open is `step`."""
    day = written_date(clock.day_of(own.decided_at))
    if own.step != step.name:
        return _(
            "You already approved an earlier step on %(date)s; the approval now waits for this step's approvers.",
            date=day,
        )
    if own.is_delegated:
        return _(
            "You already approved this step for %(name)s on %(date)s; it now waits for another approver.",
            name=own.counted_user.full_name,
            date=day,
        )
    return _("You already approved this step on %(date)s; it now waits for the other approvers.", date=day)


def decide(
    agreement,
    transition_name: str,
    *,
    by,
    decision: str,
    comment: str | None,
    expected_version: int,
    today: date | None = None,
    step: str | None = None,
):
    """Record an approval or a rejection; complete or send back the agreement when it settles it.
    `step`: the step the decider was shown (the page's form, an API call that names it, an e-mail's link):
    when it has been decided since, nothing is recorded, rather than a decision on the step after it."""
    today = today or clock.today()
    # Deciders of one agreement take turns, each reading the round as the one before left it: two approvers
    # of a parallel step deciding in the same second had each been refused by the other's version bump
    # (409), nine times in ten on PostgreSQL. A decision no longer changes the agreement's version; the
    # move it may settle does (the page of one who has not seen the move is stale then).
    take_turns_on(f"agreement:{agreement.id}")
    db.session.flush()
    db.session.expire_all()
    check_version(agreement, expected_version)
    definition = definition_for(agreement)
    transition = definition.transition(transition_name)
    if transition is None:
        raise unknown_move(definition, transition_name)
    if transition.approval is None or agreement.state not in transition.sources:
        raise WorkflowError(_("This approval is no longer open: the agreement has moved on."))
    steps = list(applicable_steps(transition, agreement))
    if step is not None and step not in {s.name for s in steps}:
        message = _("This approval has no such step.")
        raise ValidationFailed(message, {"step": [message]})
    option = _approval_option(agreement, transition, by, today)
    round_ = option.approval_round
    if step is not None and round_ is not None and (option.approval_step is None or option.approval_step.name != step):
        _refuse_another_step(steps, step, option.approval_step, by, today)
    # Sending back is a decision like approving: only one who holds a place in the step may take it
    # (not a partner, not the requester, not one who already decided); only what blocks the move
    # forward (a missing detail) leaves it open.
    if round_ is None or option.approval_step is None or not option.may_decide:
        if round_ is not None and option.approval_step is not None and _decided_step(round_, option.approval_step, by):
            # The same approver twice (two tabs, the page and the API at once): a conflict with what is
            # recorded (409), not a permission they lack.
            raise WorkflowError(" ".join(option.reasons))
        raise PermissionDenied(" ".join(option.reasons) or _("You cannot decide on this approval."))
    if decision == "approve" and option.reasons:
        raise TransitionBlocked(" ".join(option.reasons))
    comment = trimmed(comment) or None
    if decision == "reject" and not comment:
        raise ValidationFailed(_("Say why you send it back."), {"comment": [_("A comment is required.")]})
    if decision not in ("approve", "reject"):
        raise ValidationFailed(_("Unknown decision."))
    identity = option.acting_for or by
    db.session.add(
        ApprovalDecision(
            round=round_,
            step=option.approval_step.name,
            approver=by,
            counted_user=identity,
            decision=decision,
            comment=comment,
        )
    )
    on_behalf = f" ({_('for %(name)s', name=identity.full_name)})" if identity is not by else ""
    audit.record(
        f"approval_{decision}d" if decision == "approve" else "approval_rejected",
        agreement,
        actor=by,
        changes={
            "transition": transition.name,
            "step": option.approval_step.name,
            "on_behalf_of": identity.email if identity is not by else None,
        },
        comment=(comment or "") + on_behalf if (comment or on_behalf) else None,
    )
    closes_round = decision == "reject" or current_step(transition, round_, agreement) is None
    approval_recorded.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]  # a LocalProxy, which Flask types as the app
        agreement=agreement,
        decision=decision,
        by=by,
        transition=transition.name,
        step=option.approval_step.name,
        comment=comment,
        round=round_,
        closes_round=closes_round,  # the move that follows tells it (one message, not two in the same second)
    )
    if decision == "reject":
        round_.status, round_.closed_at = "rejected", utcnow()
        _move(
            agreement,
            transition.name,
            transition.approval.reject_to,
            by=by,
            comment=comment,
            definition=definition,
            round_outcome="rejected",
        )
    elif closes_round:
        round_.status, round_.closed_at = "approved", utcnow()
        _move(
            agreement,
            transition.name,
            transition.target,
            by=by,
            comment=comment,
            definition=definition,
            round_outcome="approved",
        )
    flush_or_conflict()


def _refuse_another_step(steps: list[ApprovalStep], named: str, waiting: ApprovalStep | None, by, today) -> None:
    """A decision named for a step (`named`) other than the one the round waits on: refused, saying why. One
    who has no place in it learns that first (403), as for any step; for one who has, it was decided since
    the page was drawn (409), or it is not open yet."""
    names = [candidate.name for candidate in steps]
    shown = steps[names.index(named)]
    if not any(slot_of(shown, person) is not None for person in [by, *active_delegators(by, today)]):
        raise PermissionDenied(_("You are not an approver of this step."))
    if waiting is not None and names.index(named) > names.index(waiting.name):
        raise WorkflowError(_("This step is not open yet: the approval waits on an earlier step."))
    raise WorkflowError(
        _(
            "This step was decided since you opened the page: nothing was recorded for you. "
            "Check where the approval stands now."
        )
    )


def _decided_step(round_: ApprovalRound, step: ApprovalStep, person) -> bool:
    """Whether `person` already decided `step` of the round, for themselves or for someone they act for."""
    return any(d.step == step.name and person.id in (d.approver_id, d.counted_user_id) for d in round_.decisions)


# --- taking a transition --------------------------------------------------------------


def act(
    agreement,
    transition_name: str,
    *,
    by,
    decision: str | None = None,
    comment: str | None = None,
    values: dict | None = None,
    documents: dict | None = None,
    expected_version: int,
    today: date | None = None,
    child_decisions: dict | None = None,
    step: str | None = None,
):
    """The one verb every caller (pages, API, approval links) uses to take a move on an agreement:
    an approval transition records `decision` (approve by default) on `step` when the caller names the step it
    showed, any other is taken."""
    definition = definition_for(agreement)
    transition = definition.transition(transition_name)
    if transition is None:
        raise unknown_move(definition, transition_name)
    if transition.approval is not None:
        return decide(
            agreement,
            transition.name,
            by=by,
            decision=decision or "approve",
            comment=comment,
            expected_version=expected_version,
            today=today,
            step=step,
        )
    if decision == "reject":  # a send-back meant for an approval must not take a move forward
        message = _("“%(move)s” is not an approval: there is nothing to send back.", move=label(transition.label))
        raise ValidationFailed(message, {"decision": [message]})
    return take(
        agreement,
        transition.name,
        by=by,
        comment=comment,
        values=values,
        documents=documents,
        expected_version=expected_version,
        today=today,
        child_decisions=child_decisions or {},
    )


def take(
    agreement,
    transition_name: str,
    *,
    by,
    comment: str | None = None,
    values: dict | None = None,
    documents: dict | None = None,
    expected_version: int,
    today: date | None = None,
    child_decisions: dict | None = None,
):
    """Take a (non-approval) transition for `by`, atomically; raise a domain error otherwise.
    `child_decisions`: {child id: the same move or "keep"} when the definition asks per child."""
    today = today or clock.today()
    check_version(agreement, expected_version)
    definition = definition_for(agreement)
    transition = definition.transition(transition_name)
    if transition is None:
        raise unknown_move(definition, transition_name)
    if agreement.state not in transition.sources:
        raise WorkflowError(_("This action is no longer possible: the agreement has moved on."))
    if transition.approval is not None:
        raise WorkflowError(_("This step is taken by approving it."))
    if by is not None and not _has_role(by, transition.roles, agreement):
        raise PermissionDenied(_("You cannot take this action on this agreement."))
    comment = trimmed(comment) or None
    if transition.comment == "required" and not comment:
        raise ValidationFailed(_("A comment is required for this action."), {"comment": [_("A comment is required.")]})
    set_before = {name: getattr(agreement, name, None) for name in transition.fields}
    _apply_values(agreement, transition, values or {}, today)
    for kind, upload in (documents or {}).items():
        if kind in transition.documents and upload is not None:
            from app.workflow.documents import attach_document

            attach_document(agreement, kind, upload, by=by)
    reasons = blocking_reasons(agreement, transition, definition)
    if reasons:
        raise TransitionBlocked(" ".join(reasons))
    later = scheduled_on(agreement, transition, today)
    if later is not None:
        # The move belongs to a date still to come (activation on the effective date): taken now, the
        # agreement would count as in force before it is. Its dates are kept; the daily tick takes the
        # move on that day (run_automatic_transitions).
        _keep_dates_for_later(agreement, transition, by=by, comment=comment, set_before=set_before, on=later)
        flush_or_conflict()
        return
    from app.workflow import children

    decisions = children.check_decisions(agreement, transition.name, definition, child_decisions)
    _move(
        agreement,
        transition.name,
        transition.target,
        by=by,
        comment=comment,
        definition=definition,
        set_before=set_before,
        child_decisions=decisions,
    )
    flush_or_conflict()


def scheduled_on(agreement, transition: Transition, today: date) -> date | None:
    """The day `transition` will be taken by itself, when it is automatic on a date of the agreement's
    that is set and still to come; else None."""
    on = getattr(agreement, transition.automatic, None) if transition.automatic else None
    if not isinstance(on, date):
        return None
    day = transition.automatic_day(on)
    return day if day > today else None


def _keep_dates_for_later(agreement, transition: Transition, *, by, comment, set_before: dict, on: date) -> None:
    before, after = _changed_values(agreement, set_before)
    agreement.updated_at = utcnow()
    audit.record(
        "move_scheduled",
        agreement,
        actor=by,
        comment=comment,
        changes={
            "before": before,
            "after": after,
            "transition": transition.name,
            "scheduled_on": on.isoformat(),
        },
    )


def _changed_values(agreement, set_before: dict) -> tuple[dict, dict]:
    """(before, after) of the fields a move's form set (its dates) that it changed, as the audit row keeps them."""
    before, after = {}, {}
    for name, old_value in set_before.items():
        if getattr(agreement, name, None) != old_value:
            before[name], after[name] = _iso(old_value), _iso(getattr(agreement, name, None))
    return before, after


def _iso(value):
    return value.isoformat() if isinstance(value, date) else value


def _apply_values(agreement, transition: Transition, values: dict, today: date) -> None:
    errors: dict[str, list[str]] = {}
    for name in transition.fields:
        value = values.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, date):
            errors[name] = [_("Not a valid date.")]
            continue
        if not within_calendar(value):
            errors[name] = [_("This date is out of range.")]
            continue
        setattr(agreement, name, value)
    start = agreement.effective_on or agreement.signed_on
    if agreement.signed_on and agreement.effective_on and agreement.effective_on < agreement.signed_on:
        errors.setdefault("effective_on", []).append(_("The effective date cannot be before the signature date."))
    if agreement.expires_on and start and agreement.expires_on <= start:
        errors.setdefault("expires_on", []).append(_("The end date must come after the effective date."))
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)


def _move(
    agreement,
    transition_name: str,
    target: str,
    *,
    by,
    comment,
    definition,
    round_outcome=None,
    automatic_on: date | None = None,
    set_before: dict | None = None,
    child_decisions: dict | None = None,
    with_parent: str | None = None,
) -> None:
    """Change state, close and open approval rounds, run effects, write the audit row, signal.
    `set_before`: the fields the move's form sets (dates), as they were: those it changed are
    written in the audit row next to the state."""
    pin_definition(agreement)
    source = agreement.state
    transition = definition.transition(transition_name)
    for round_ in agreement.approval_rounds:
        if round_.status == "open" and round_.from_state == source:
            round_.status, round_.closed_at = "cancelled", utcnow()
    agreement.state = target
    agreement.state_entered_at = utcnow()
    note_shared(agreement, ending=definition.states[target].kind == "final")
    for next_transition in definition.transitions_from(target):
        if next_transition.approval is not None:
            agreement.approval_rounds.append(
                ApprovalRound(
                    transition=next_transition.name, from_state=target, requested_by_id=getattr(by, "id", None)
                )
            )
    if round_outcome != "rejected":
        for effect_name in transition.effects:
            rules.EFFECTS[effect_name](agreement, by)
    changed_before, changed_after = _changed_values(agreement, set_before or {})
    before, after = {"state": source, **changed_before}, {"state": target, **changed_after}
    audit.record(
        "transition",
        agreement,
        actor=by,
        comment=comment,
        changes={
            "before": before,
            "after": after,
            "transition": transition_name,
            **({"approval": round_outcome} if round_outcome else {}),
            **({"automatic_on": automatic_on.isoformat()} if automatic_on else {}),
            **({"with_parent": with_parent} if with_parent else {}),
        },
    )
    from app.workflow.children import close_rounds_under_ended, follow_parent

    follow_parent(agreement, transition_name, definition, by=by, comment=comment, decisions=child_decisions, move=_move)
    close_rounds_under_ended(agreement)
    agreement_moved.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]  # a LocalProxy, which Flask types as the app
        agreement=agreement,
        transition=transition_name,
        source=source,
        target=target,
        by=by,
        round_outcome=round_outcome,
        comment=comment,
    )


def note_shared(agreement, at=None, *, ending: bool = False) -> None:
    """Record when the partners were first shown the agreement: as it is first in a stage not tagged
    "internal" (its creation, a move, a state set directly). Once shown, it stays shown (a send-back to the
    draft included): the partners have seen it, and the negotiation goes on with them. `ending`: moved into
    a final stage; a draft cancelled before it was ever shown stays the ministry's (its budget's floor, its
    notes), the partners never having been part of it. (Set directly in a final stage, by an import, it is
    a past agreement, which its partners were part of.)"""
    if agreement.shared_at is None and not ending and not state_has(agreement, "internal"):
        agreement.shared_at = at or utcnow()


def settle_state(agreement, *, entered_at=None, requested_by=None) -> None:
    """For an agreement placed directly in a state (import, demo data): pin its definition,
    record when the state began, and open the approval rounds that state expects."""
    pin_definition(agreement)
    if entered_at is not None or agreement.state_entered_at is None:
        agreement.state_entered_at = entered_at or utcnow()
    note_shared(agreement, agreement.state_entered_at)
    definition = definition_for(agreement)
    if agreement.state not in definition.states:
        raise WorkflowError(_("State %(state)s is not part of this workflow.", state=agreement.state))
    for transition in definition.transitions_from(agreement.state):
        if transition.approval is not None and open_round(agreement, transition.name) is None:
            agreement.approval_rounds.append(
                ApprovalRound(
                    transition=transition.name,
                    from_state=agreement.state,
                    requested_at=agreement.state_entered_at,
                    requested_by_id=getattr(requested_by, "id", None),
                )
            )


# --- date-driven moves ------------------------------------------------------------------


def run_automatic_transitions(today: date) -> list[tuple[str, str, str]]:
    """Apply the automatic transitions due by `today` (signed → active, active → expired); the daily
    tick runs them after the tacit renewals (app.workflow.date_moves.run_date_transitions).

    Safe to run twice: an agreement already moved no longer matches. Each agreement moves in its
    own savepoint: one that fails is rolled back alone, reported "failed: <error>", and the others
    still move. Returns (reference, transition, outcome) for each agreement looked at.
    """
    from app.agreements.models import Agreement

    results: list[tuple[str, str, str]] = []
    # Every definition agreements run on, frozen versions too: an agreement on a version whose state
    # today's definition dropped still expires on its date.
    for on_definition, definition in definitions_running():
        for transition in definition.transitions:
            if not transition.automatic:
                continue
            date_column = getattr(Agreement, transition.automatic)
            candidates = db.session.scalars(
                select(Agreement)
                .where(
                    on_definition,
                    Agreement.state.in_(transition.sources),
                    date_column.is_not(None),
                    date_column <= today - transition.days_after_its_date,
                )
                .order_by(Agreement.id)
            ).all()
            for agreement in candidates:
                own = definition_for(agreement).transition(transition.name)
                if own is None or agreement.state not in own.sources:
                    continue
                try:
                    with db.session.begin_nested():
                        definition = definition_for(agreement)
                        reasons = blocking_reasons(agreement, own, definition)
                        if reasons:
                            results.append((agreement.reference, own.name, "blocked: " + " ".join(reasons)))
                            continue
                        # No translated comment: the audit row is read later in other languages.
                        _move(
                            agreement,
                            own.name,
                            own.target,
                            by=None,
                            definition=definition_for(agreement),
                            comment=None,
                            automatic_on=today,
                        )
                        db.session.flush()
                    results.append((agreement.reference, own.name, "done"))
                except StaleDataError:
                    results.append((agreement.reference, own.name, "skipped: changed meanwhile"))
                except Exception as error:  # one agreement's fault never stops the others
                    # The savepoint is rolled back: nothing of this move stays. The caller records it.
                    results.append((agreement.reference, own.name, f"failed: {type(error).__name__}: {error}"[:1000]))
    return results
