"""Acting on renewal terms (app/agreements/renewals.py): the tacit renewal the daily tick applies on
the end date, and "Renew", which starts a linked renewal agreement prefilled from the current one.

A tacit renewal extends the end date by `renewal_months` on the end date itself (before the expiry
move of the same tick), unless a notice was recorded.
"""

from __future__ import annotations

from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.agreements.models import Agreement
from app.agreements.renewals import clean_terms, current_terms, renewing_tacitly
from app.core import audit
from app.core.dates import months_later, within_calendar
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import can
from app.extensions import db
from app.workflow import engine

# --- tacit renewal (the daily tick) ----------------------------------------------------------


def renew_tacitly(today: date) -> list[tuple[str, str, str]]:
    """Extend every active agreement renewed tacitly whose end date has come and no notice was
    given, by its renewal months (as often as needed to pass today, after a tick that did not run).
    Each agreement in its own savepoint: one that fails is rolled back alone and reported."""
    candidates = db.session.scalars(
        select(Agreement).where(renewing_tacitly(), Agreement.expires_on <= today).order_by(Agreement.id)
    ).all()
    results = []
    from app.notifications.reminders import People

    people = People() if candidates else None  # who is told, read once for every renewal of the tick
    for agreement in candidates:
        try:
            with db.session.begin_nested():
                outcome = extend(agreement, today, people)
                db.session.flush()
            results.append((agreement.reference, "renew_tacitly", outcome))
        except StaleDataError:
            results.append((agreement.reference, "renew_tacitly", "skipped: changed meanwhile"))
        except Exception as error:  # one agreement's fault never stops the others
            results.append((agreement.reference, "renew_tacitly", f"failed: {type(error).__name__}: {error}"[:1000]))
    return results


def extend(agreement, today: date, people) -> str:
    """One tacit renewal: the end date moves on, the history says from what to what, and recurring
    deliverables that ran to the old end follow the new one (as after an amendment). Under a parent whose
    definition refuses a child ending after it, the renewal stops at the parent's end (none when the parent
    ends first: the child ends with it). What happened, for the tick's report."""
    from app.agreements.amendments import follow_end_date
    from app.workflow.children import latest_end_under_parent

    old_end = new_end = agreement.expires_on
    while new_end <= today:
        new_end = months_later(new_end, agreement.renewal_months)
    limit = latest_end_under_parent(agreement)
    if limit is not None and new_end > limit:
        # Not a shorter term than its clause says (a day's renewal, told as 24 months): it ends with its term.
        return f"skipped: its parent {agreement.parent.reference} ends on {limit.isoformat()}, before a full term"
    agreement.expires_on = new_end
    agreement.updated_at = utcnow()
    audit.record(
        "renewed_tacitly",
        agreement,
        actor=None,
        changes={
            "before": {"expires_on": old_end.isoformat()},
            "after": {"expires_on": new_end.isoformat()},
            "automatic_on": today.isoformat(),
            "renewal_months": agreement.renewal_months,
        },
    )
    follow_end_date(agreement, old_end, by=None, comment=None)
    _tell_of_renewal(agreement, old_end, people)
    return "done"


def _tell_of_renewal(agreement, old_end: date, people) -> None:
    """A tacit renewal commits the ministry and its partners for another term: the owner, the managers
    who receive escalations and the partners' users are told of the new end and the next notice deadline."""
    from app.agreements.models import is_partner_party
    from app.notifications.reminders import _people, agreement_params
    from app.notifications.services import Notice, app_path, notify

    partners = [
        user
        for party in agreement.parties
        if is_partner_party(party.role)
        for user in people.partners.get(party.organization_id, [])
    ]
    deadline = agreement.notice_deadline
    notice = Notice(
        kind="agreement_renewed",
        category="agreement_activity",
        params={
            **agreement_params(agreement),
            "previous_end": old_end.isoformat(),
            "expires_on": agreement.expires_on.isoformat(),
            "months": agreement.renewal_months,
            "notice_deadline": deadline.isoformat() if deadline else None,
        },
        link=app_path("agreements.view_agreement", agreement_id=agreement.id),
        object_type="agreements",
        object_id=agreement.id,
    )
    for person in _people([people.by_id.get(agreement.owner_id)], people.holding("escalation.receive"), partners):
        notify(person, notice)


# --- "Renew": a linked renewal agreement ---------------------------------------------------


def open_renewal(agreement) -> Agreement | None:
    """A renewal agreement of `agreement` still under way (not in a final state), if any."""
    from app.workflow.engine import definition_for

    for renewal in agreement.renewals:
        if definition_for(renewal).states[renewal.state].kind != "final":
            return renewal
    return None


def may_renew(agreement) -> bool:
    parent = agreement.parent if agreement.parent_id else None
    return (
        engine.state_has(agreement, "in_force")
        and agreement.type != "amendment"
        and not (parent is not None and engine.has_ended(parent))  # create_agreement would refuse it
    )


def offers_renewal(agreement) -> bool:
    """Whether the agreement's page offers to start a renewal: `renew` would refuse a second one while
    one is under way."""
    return may_renew(agreement) and open_renewal(agreement) is None


