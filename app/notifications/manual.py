"""What a person does by hand about someone else's late approval (the dashboard): "Send a reminder", and
for managers "Reassign / delegate".

Once a day per approval: the first click of the day queues one notice and e-mail (through the outbox)
to each person who may decide the waiting step; later clicks that day, by anyone, are refused.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.core.dates import within_calendar
from app.core.errors import ValidationFailed
from app.core.i18n import gettext as _
from app.core.permissions import holders_clause, may_decide_approvals
from app.extensions import db
from app.notifications.reminders import (
    agreement_params,
    approval_request_extra,
    approval_request_params,
    approvals_of,
    local_date,
    waiting_approval,
)
from app.notifications.services import Notice, app_path, notify_once

RULE = "manual_approval_reminder"


def remind_approvers(round_, *, by, today: date) -> int:
    """Remind the people the round's current step waits on; how many were reminded."""
    from app.discussions.approval_links import with_decision_links

    waiting = waiting_approval(round_)
    if waiting is None:
        raise ValidationFailed(_("This approval no longer waits on anyone."))
    agreement, step, started, sla, approvers = waiting
    people = [person for person in approvers if person.id != by.id]
    if not people:
        raise ValidationFailed(_("Nobody else can decide this approval: open it and decide yourself."))
    params = {
        **agreement_params(agreement),
        "days": (today - local_date(started)).days,
        "sla": sla or 0,
        "since": local_date(started).isoformat(),
        "waiting": ", ".join(person.full_name for person in approvers),
        "reminded_by": by.full_name,
    }
    notice = Notice(
        kind="approval_overdue",
        category="approval_overdue",
        params=params,
        link=approvals_of(agreement.id),
        object_type="approval_rounds",
        object_id=round_.id,
    )
    day = today.isoformat()
    sent = sum(
        notify_once(
            person,
            with_decision_links(notice, round_, step.name, person, rule=RULE, occurrence_key=day),
            rule=RULE,
            occurrence_key=day,
        )
        for person in people
    )
    if not sent:
        raise ValidationFailed(_("A reminder for this approval was already sent today."))
    return sent


REASSIGN_RULE = "approval_reassigned"


def reassign_choices(round_) -> tuple[list, list]:
    """Who the late step waits on (those a manager may hand it from), and the colleagues who may take it
    over: active ministry staff, not partners or auditors, whom the step's own rules let decide (the
    four-eyes rule keeps out whoever asked for the approval)."""
    from app.auth.models import User
    from app.workflow.engine import _eligibility

    waiting = waiting_approval(round_)
    if waiting is None:
        return [], []
    _agreement, step, _started, _sla, approvers = waiting
    staff = db.session.scalars(
        select(User).where(User.is_active_account.is_(True), holders_clause("approval.decide")).order_by(User.full_name)
    ).all()
    holders = approvers or []
    takers = [
        person
        for person in staff
        if any(person.id != holder.id and _eligibility(step, round_, person, holder) is None for holder in holders)
    ]
    return holders, takers


def reassign_approval(round_, *, from_user, to_user, ends_on: date, by, today: date):
    """Hand the late step `from_user` holds to `to_user` until `ends_on`: a delegation made on
    `from_user`'s behalf (the one mechanism by which someone approves for someone else, so the
    agreement's page, the inbox, mail links and the audit all treat it alike), recorded on the
    agreement, and the new approver asked through the outbox."""
    from app.core import audit
    from app.discussions.approval_links import with_decision_links
    from app.workflow.engine import _eligibility
    from app.workflow.services import delegate

    waiting = waiting_approval(round_)
    if waiting is None:
        raise ValidationFailed(_("This approval no longer waits on anyone."))
    agreement, step, started, sla, approvers = waiting
    errors = {}
    if from_user is None or from_user.id not in {person.id for person in approvers}:
        errors["from_id"] = [_("Choose someone this approval waits on.")]
    elif to_user is None or not may_decide_approvals(to_user) or not to_user.is_active:
        errors["to_id"] = [_("Choose an active ministry colleague.")]
    elif to_user.id == from_user.id:
        errors["to_id"] = [_("Choose someone other than the person it waits on.")]
    else:
        refusal = _eligibility(step, round_, to_user, from_user)
        if refusal:
            errors["to_id"] = [refusal]
    if not isinstance(ends_on, date):
        errors["ends_on"] = [_("Give the last day of the delegation.")]
    elif not within_calendar(ends_on):
        errors["ends_on"] = [_("This date is out of range.")]
    elif ends_on < today:
        errors["ends_on"] = [_("The last day cannot be before today.")]
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    delegation = delegate(delegator=from_user, delegate_user=to_user, starts_on=today, ends_on=ends_on, by=by)
    audit.record(
        "approval_reassigned",
        agreement,
        actor=by,
        changes={
            "round": round_.id,
            "step": step.name,
            "from": from_user.email,
            "to": to_user.email,
            "from_name": from_user.full_name,
            "to_name": to_user.full_name,
            "until": ends_on.isoformat(),
            "delegation": delegation.id,
        },
    )
    params = approval_request_params(agreement, round_, step, started, sla) | {
        "handed_by": by.full_name,
        "handed_for": from_user.full_name,
        "until": ends_on.isoformat(),
    }
    notice = Notice(
        kind="approval_requested",
        category="approval_requested",
        params=params,
        link=app_path("agreements.view_agreement", agreement_id=agreement.id),
        object_type="approval_rounds",
        object_id=round_.id,
        extra=approval_request_extra(agreement),
    )
    personal = with_decision_links(notice, round_, step.name, to_user, rule=REASSIGN_RULE)
    notify_once(to_user, personal, rule=REASSIGN_RULE, occurrence_key=step.name)
    return delegation
