"""The reminder rules: each finds, at a given day, the reminders that are due (sent or not yet)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from functools import cache, partial

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import selectinload

from app.core import clock
from app.core.db import plain_rows
from app.core.permissions import can, holders_of_roles_clause, holds_role, partner_accounts_clause
from app.extensions import db
from app.notifications.reminders import occurrence_facts
from app.notifications.reminders.base import (
    Candidate,
    People,
    _people,
    _threshold,
    agreement_params,
    local_date,
    local_midnight,
    overdue_week,
    texts,
)
from app.notifications.services import Notice, app_path, app_path_with_id

# Rows of each list a weekly digest shows (pending approvals, overdue deliverables, endings); the rest
# are counted, and one click away in Sharaka.
DIGEST_ROWS = 15


def deliverable_candidates(
    today: date, people: People, skip_sent: bool = False, sent: Counter | None = None
) -> list[Candidate]:
    """Occurrences still owed on active agreements, due within the furthest threshold or overdue; with
    `skip_sent`, only those whose reminder of this period some recipient lacks (gates.py: the database
    skips the rest), and with `sent` too, the others' reminders counted in sent["deliverables"] (one
    reading: the database marks them instead of skipping them). Read as plain columns: a notice is
    built only for a reminder not sent yet."""
    from app.deliverables.models import Occurrence
    from app.notifications.reminders.gates import occurrence_unsent

    horizon = horizon_of_deliverables()
    lacking = occurrence_unsent(today) if skip_sent else true()
    columns = _occurrence_columns() + ((lacking.label("lacking"),) if sent is not None else ())
    query = _owed_occurrences(columns, today).where(Occurrence.due_on <= today + timedelta(days=horizon))
    rows = plain_rows(db.session.execute(query.where(lacking) if sent is None else query))
    candidates = []
    recipients_of: dict[tuple, tuple] = {}  # an agreement's occurrences (ten or so) have the same recipients
    for row in rows:
        policy = _policy_of(row.workflow_version_id, row.type)
        days_left = (row.due_on - today).days
        told = (row.responsible_organization_id, row.is_home, row.agreement_id, row.owner_id)
        if told not in recipients_of:
            owing = people.of_partner(row.responsible_organization_id, row.is_home, row.agreement_id)
            recipients_of[told] = (_people(owing, [people.by_id.get(row.owner_id)]), {p.id for p in owing})
        recipients, owers = recipients_of[told]
        if days_left >= 0:
            threshold = _threshold(days_left, policy.deliverable_due_days)
            if threshold is None:
                continue
            rule, key = "deliverable_due", f"{row.due_on}:{threshold}d"
        else:
            week = overdue_week(row.due_on, row.state_entered_at, today, policy.deliverable_overdue_every_days)
            rule, key = "deliverable_overdue", f"{row.due_on}:w{week}"
        if sent is not None and not row.lacking:  # everyone had it
            sent["deliverables"] += len(recipients)
            continue
        occurrence_facts.keep(row)
        make = partial(_deliverable_notice, row.id, rule, rule, abs(days_left))
        # Those of the organisation that owes it are told where to hand it in (its page); its owner is not.
        handing_in = make if rule == "deliverable_due" else partial(make, hand_in=True)
        candidates += [
            Candidate(
                rule,
                key,
                person,
                handing_in if person.id in owers else make,
                object_type="deliverable_occurrences",
                object_id=row.id,
            )
            for person in recipients
        ]
    return candidates + _escalation_candidates(today, people, skip_sent, sent)


def horizon_of_deliverables() -> int:
    """The furthest threshold, in days before a due date, of the policies in use."""
    return max((max(p.deliverable_due_days or (0,)) for p in _policies_in_use()), default=0)


def _occurrence_columns():
    """What a deliverable reminder reads of an occurrence, as plain columns."""
    from app.agreements.models import Agreement
    from app.deliverables.models import Deliverable, Occurrence
    from app.organizations.models import Organization

    return (
        Occurrence.id,
        Occurrence.due_on,
        Occurrence.deliverable_id,
        Deliverable.responsible_organization_id,
        Organization.is_home,
        Agreement.owner_id,
        Agreement.state_entered_at,
        Agreement.workflow_version_id,
        Agreement.type,
        Agreement.id.label("agreement_id"),
        *occurrence_facts.columns(),  # what a notice says: no second reading for the new reminders'
    )


def _owed_occurrences(columns, today: date):
    """Occurrences still owed (pending or sent back) on agreements running `today`, earliest first."""
    from app.agreements.models import Agreement
    from app.deliverables.falling_due import falling_due
    from app.deliverables.models import OWED_STATUSES, Deliverable, Occurrence
    from app.organizations.models import Organization

    return (
        select(*columns)
        .select_from(Occurrence)
        .join(Deliverable, Occurrence.deliverable_id == Deliverable.id)
        .join(Agreement, Deliverable.agreement_id == Agreement.id)
        .join(Organization, Organization.id == Deliverable.responsible_organization_id)
        .where(Occurrence.status.in_(OWED_STATUSES), falling_due(today))
        .order_by(Occurrence.due_on, Occurrence.id)
    )


def _escalation_candidates(today: date, people: People, skip_sent: bool, sent: Counter | None) -> list[Candidate]:
    """Managers hear of a deliverable when another of its dates is missed past the escalation threshold
    (keyed by its latest such date), the message listing every date missed: a monthly report missed four
    months running is escalated four times, each saying how many are missing, not once for the first
    and never again (nor once a week per missed date). With `skip_sent`, the database marks the
    deliverables whose latest such date some manager has not heard of; only those are escalated (with
    `sent`, the others' reminders counted there). One statement reads the dates missed and marks the
    latest of each deliverable: marking them, then reading those marked a few hundred deliverables at a
    time, was seven statements, each joining the running agreements' deliverables again."""
    from app.notifications.reminders.gates import date_text, manager_lacks

    latest = _escalated(today)
    lacking = (
        manager_lacks(
            "deliverable_escalated", "deliverable_occurrences", latest.c.id, date_text(latest.c.due_on) + ":escalated"
        )
        if skip_sent
        else true()
    )
    managers = _people(people.holding("escalation.receive"))
    # Asked of each deliverable's latest date only (NULL on the others): what its escalation is keyed by.
    marked = case((latest.c.n == 1, lacking)).label("lacking")
    escalated: dict[int, list] = {}  # deliverable id -> its occurrences overdue past the escalation threshold
    is_lacking: dict[int, bool] = {}
    for row in plain_rows(db.session.execute(select(latest, marked).order_by(latest.c.due_on, latest.c.id))):
        escalated.setdefault(row.deliverable_id, []).append((row, (today - row.due_on).days))
        if row.n == 1:
            is_lacking[row.deliverable_id] = bool(row.lacking)
    told = [deliverable_id for deliverable_id, lacks in is_lacking.items() if not lacks]
    if sent is not None:
        sent["deliverables"] += len(told) * len(managers)
    if not managers:
        return []
    candidates = []
    for deliverable_id, missed in escalated.items():
        if not is_lacking[deliverable_id]:
            continue
        for row, _days in missed:
            occurrence_facts.keep(row)
        missed.sort(key=lambda item: (item[0].due_on, item[0].id))
        latest_row, overdue = missed[-1]  # the date just escalated; the message lists the others
        make = partial(
            _deliverable_notice,
            latest_row.id,
            "deliverable_escalated",
            "deliverable_overdue",
            overdue,
            missed=tuple(row.due_on.isoformat() for row, _days in missed),
        )
        candidates += [
            Candidate(
                "deliverable_escalated",
                f"{latest_row.due_on}:escalated",
                person,
                make,
                object_type="deliverable_occurrences",
                object_id=latest_row.id,
            )
            for person in managers
        ]
    return candidates


def approval_reminders_sent(today: date) -> int:
    """How many approval reminders due today were sent before, among the rounds approval_candidates skips."""
    from sqlalchemy.orm import aliased

    from app.agreements.models import Agreement
    from app.auth.models import User
    from app.notifications.models import ReminderSent
    from app.notifications.reminders.gates import round_reminders_sent
    from app.workflow.models import ApprovalRound
    from app.workflow.queries import late_round_clause

    recipient = aliased(User)
    return db.session.scalar(
        select(func.count())
        .select_from(ApprovalRound)
        .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
        .join(
            ReminderSent,
            and_(ReminderSent.object_type == "approval_rounds", ReminderSent.object_id == ApprovalRound.id),
        )
        .join(recipient, and_(recipient.id == ReminderSent.recipient_id, recipient.is_active_account.is_(True)))
        .where(late_round_clause(today, local_midnight, also=partial(round_reminders_sent, recipient)))
    )


def _escalated(today: date):
    """Each deliverable's occurrences overdue past their escalation threshold, with what their notices say
    (_occurrence_columns), numbered from the latest due (n = 1)."""
    from app.deliverables.models import Occurrence
    from app.notifications.reminders.gates import escalation_due

    return (
        _owed_occurrences(
            (
                *_occurrence_columns(),
                func.row_number()
                .over(partition_by=Occurrence.deliverable_id, order_by=(Occurrence.due_on.desc(), Occurrence.id.desc()))
                .label("n"),
            ),
            today,
        )
        .where(escalation_due(today))
        .order_by(None)
        .subquery()
    )


def _deliverable_notice(
    occurrence_id: int, kind: str, category: str, days: int, missed: tuple = (), hand_in: bool = False
) -> Notice:
    occurrence = occurrence_facts.of(occurrence_id)  # read in bulk by the pass (_Preparer)
    params = {
        **agreement_params(occurrence.agreement),
        "deliverable": texts(occurrence.deliverable, "title"),
        "due_on": occurrence.due_on.isoformat(),
        "responsible": texts(occurrence.responsible, "name"),
        "days": days,
    }
    if occurrence.deliverable.is_illustrative:
        params["illustrative"] = True  # the mail says the deliverable is the demo's invention
    if len(missed) > 1:
        params["missed"] = list(missed)
    if occurrence.status == "sent_back":
        # Handed in, then sent back: the reminder says so and repeats what to fix.
        params |= {"sent_back": True, "feedback": occurrence.feedback or ""}
    link = app_path_with_id("deliverables.view_occurrence", "occurrence_id", occurrence.id)
    return Notice(
        kind=kind,
        category=category,
        params=params,
        link=link,
        object_type="deliverable_occurrences",
        object_id=occurrence.id,
        extra={"hand_in_url": link} if hand_in else {},
    )


def _policy_of(version_id: int | None, agreement_type: str):
    """The reminder policy of the definition an agreement runs on, from its columns."""
    return _definition_of(version_id, agreement_type).reminders


def _definition_of(version_id: int | None, agreement_type: str):
    """The definition an agreement runs on, from its columns (engine.definition_for reads the object)."""
    from app.workflow.engine import current_definitions, version_definitions

    if version_id is None:
        return current_definitions()[agreement_type]
    return version_definitions()[version_id]


def approval_candidates(today: date, people: People, skip_sent: bool = False) -> list[Candidate]:
    """Open rounds whose current step waited past its SLA (with `skip_sent`, and someone has not been told
    of): the database finds them (app/workflow/queries/, gates.py), so rounds within their SLA (or
    told of) are never read."""
    from app.agreements.models import Agreement
    from app.notifications.reminders.gates import round_unsent
    from app.workflow.models import ApprovalDecision, ApprovalRound
    from app.workflow.queries import late_round_clause

    rows = db.session.execute(
        select(ApprovalRound, Agreement)
        .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
        .where(late_round_clause(today, local_midnight, also=round_unsent if skip_sent else None))
        .options(selectinload(ApprovalRound.decisions).joinedload(ApprovalDecision.counted_user))
        .order_by(ApprovalRound.id)
    ).all()
    managers = _people(people.holding("escalation.receive"))
    candidates = []
    for round_, _agreement in rows:
        waiting = waiting_approval(round_, staff=people.staff)
        if waiting is None or waiting[3] is None:  # no deadline on this step
            continue
        agreement, step, started, sla, approvers = waiting
        waited = (today - local_date(started)).days
        if waited <= sla:
            continue
        policy_factor = _policy(agreement).approval_escalate_after_slas
        params = {
            **agreement_params(agreement),
            "days": waited,
            "sla": sla,
            "since": local_date(started).isoformat(),
            "waiting": ", ".join(person.full_name for person in approvers),
        }
        common = {
            "object_type": "approval_rounds",
            "object_id": round_.id,
            "link": approvals_of(agreement.id),
        }
        escalated = waited > sla * policy_factor
        notice = Notice(kind="approval_overdue", category="approval_overdue", params=params, **common)
        # Without approve-by-mail links: the pass writes its reminders on a connection of its own, and links
        # made while it reads would hold the database against that writer (SQLite), and outlive a reminder
        # another process recorded first. The one who sends a reminder by hand (manual.py) gives them links.
        candidates += [
            Candidate("approval_overdue", f"{step.name}:sla", person, notice)
            for person in late_approvers_told(approvers, managers if escalated else [])
        ]
        if escalated:
            candidates += [
                Candidate("approval_escalated", f"{step.name}:sla{policy_factor}", person, notice)
                for person, notice in escalations(round_, params, managers)
            ]
    return candidates


def escalations(round_, params: dict, managers: list) -> list[tuple]:
    """(manager, notice) of a late approval's escalation: what each may do about it, said and linked (the
    dashboard's "Send a reminder", the "Reassign" page), as far as they may; managers alike share one."""
    made: dict[tuple[bool, bool], Notice] = {}
    told = []
    for person in managers:
        may = (can(person, "approval.remind"), can(person, "approval.reassign"))
        if may not in made:
            remind, reassign = may
            made[may] = Notice(
                kind="approval_escalated",
                category="approval_overdue",
                params=params | {"may_remind": remind, "may_reassign": reassign},
                link=app_path("dashboards.home") if remind else approvals_of(round_.agreement_id),
                object_type="approval_rounds",
                object_id=round_.id,
                extra={"reassign_url": app_path("notifications.reassign_approval", round_id=round_.id)}
                if reassign
                else {},
            )
        told.append((person, made[may]))
    return told


def approvals_of(agreement_id: int) -> str:
    """The path of an agreement's approvals panel, where its approvers decide."""
    return app_path_with_id("agreements.view_agreement", "agreement_id", agreement_id) + "#approvals-heading"


def late_approvers_told(approvers: list, escalated_to: list) -> list:
    """The approvers of a late step who get its overdue reminder, once it goes to `escalated_to` too: not
    those who get the escalation. A pass catching up past both thresholds sent an approver who is a manager
    both, word for word alike; the escalation says more (that it went up), so it is the one they keep. An
    approver told of the overdue before the escalation was due still hears of the escalation (another pass,
    something new). The reminder left out is not recorded either: every later pass leaves it out again
    (the escalation stays due while the step waits), and gates.round_overdue_recipients says the same in SQL."""
    escalated_ids = {person.id for person in escalated_to}
    return [person for person in approvers if person.id not in escalated_ids]


def waiting_approval(round_, staff: list | None = None):
    """(agreement, current step, since when it waits, its SLA in days or None, who may approve it now),
    or None when the round has no step left to decide. `staff`: the active ministry accounts, when
    the caller loaded them already (a reminder pass), else they are asked for."""
    from app.auth.models import User
    from app.workflow.engine import _eligibility, definition_for, step_waiting

    agreement = _agreement_of(round_)
    waiting = step_waiting(round_, definition_for(agreement), agreement)
    if waiting is None:
        return None
    _transition, step, started, sla = waiting
    if staff is None:
        candidates = db.session.scalars(
            select(User)
            .where(
                User.is_active_account.is_(True),
                ~partner_accounts_clause(),
                or_(holders_of_roles_clause(step.roles or ("-",)), func.lower(User.email).in_(step.users or ("-",))),
            )
            .order_by(User.id)
        ).all()
    else:
        candidates = [
            person for person in staff if holds_role(person, step.roles) or person.email.lower() in step.users
        ]
    approvers = [person for person in candidates if _eligibility(step, round_, person, person) is None]
    return agreement, step, started, sla, approvers


def approval_request_params(agreement, round_, step, started, sla) -> dict:
    """What an approval request mail says of the step it asks about: the move, which step of how many when
    the approval has several (a manager holding both steps of a large MoU got two alike requests), and the
    step's deadline."""
    from app.workflow.engine import applicable_steps, definition_for

    transition = definition_for(agreement).transition(round_.transition)
    params = {**agreement_params(agreement), "transition": dict(transition.label) if transition else {}}
    names = [each.name for each in applicable_steps(transition, agreement)] if transition else []
    if len(names) > 1 and step.name in names:
        params |= {"step": names.index(step.name) + 1, "steps": len(names)}
    if sla:  # the mail states the deadline: the step's (or its state's) SLA from when it started waiting
        params |= {"decide_by": (local_date(started) + timedelta(days=sla)).isoformat(), "sla": sla}
    return params | resubmission_params(round_)


def approval_request_extra(agreement) -> dict:
    """What an approval request mail shows under its words: before the negotiation, the draft text the approver
    is asked to approve (its name and address), or an empty entry, which the mail says as "none attached"."""
    from app.workflow.drafts import latest_draft_text, takes_draft_texts

    if not takes_draft_texts(agreement):
        return {}
    draft = latest_draft_text(agreement)
    if draft is None:
        return {"draft_text": {}}
    path = app_path("workflow.download_document", agreement_id=agreement.id, document_id=draft.id)
    return {"draft_text": {"name": draft.original_name, "url": path}}


def resubmission_params(round_) -> dict:
    """For a round asked again after a send-back: who sent it back, on which day and why, and what the
    submitter said as they sent it again (the request had read word for word as the first)."""
    from app.workflow.asked_again import asked_again

    again = asked_again(round_)
    if again is None:
        return {}
    return {
        "resubmitted": {
            "sent_back_by": again.sent_back_by,
            "sent_back_on": local_date(again.sent_back_at).isoformat(),
            "reason": again.reason,
            "by": again.resubmitted_by,
            "comment": again.comment,
        }
    }


def _agreement_of(round_):
    from app.agreements.models import Agreement

    return db.session.get(Agreement, round_.agreement_id)


def _policy(agreement):
    from app.workflow.engine import definition_for

    return definition_for(agreement).reminders


def ending_candidates(today: date, people: People) -> list[Candidate]:
    """Agreements whose end comes within the policy's days: the owner and the managers decide whether
    to renew, amend or let it end. Not those that renew by themselves (renewing.renewing_tacitly): their
    end is no end, and the notice deadline's reminders (notice_candidates) ask the decision in time."""
    from app.agreements.models import Agreement
    from app.agreements.renewals import ending_between

    horizon = max((max(p.ending_days or (0,)) for p in _policies_in_use()), default=0)
    # Plain columns: the agreement itself is read only for a reminder not sent yet (_ending_notice).
    rows = db.session.execute(
        select(Agreement.id, Agreement.expires_on, Agreement.owner_id, Agreement.workflow_version_id, Agreement.type)
        .where(ending_between(today, today + timedelta(days=horizon)))
        .order_by(Agreement.expires_on, Agreement.id)
    ).all()
    managers = people.holding("escalation.receive")
    candidates = []
    for agreement in rows:
        days_left = (agreement.expires_on - today).days
        threshold = _threshold(days_left, _policy_of(agreement.workflow_version_id, agreement.type).ending_days)
        if threshold is None:
            continue
        notice = partial(_ending_notice, agreement.id, days_left)  # built only for a reminder not sent yet
        # The end date is in the key: an amendment that extends it re-arms the reminders.
        candidates += [
            Candidate(
                "agreement_ending",
                f"{agreement.expires_on}:{threshold}d",
                person,
                notice,
                object_type="agreements",
                object_id=agreement.id,
            )
            for person in _people([people.by_id.get(agreement.owner_id)], managers)
        ]
    return candidates


def notice_candidates(today: date, people: People) -> list[Candidate]:
    """Agreements with renewal terms whose notice deadline of non-renewal comes within the policy's
    days (or is today), no notice given yet: the owner officer and the managers decide in time."""
    from app.agreements.models import Agreement
    from app.agreements.renewals import awaiting_notice

    furthest = max((max(p.notice_days or (0,)) for p in _policies_in_use()), default=0)
    deadline_of = Agreement.notice_deadline  # SQL: only the deadlines within the policies' reach are read
    rows = db.session.execute(
        select(Agreement, deadline_of)
        .where(
            awaiting_notice(),
            deadline_of >= today,
            deadline_of <= today + timedelta(days=furthest),
        )
        .order_by(deadline_of, Agreement.id)
    ).all()
    candidates = []
    for agreement, deadline in rows:
        days_left = (deadline - today).days
        threshold = _threshold(days_left, _policy(agreement).notice_days)
        if threshold is None:
            continue
        notice = Notice(
            kind="notice_deadline",
            category="agreement_ending",
            params={
                **agreement_params(agreement),
                "days": days_left,
                "notice_deadline": deadline.isoformat(),
                "expires_on": agreement.expires_on.isoformat(),
                "renewal_terms": agreement.renewal_terms,
            },
            link=app_path("agreements.view_agreement", agreement_id=agreement.id),
            object_type="agreements",
            object_id=agreement.id,
        )
        # The deadline is in the key: a moved end date or notice period re-arms the reminders.
        candidates += [
            Candidate("notice_deadline", f"{deadline}:{threshold}d", person, notice)
            for person in _people([agreement.owner], people.holding("escalation.receive"))
        ]
    return candidates


def _ending_notice(agreement_id: int, days_left: int) -> Notice:
    from app.agreements.models import Agreement

    agreement = db.session.get(Agreement, agreement_id)  # loaded in bulk by _load_objects
    return Notice(
        kind="agreement_ending",
        category="agreement_ending",
        params={
            **agreement_params(agreement),
            "days": days_left,
            "expires_on": agreement.expires_on.isoformat(),
            # Notice given: nothing is left to decide, only the ending to prepare.
            **({"non_renewal_on": agreement.non_renewal_on.isoformat()} if agreement.non_renewal_on else {}),
        },
        link=app_path_with_id("agreements.view_agreement", "agreement_id", agreement.id),
        object_type="agreements",
        object_id=agreement.id,
    )


def _definitions():
    from app.workflow.engine import current_definitions

    return current_definitions().values()


def _policies_in_use() -> list:
    """Today's reminder policies and those of every frozen definition version (an agreement keeps
    its version's thresholds, which may reach further ahead than today's). The versions are read
    once per pass (engine.version_definitions)."""
    from app.workflow.engine import version_definitions

    return [d.reminders for d in _definitions()] + [d.reminders for d in version_definitions().values()]


def stalled_candidates(today: date, people: People) -> list[Candidate]:
    """Agreements idle in a working state past its SLA (states waiting for approvals have their own rule).
    The database keeps only those whose every sign of activity is older than their state's SLA."""
    from app.agreements.models import Agreement
    from app.workflow.models import NegotiationRound
    from app.workflow.queries import per_definition

    managers = people.holding("escalation.receive")
    last_round = (
        select(NegotiationRound.agreement_id, func.max(NegotiationRound.sent_at).label("sent_at"))
        .group_by(NegotiationRound.agreement_id)
        .subquery()
    )

    def idle_too_long(definition):
        if not definition.reminders.stalled:
            return None
        clauses = []
        for name, state in definition.states.items():
            if (
                not state.sla_days
                or state.kind == "final"
                or any(t.approval is not None for t in definition.transitions_from(name))
            ):
                continue
            # idle > sla  <=>  the local date of the last activity < today - sla  <=>  every moment < cutoff
            cutoff = local_midnight(today - timedelta(days=state.sla_days))
            clauses.append(
                and_(
                    Agreement.state == name,
                    or_(Agreement.state_entered_at.is_(None), Agreement.state_entered_at < cutoff),
                    or_(Agreement.updated_at.is_(None), Agreement.updated_at < cutoff),
                    or_(last_round.c.sent_at.is_(None), last_round.c.sent_at < cutoff),
                )
            )
        return or_(*clauses) if clauses else None

    # Plain columns: the agreement itself is read only for a reminder not sent yet (_stalled_notice).
    rows = db.session.execute(
        select(
            Agreement.id,
            Agreement.state,
            Agreement.state_entered_at,
            Agreement.updated_at,
            Agreement.owner_id,
            Agreement.workflow_version_id,
            Agreement.type,
            last_round.c.sent_at,
        )
        .outerjoin(last_round, last_round.c.agreement_id == Agreement.id)
        .where(per_definition(idle_too_long))
        .order_by(Agreement.id)
    ).all()
    candidates = []
    for agreement in rows:
        last_round_at = agreement.sent_at
        definition = _definition_of(agreement.workflow_version_id, agreement.type)
        if not definition.reminders.stalled:
            continue
        state = definition.states.get(agreement.state)
        if state is None or not state.sla_days or state.kind == "final":
            continue
        if any(t.approval is not None for t in definition.transitions_from(agreement.state)):
            continue
        moments = [m for m in (agreement.state_entered_at, agreement.updated_at, last_round_at) if m is not None]
        if not moments:
            continue
        last_activity = local_date(max(moments))
        idle = (today - last_activity).days
        if idle <= state.sla_days:
            continue
        periods = idle // state.sla_days
        # "days" is the page's reckoning ("at this stage for N days"); "idle" since the last change.
        in_stage = clock.days_since(agreement.state_entered_at, today) if agreement.state_entered_at else idle
        # Built only for a reminder not sent yet (most of a day's are).
        notice = partial(
            _stalled_notice,
            agreement.id,
            {"days": in_stage, "idle": idle, "sla": state.sla_days, "state": dict(state.label)},
        )
        recipients = _people([people.by_id.get(agreement.owner_id)]) or _people(managers)
        candidates += [
            Candidate(
                "agreement_stalled",
                f"{agreement.state}:{last_activity}:{periods}",
                person,
                notice,
                object_type="agreements",
                object_id=agreement.id,
            )
            for person in recipients
        ]
    return candidates


def _stalled_notice(agreement_id: int, figures: dict) -> Notice:
    from app.agreements.models import Agreement

    agreement = db.session.get(Agreement, agreement_id)  # loaded in bulk by _load_objects
    return Notice(
        kind="agreement_stalled",
        category="agreement_stalled",
        params={**agreement_params(agreement), **figures},
        link=app_path_with_id("agreements.view_agreement", "agreement_id", agreement.id),
        object_type="agreements",
        object_id=agreement.id,
    )


def digest_candidates(now: datetime, today: date, people: People) -> list[Candidate]:
    """Monday 08:00 (Casablanca) onwards, once per ISO week, to each manager. The summary is
    computed only when a manager has not had this week's digest yet, once for all of them."""
    local = clock.as_ministry_time(now)
    monday = local.date() - timedelta(days=local.weekday())
    if local.weekday() == 0 and local.hour < 8:
        return []
    managers = people.holding("mail.weekly_digest")
    if not managers:
        return []
    iso_year, iso_week, _ = monday.isocalendar()

    @cache
    def notice() -> Notice:
        summary = portfolio_summary(today)
        return Notice(
            kind="weekly_digest",
            category="weekly_digest",
            params={
                "week_of": monday.isoformat(),
                "approvals_count": summary["approvals_total"],
                "overdue_count": summary["overdue_total"],
                "review_count": summary["review_total"],
                "ending_count": summary["ending_total"],
            },
            link=app_path("main.home"),
            object_type="digest",
            object_id=0,
            extra=summary,
        )

    return [
        Candidate("weekly_digest", f"{iso_year}-W{iso_week:02d}", person, notice, object_type="digest")
        for person in managers
    ]


def portfolio_summary(today: date) -> dict:
    """What the weekly digest lists: the first DIGEST_ROWS pending approvals (oldest first), overdue deliverables
    (longest overdue first) and endings (soonest first), how many there are of each, and counts by stage.
    Only the rows the e-mail shows are read: a government's portfolio has thousands overdue, and each
    manager's message keeps what it lists until it is sent."""
    from app.agreements.models import Agreement
    from app.agreements.renewals import ENDING_WITHIN_DAYS, ending_between
    from app.core.pagination import first_with_total
    from app.deliverables.falling_due import shown_as
    from app.deliverables.models import Deliverable, Occurrence, Submission
    from app.organizations.models import Organization
    from app.workflow.models import ApprovalRound

    waiting, approvals_total = first_with_total(
        select(ApprovalRound, Agreement)
        .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
        .where(ApprovalRound.status == "open", ApprovalRound.from_state == Agreement.state)
        .order_by(ApprovalRound.requested_at, ApprovalRound.id),
        DIGEST_ROWS,
    )
    approvals = [
        {
            "reference": agreement.reference,
            "title": texts(agreement, "title"),
            "since": local_date(round_.requested_at).isoformat(),
            "days": (today - local_date(round_.requested_at)).days,
            "url": app_path_with_id("agreements.view_agreement", "agreement_id", agreement.id),
        }
        for round_, agreement in waiting
    ]

    def occurrence_rows(condition, order, *columns) -> tuple[list, int]:
        """The first DIGEST_ROWS occurrences meeting `condition`, with what a digest line names, and their total."""
        return first_with_total(
            select(Occurrence, Deliverable, Agreement, Organization, *columns)
            .select_from(Occurrence)
            .join(Deliverable)
            .join(Agreement, Deliverable.agreement_id == Agreement.id)
            .join(Organization, Organization.id == Deliverable.responsible_organization_id)
            .where(condition)
            .order_by(order, Occurrence.id),
            DIGEST_ROWS,
            unique_by=Occurrence.id,
        )

    def occurrence_line(occurrence, deliverable, agreement, responsible, **dated) -> dict:
        return {
            "reference": agreement.reference,
            "deliverable": texts(deliverable, "title"),
            "responsible": texts(responsible, "name"),
            **dated,
            "url": app_path_with_id("deliverables.view_occurrence", "occurrence_id", occurrence.id),
        }

    # What the lists and the dashboards call overdue.
    late, overdue_total = occurrence_rows(shown_as("overdue", today), Occurrence.due_on)
    overdue = [
        occurrence_line(*row, due_on=row[0].due_on.isoformat(), days=(today - row[0].due_on).days) for row in late
    ]
    # Hand-ins the ministry has not reviewed yet, the longest waiting first: reminded to nobody otherwise,
    # two sat "handed in" for nine months, through the agreement's end.
    handed_in_at = (
        select(func.max(Submission.submitted_at))
        .where(Submission.occurrence_id == Occurrence.id)
        .correlate(Occurrence)
        .scalar_subquery()
    )
    unreviewed, review_total = occurrence_rows(
        and_(Occurrence.status == "submitted", handed_in_at.is_not(None)), handed_in_at, handed_in_at
    )
    review = [
        occurrence_line(*row[:4], since=local_date(row[4]).isoformat(), days=(today - local_date(row[4])).days)
        for row in unreviewed
    ]
    soon, ending_total = first_with_total(
        select(Agreement)
        .where(ending_between(today, today + timedelta(days=ENDING_WITHIN_DAYS)))
        .order_by(Agreement.expires_on, Agreement.reference),
        DIGEST_ROWS,
    )
    ending = [
        {
            "reference": agreement.reference,
            "title": texts(agreement, "title"),
            "expires_on": agreement.expires_on.isoformat(),
            "days": (agreement.expires_on - today).days,
            "url": app_path_with_id("agreements.view_agreement", "agreement_id", agreement.id),
        }
        for agreement in soon
    ]
    by_stage = Counter()
    for _agreement_type, state, count in db.session.execute(
        select(Agreement.type, Agreement.state, func.count()).group_by(Agreement.type, Agreement.state)
    ):
        by_stage[state] += count
    # In lifecycle order (the order the definitions list their states), as the app's board shows them: the
    # longest lifecycle first, so a state a shorter one lacks (negotiation, for an amendment) keeps its place;
    # and named as the dashboard names it (states.state_labels: the longest lifecycle's label first), not
    # after whichever definition came first (an amendment's "In force" where the dashboard says "Active").
    fullest_first = sorted(_definitions(), key=lambda definition: (-len(definition.states), definition.type))
    lifecycle = list(dict.fromkeys(name for definition in fullest_first for name in definition.states))
    labels: dict[str, dict] = {}
    for definition in fullest_first:
        for name, state in definition.states.items():
            labels.setdefault(name, dict(state.label))
    stages = [
        {"state": state, "label": labels.get(state, {"ar": state, "fr": state, "en": state}), "count": count}
        for state, count in sorted(
            by_stage.items(),
            key=lambda item: (lifecycle.index(item[0]) if item[0] in lifecycle else len(lifecycle), item[0]),
        )
    ]
    return {
        "approvals": approvals,
        "approvals_total": approvals_total,
        "overdue": overdue,
        "overdue_total": overdue_total,
        "review": review,
        "review_total": review_total,
        "ending": ending,
        "ending_total": ending_total,
        "stages": stages,
    }