def term_of(began: date | None, handed_over: date | None) -> relativedelta | None:
    """An agreement's term in whole months, from its first day to the day after its last: "1 July 2025 to
    30 June 2027" and "1 July 2025 to 1 July 2027" are both two years. Counted to the day, the first was
    "1 year, 11 months and 29 days", which had ended its renewal two days short and moved its budget years
    by one year and its due dates to the 29th. A term shorter than half a month is kept in days."""
    if not began or not handed_over or handed_over <= began:
        return None
    exact = relativedelta(handed_over, began)
    months = exact.years * 12 + exact.months + (1 if exact.days >= 15 else 0)
    return relativedelta(months=months) if months else relativedelta(days=exact.days)


def renew(agreement, *, by, today: date | None = None) -> Agreement:
    """Start a renewal agreement prefilled from `agreement` (type, titles, summaries, parties, owner,
    parent, renewal terms, budget lines and plan), starting on its end date, linked both ways."""
    from app.agreements.services import AgreementData, create_agreement

    if not can(by, "agreement.edit", agreement) or not can(by, "agreement.create"):
        raise PermissionDenied(_("Only the agreement's owner or a manager renews it."))
    if not may_renew(agreement):
        raise ValidationFailed(_("Only a signed agreement that has not ended can be renewed."))
    existing = open_renewal(agreement)
    if existing is not None:
        raise ValidationFailed(_("%(ref)s already renews this agreement.", ref=existing.reference))
    # In force through its end date, the agreement hands over the next day (both had been in force that day);
    # the renewal ends on the same day of the year, one term later.
    start = agreement.expires_on + timedelta(days=1) if agreement.expires_on else None
    term = term_of(agreement.effective_on or agreement.signed_on, start)
    if start is not None and not within_calendar(start):
        start = None  # the old one ends on the calendar's last day: the officer dates the renewal
    data = AgreementData(
        type=agreement.type,
        **{
            name: getattr(agreement, name)
            for name in ("title_ar", "title_fr", "title_en", "summary_ar", "summary_fr", "summary_en")
        },
        owner_id=agreement.owner_id if agreement.owner_id else None,
        parent_id=agreement.parent_id,
        parties=[(p.organization_id, p.role) for p in agreement.parties],
        **clean_terms(current_terms(agreement)),
    )
    data.signed_on = None
    data.effective_on = start
    # One term from its first day, less a day: 1 January - 30 June renews to 31 December, not the 30th.
    data.expires_on = start + term - timedelta(days=1) if start and term else None
    try:
        renewal = create_agreement(data, by=by, today=today)
    except ValidationFailed as error:
        if "expires_on" not in error.field_errors:
            raise
        data.expires_on = None  # past the parent's end: the officer sets it
        renewal = create_agreement(data, by=by, today=today)
    renewal.renewal_of = agreement
    _copy_budget(agreement, renewal, term, by)
    _copy_plan(agreement, renewal, term, by)
    audit.record("renewal_started", agreement, actor=by, changes={"renewal": renewal.reference})
    audit.record("renewal_of", renewal, actor=by, changes={"renews": agreement.reference})
    db.session.flush()
    return renewal


def _copy_budget(agreement, renewal, term, by) -> None:
    from app.budget.models import BudgetLine
    from app.budget.services import lines_of

    years = term.years if term is not None else 0
    for line in lines_of(agreement):
        db.session.add(
            BudgetLine(
                agreement_id=renewal.id,
                organization_id=line.organization_id,
                label=line.label,
                amount=line.amount,
                currency=line.currency,
                kind=line.kind,
                year=line.year + years if line.year else None,
                period=line.period,
                is_illustrative=line.is_illustrative,
                created_by_id=getattr(by, "id", None),
            )
        )


def _moved_on(day: date, term: relativedelta) -> date:
    """A due date one term later; a month's last day stays one (30 June, 31 December), as tacit renewals keep it."""
    months = term.years * 12 + term.months
    return months_later(day, months) if months else day + term


def _copy_plan(agreement, renewal, term, by) -> None:
    """The plan moved on by the current term's length; without a known term, nothing to place it by."""
    from app.deliverables.models import Deliverable
    from app.deliverables.services import PlanData, plan_deliverable

    if term is None:
        return
    for line in db.session.scalars(
        select(Deliverable).where(Deliverable.agreement_id == agreement.id).order_by(Deliverable.id)
    ):
        moved = [_moved_on(line.first_due_on, term), *([_moved_on(line.until_on, term)] if line.until_on else [])]
        if not all(within_calendar(day) for day in moved):
            continue  # past 2200, as the renewal's end then is: nothing to place it by
        plan_deliverable(
            renewal,
            PlanData(
                title_fr=line.title_fr,
                title_ar=line.title_ar,
                title_en=line.title_en,
                description=line.description,
                responsible_organization_id=line.responsible_organization_id,
                recurrence=line.recurrence,
                first_due_on=moved[0],
                until_on=moved[1] if line.until_on else None,
            ),
            by=by,
        )
