"""A person's deadlines as an iCalendar feed (RFC 5545), built with the icalendar library:
deliverable due dates, approval deadlines and agreement end dates."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import (
    edits_own_agreements_only,
    is_ministry,
    is_partner,
    visible_agreements_clause,
    visible_deliverables_clause,
)
from app.extensions import db
from app.notifications import messages
from app.notifications.reminders import local_date, local_midnight, texts, waiting_approval
from app.notifications.services import absolute_url, app_path
from app.workflow.queries import approvals_waiting_on, rounds_due_between

PAST_DAYS = 90  # keep a little history so a missed deadline is still visible
FUTURE_DAYS = 3 * 366


def build_calendar(user, today: date) -> bytes:
    from icalendar import Calendar, Event  # only where a feed is written: ~3 MB in every web worker

    language = user.language if user.language in current_app.config["LANGUAGES"] else "fr"
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "sharaka"
    calendar = Calendar()
    calendar.add("prodid", "-//Sharaka//Partnership deadlines//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    with force_locale(language):
        calendar.add("x-wr-calname", _("Sharaka — %(name)s", name=user.full_name))
        for uid, day, summary, path, description in _items(user, today, language):
            event = Event()
            event.add("uid", f"{uid}@{host}")
            event.add("dtstamp", utcnow())
            event.add("dtstart", day)
            event.add("dtend", day + timedelta(days=1))
            event.add("summary", summary)
            event.add("description", description)
            event.add("url", absolute_url(path))
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
    return calendar.to_ical()


def _items(user, today: date, language: str):
    from app.agreements.models import Agreement
    from app.deliverables.falling_due import falling_due
    from app.deliverables.models import UNFINISHED_STATUSES, Deliverable, Occurrence
    from app.workflow.models import ApprovalRound

    earliest, latest = today - timedelta(days=PAST_DAYS), today + timedelta(days=FUTURE_DAYS)
    agreements_of_user = select(Agreement.id).where(visible_agreements_clause(user))
    if edits_own_agreements_only(user):
        agreements_of_user = agreements_of_user.where(Agreement.owner_id == user.id)

    occurrences = (
        select(Occurrence)
        .join(Deliverable)
        .where(
            Occurrence.status.in_(UNFINISHED_STATUSES),
            Occurrence.due_on >= earliest,
            Occurrence.due_on <= latest,
            # Only what is owed: a draft's plan, or a suspended agreement's, is not due (falling_due).
            Deliverable.agreement_id.in_(agreements_of_user.where(falling_due(today))),
            visible_deliverables_clause(user),
        )
    )
    if is_partner(user):
        occurrences = occurrences.where(Deliverable.responsible_organization_id == user.organization_id)
    for occurrence in db.session.scalars(
        occurrences.options(selectinload(Occurrence.deliverable)).order_by(Occurrence.due_on)
    ):
        deliverable = occurrence.deliverable
        agreement = deliverable.agreement
        item = messages.pick(texts(deliverable, "title"), language)
        yield (
            f"deliverable-{occurrence.id}",
            occurrence.due_on,
            _("Due: %(item)s (%(ref)s)", item=item, ref=agreement.reference),
            app_path("deliverables.view_occurrence", occurrence_id=occurrence.id),
            _(
                "Owed by %(org)s under “%(title)s”.",
                org=messages.pick(texts(deliverable.responsible_organization, "name"), language),
                title=messages.pick(texts(agreement, "title"), language),
            ),
        )

    if is_ministry(user):
        # The database picks the rounds due in the feed's window that wait on this person (the inbox's rule);
        # the engine then says who exactly may approve each of those few.
        rounds = db.session.scalars(
            select(ApprovalRound)
            .join(Agreement, ApprovalRound.agreement_id == Agreement.id)
            .where(
                rounds_due_between(earliest, latest, local_midnight),
                approvals_waiting_on(user, [user]),
            )
            .order_by(ApprovalRound.id)
        )
        for round_ in rounds:
            waiting = waiting_approval(round_)
            if waiting is None:
                continue
            agreement, step, started, sla, approvers = waiting
            if sla is None or started is None or user.id not in {p.id for p in approvers}:
                continue
            deadline = local_date(started) + timedelta(days=sla)
            yield (
                f"approval-{round_.id}-{step.name}",
                deadline,
                _("Approval deadline: %(ref)s", ref=agreement.reference),
                app_path("agreements.view_agreement", agreement_id=agreement.id),
                messages.pick(texts(agreement, "title"), language),
            )

    # Its real end: one renewing by itself has its notice deadline below instead.
    from app.agreements.renewals import awaiting_notice, ending_between

    ending = select(Agreement).where(Agreement.id.in_(agreements_of_user), ending_between(earliest, latest))
    for agreement in db.session.scalars(ending.order_by(Agreement.expires_on)):
        yield (
            f"agreement-end-{agreement.id}-{agreement.expires_on}",
            agreement.expires_on,
            _("Ends: %(ref)s", ref=agreement.reference),
            app_path("agreements.view_agreement", agreement_id=agreement.id),
            messages.pick(texts(agreement, "title"), language),
        )

    # The last day to give notice of non-renewal: past it, the agreement renews itself (or its renewal is
    # due), the one date that changes the ministry's commitments, and it was in no calendar.
    deadline_of = Agreement.notice_deadline
    notice_due = select(Agreement, deadline_of).where(
        Agreement.id.in_(agreements_of_user),
        awaiting_notice(),
        deadline_of >= earliest,
        deadline_of <= latest,
    )
    for agreement, deadline in db.session.execute(notice_due.order_by(deadline_of, Agreement.id)):
        yield (
            f"notice-deadline-{agreement.id}",
            deadline,
            _("Last day for notice of non-renewal: %(ref)s", ref=agreement.reference),
            app_path("agreements.view_agreement", agreement_id=agreement.id),
            messages.pick(texts(agreement, "title"), language),
        )
