"""SQL conditions that keep a pass to the candidates still missing a reminder.

A rule's reminder key (rule, object, recipient, occurrence key) is written the same way here, in
SQL, as in the rule: the database then skips, by an anti-join on reminders_sent, every object whose
recipients all have this period's reminder already. So a repeat pass with nothing new reads
nothing. The rules still compute each key in Python and `unsent` still checks them: these
conditions only narrow what is read, they never decide alone what is sent.
"""

from __future__ import annotations

from datetime import date
from functools import cache

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
)

from app.core import clock
from app.core.permissions import holders_clause, holders_of_roles_clause, partner_accounts_clause
from app.extensions import db


def days_from(column, today: date):
    """Whole days from `column` (a date) to `today`, counted by the database."""
    if db.engine.dialect.name == "postgresql":
        return literal(today) - column
    return cast(func.julianday(literal(today.isoformat())) - func.julianday(column), Integer)


def date_text(column):
    """A date as the rules write it in keys: YYYY-MM-DD (both databases' text form of a date)."""
    return cast(column, String)


def overdue_week(due_on, today: date, every: int):
    """base.overdue_week, counted by the database for the occurrence's agreement: periods of `every` days late,
    from the day after `due_on`, or from the day the agreement began to run (state_entered_at's day in UTC) when
    the date was missed before it ran."""
    from app.agreements.models import Agreement

    started = Agreement.state_entered_at
    if db.engine.dialect.name == "postgresql":
        late_at_start = cast(started, Date) - due_on
    else:
        late_at_start = cast(func.julianday(func.date(started)) - func.julianday(due_on), Integer)
    offset = case((late_at_start > 0, (late_at_start - 1) % every), else_=0)
    return (days_from(due_on, today) - 1 - offset) // every


def _not_recorded(rule: str, object_type: str, object_id, recipient_id, key):
    from app.notifications.models import ReminderSent

    # Correlated to the enclosing queries at any depth (the object's row is two levels up).
    return not_(
        exists()
        .where(
            ReminderSent.rule == rule,
            ReminderSent.object_type == object_type,
            ReminderSent.object_id == object_id,
            ReminderSent.recipient_id == recipient_id,
            ReminderSent.occurrence_key == key,
        )
        .correlate_except(ReminderSent)
    )


def someone_lacks(rule: str, object_type: str, object_id, key, groups) -> object:
    """Some active account of one of `groups` (each a condition on a User alias) has no reminder `key`
    for the object. One EXISTS per group, so each finds its people by an index (the owner by id, a
    partner's users by organisation), and an alias of its own: the caller's query may join users too."""
    clauses = []
    for index, group in enumerate(groups):
        user = _user_alias(index)
        clauses.append(
            exists()
            .where(
                group(user), user.is_active_account.is_(True), _not_recorded(rule, object_type, object_id, user.id, key)
            )
            .correlate_except(user)
        )
    return or_(*clauses)


@cache
def _user_alias(index: int):
    """The users alias of a group's EXISTS, made once: an alias builds each column's expression on first
    use, which costs more than the query it serves when every pass makes new ones. Sibling subqueries
    may share one; none nests in another."""
    from sqlalchemy.orm import aliased

    from app.auth.models import User

    return aliased(User, name=f"recipient_{index}")


def occurrence_owner(User):
    """The owner of the occurrence's agreement hears of it (deliverable_candidates)."""
    from app.agreements.models import Agreement

    return User.id == Agreement.owner_id


def occurrence_partner_users(User):
    """The responsible partner's users who see the agreement's deliverables hear of it (People.of_partner)."""
    from app.agreements.models import Agreement
    from app.auth.models import DeliverableGrant
    from app.deliverables.models import Deliverable
    from app.organizations.models import Organization

    granted = (
        exists()
        .where(DeliverableGrant.user_id == User.id, DeliverableGrant.agreement_id == Agreement.id)
        .correlate_except(DeliverableGrant)
    )
    return and_(
        User.organization_id == Deliverable.responsible_organization_id,
        partner_accounts_clause(User),
        Organization.is_home.is_not(True),
        or_(User.deliverables_restricted.is_not(True), granted),
    )


OCCURRENCE_RECIPIENTS = (occurrence_owner, occurrence_partner_users)


def _occurrence_periods(today: date, test):
    """OR over the definitions in use of: the occurrence is in a period of a due or overdue reminder,
    and `test(rule, key)` holds for that reminder's key (the keys of deliverable_candidates)."""
    from datetime import timedelta

    from app.deliverables.models import Occurrence

    def rule(policy):
        clauses = []
        thresholds = sorted(set(policy.deliverable_due_days or ()))
        if thresholds:
            # Days left in (previous threshold, threshold] -> key "<due date>:<threshold>d".
            key = date_text(Occurrence.due_on) + _case_threshold(Occurrence.due_on, today, thresholds)
            clauses.append(
                and_(
                    Occurrence.due_on >= today,
                    Occurrence.due_on <= today + timedelta(days=thresholds[-1]),
                    test("deliverable_due", key),
                )
            )
        week = overdue_week(Occurrence.due_on, today, policy.deliverable_overdue_every_days)
        key = date_text(Occurrence.due_on) + ":w" + cast(week, String)
        clauses.append(and_(Occurrence.due_on < today, test("deliverable_overdue", key)))
        return or_(*clauses)

    return per_policy(rule)


