"""Reminders a person sends by hand (the dashboard's "Send a reminder" on someone else's late approval).

Once a day per approval: the first click of the day queues one notice and e-mail (through the outbox)
to each person who may decide the waiting step; later clicks that day, by anyone, are refused.
"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from app.core.errors import ValidationFailed
from app.notifications.reminders import agreement_params, local_date, waiting_approval
from app.notifications.services import Notice, app_path, notify_once

RULE = "manual_approval_reminder"


def remind_approvers(round_, *, by, today: date) -> int:
    """Remind the people the round's current step waits on; how many were reminded."""
    waiting = waiting_approval(round_)
    if waiting is None:
        raise ValidationFailed(_("This approval no longer waits on anyone."))
    agreement, _step, started, sla, approvers = waiting
    people = [person for person in approvers if person.id != by.id]
    if not people:
        raise ValidationFailed(_("Nobody else can decide this approval: open it and decide yourself."))
    params = {**agreement_params(agreement), "days": (today - local_date(started)).days, "sla": sla or 0,
              "waiting": ", ".join(person.full_name for person in approvers), "reminded_by": by.full_name}
    notice = Notice(kind="approval_overdue", category="approval_overdue", params=params,
                    link=app_path("agreements.view_agreement", agreement_id=agreement.id),
                    object_type="approval_rounds", object_id=round_.id)
    sent = sum(notify_once(person, notice, rule=RULE, occurrence_key=today.isoformat()) for person in people)
    if not sent:
        raise ValidationFailed(_("A reminder for this approval was already sent today."))
    return sent