def per_policy(rule):
    """queries.per_definition, with the definitions that share a reminder policy (most do) grouped:
    OR over the policies in use of (agreement on a definition with that policy AND rule(policy))."""
    from sqlalchemy import false

    from app.workflow.queries import definitions_in_use

    groups: dict = {}
    for on_definition, definition in definitions_in_use():
        groups.setdefault(definition.reminders, []).append(on_definition)
    clauses = [and_(or_(*on_definitions), rule(policy)) for policy, on_definitions in groups.items()]
    return or_(*clauses) if clauses else false()


def occurrence_unsent(today: date):
    """Occurrences some recipient has not had this period's due or overdue reminder of."""
    from app.deliverables.models import Occurrence

    return _occurrence_periods(
        today,
        lambda rule, key: someone_lacks(rule, "deliverable_occurrences", Occurrence.id, key, OCCURRENCE_RECIPIENTS),
    )


def _case_threshold(due_on, today: date, thresholds: list[int]):
    from datetime import timedelta

    from sqlalchemy import case

    return case(*[(due_on <= today + timedelta(days=t), f":{t}d") for t in thresholds])


def escalation_due(today: date):
    """Occurrences overdue past their policy's escalation threshold (deliverable_candidates' escalations),
    on agreements that have run for that long too: a date that fell while nothing was owed (before the
    activation, during a suspension) is escalated the threshold after the agreement began to run again,
    not on the first pass after it (the managers had heard of it before its partner could hand it in)."""
    from datetime import timedelta

    from app.agreements.models import Agreement
    from app.deliverables.models import Occurrence

    def rule(policy):
        threshold = today - timedelta(days=policy.deliverable_escalate_after_days)
        running_since = or_(
            Agreement.state_entered_at.is_(None), Agreement.state_entered_at < clock.start_of(threshold)
        )
        return and_(Occurrence.due_on < threshold, running_since)

    return per_policy(rule)


def managers(User):
    """The staff escalations go to (People.holding("escalation.receive"))."""
    return holders_clause("escalation.receive", User)


def manager_lacks(rule: str, object_type: str, object_id, key):
    return someone_lacks(rule, object_type, object_id, key, (managers,))


def round_approvers(step):
    """Who may hear that `step` of a round is late (a superset of approval_candidates' approvers, who are
    the engine's to decide): active ministry staff holding a slot of the step, who have not approved it
    and are not kept out as its requester by the four-eyes rule."""
    from app.workflow.models import ApprovalDecision, ApprovalRound
    from app.workflow.queries.approvals import step_approved_by

    def group(User):
        approved = step_approved_by(step.name, User).correlate_except(ApprovalDecision)
        parts = [
            ~partner_accounts_clause(User),
            ~approved,
            or_(holders_of_roles_clause(step.roles, User), func.lower(User.email).in_(step.users or ("-",))),
        ]
        if step.exclude_requester:
            parts.append(or_(ApprovalRound.requested_by_id.is_(None), ApprovalRound.requested_by_id != User.id))
        return and_(*parts)

    return group


def round_overdue_recipients(step, escalated):
    """Who hears that `step` of a round is late (approval_candidates' overdue reminder): its approvers
    (round_approvers), but not the managers among them once the round is `escalated` (a condition on the
    round): those get the escalation instead (rules.late_approvers_told)."""
    approvers = round_approvers(step)

    def group(User):
        return and_(approvers(User), or_(not_(escalated), not_(managers(User))))

    return group


def round_unsent(definition, step, sla: int, waited_past):
    """A late round (queries.late_round_clause's `also`) that someone has not been told of yet: an
    approver of its current step, or, once it waited past the escalation threshold, a manager."""
    from app.workflow.models import ApprovalRound

    factor = definition.reminders.approval_escalate_after_slas
    overdue_recipients = round_overdue_recipients(step, waited_past(sla * factor))
    return or_(
        someone_lacks(
            "approval_overdue", "approval_rounds", ApprovalRound.id, f"{step.name}:sla"[:60], (overdue_recipients,)
        ),
        and_(
            waited_past(sla * factor),
            manager_lacks("approval_escalated", "approval_rounds", ApprovalRound.id, f"{step.name}:sla{factor}"[:60]),
        ),
    )


def round_reminders_sent(recipient, definition, step, sla: int, waited_past):
    """For a late round everyone has been told of (round_unsent fails), the reminders_sent rows of its
    current step to `recipient` (the query joins ReminderSent and its recipient, a User alias) who is
    still to be told: how a pass counts them as already sent."""
    from app.notifications.models import ReminderSent

    factor = definition.reminders.approval_escalate_after_slas
    return and_(
        not_(round_unsent(definition, step, sla, waited_past)),
        or_(
            and_(
                ReminderSent.rule == "approval_overdue",
                ReminderSent.occurrence_key == f"{step.name}:sla"[:60],
                round_overdue_recipients(step, waited_past(sla * factor))(recipient),
            ),
            and_(
                ReminderSent.rule == "approval_escalated",
                waited_past(sla * factor),
                managers(recipient),
                ReminderSent.occurrence_key == f"{step.name}:sla{factor}"[:60],
            ),
        ),
    )
