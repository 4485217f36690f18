"""Renewals: an agreement's renewal terms and notice period, the notice deadline they give
(`Agreement.notice_deadline`) and a notice of non-renewal. The tacit renewal the daily tick applies
on the end date and "Renew", which starts a linked renewal agreement prefilled from the current
one, are in app/agreements/renewing.py (they call the amendment and agreement services, which
read the terms here).

The notice deadline is the end date less the notice period: the last day either side may say it
does not want the agreement to go on. A tacit renewal extends the end date by `renewal_months` on
the end date itself (before the expiry move of the same tick), unless a notice was recorded.
"""

from __future__ import annotations

from datetime import date
from functools import cache

from blinker import Namespace
from flask import current_app
from flask_babel import format_date
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from app.agreements.models import NOTICE_SIDES, NOTICE_UNITS, RENEWAL_TERMS, Agreement
from app.core import audit, clock, sql_dates
from app.core.dates import months_later, within_calendar
from app.core.db import check_version, flush_or_conflict
from app.core.errors import PermissionDenied, ValidationFailed
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import can
from app.extensions import db
from app.workflow import engine, queries

RENEWAL_FIELDS = ("renewal_terms", "renewal_months", "notice_period", "notice_unit")
# Where a renewal means something: signed and not ended yet.
MAX_RENEWAL_MONTHS = 120
MAX_NOTICE = {"months": 60, "days": 1800}


def clean_terms(values: dict) -> dict:
    """Check renewal terms given as plain values ({renewal_terms, renewal_months, notice_period,
    notice_unit}); return them complete and cleaned, or raise ValidationFailed naming each field."""
    errors: dict[str, list[str]] = {}
    terms = values.get("renewal_terms") or "none"
    if terms not in RENEWAL_TERMS:
        errors["renewal_terms"] = [_("Choose how the agreement is renewed.")]
    months = _whole(values.get("renewal_months"), "renewal_months", 1, MAX_RENEWAL_MONTHS, errors)
    unit = values.get("notice_unit") or "months"
    if unit not in NOTICE_UNITS:
        errors["notice_unit"] = [_("Give the notice period in months or days.")]
        unit = "months"
    period = _whole(values.get("notice_period"), "notice_period", 1, MAX_NOTICE[unit], errors)
    if terms == "tacit" and months is None and "renewal_months" not in errors:
        errors["renewal_months"] = [_("Say for how many months a tacit renewal extends the agreement.")]
    if terms == "none":
        months = period = None
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    return {
        "renewal_terms": terms,
        "renewal_months": months if terms == "tacit" else None,
        "notice_period": period,
        "notice_unit": unit if period else None,
    }


def _whole(value, name: str, low: int, high: int, errors: dict) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
        if isinstance(value, bool) or str(number) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        errors[name] = [_("Give a whole number.")]
        return None
    if not low <= number <= high:
        errors[name] = [_("Give a number between %(low)s and %(high)s.", low=low, high=high)]
        return None
    return number


def current_terms(agreement) -> dict:
    return {name: getattr(agreement, name) for name in RENEWAL_FIELDS}


def describe(terms: dict) -> str:
    """Renewal terms in one sentence, as the pages and the amendment comparison show them."""
    kind = terms.get("renewal_terms") or "none"
    said = str(RENEWAL_TERMS.get(kind, kind))
    if kind == "tacit" and terms.get("renewal_months"):
        said = _("Tacit renewal for %(num)s months unless notice is given", num=terms["renewal_months"])
    if kind != "none" and terms.get("notice_period"):
        unit = str(NOTICE_UNITS.get(terms.get("notice_unit") or "months"))
        said += " — " + _("notice: %(num)s %(unit)s before the end date", num=terms["notice_period"], unit=unit)
    return said


# --- notice of non-renewal -------------------------------------------------------------------


def record_non_renewal(
    agreement,
    *,
    by,
    given_on: date | None,
    side: str,
    upload=None,
    expected_version: int,
    organization_id: int | None = None,
) -> None:
    """Record that one side gave notice it does not renew: a tacit renewal no longer happens and
    the notice reminders stop. The notice must be given by the deadline. A partner's notice names the
    partner organisation that gave it (`organization_id`; the only partner when there is one)."""
    check_version(agreement, expected_version)
    if not can(by, "agreement.edit", agreement):
        raise PermissionDenied(_("Only the agreement's owner or a manager records a notice of non-renewal."))
    if agreement.renewal_terms == "none" or not engine.state_has(agreement, "in_force"):
        raise ValidationFailed(_("Only a signed agreement with renewal terms can be given notice of non-renewal."))
    if agreement.non_renewal_on is not None:
        raise ValidationFailed(_("A notice of non-renewal is already recorded."))
    errors: dict[str, list[str]] = {}
    if not isinstance(given_on, date):
        errors["given_on"] = [_("Give the date of the notice.")]
    elif not within_calendar(given_on):
        errors["given_on"] = [_("This date is out of range.")]
    elif given_on > clock.today():  # recorded once given, as a signature is
        errors["given_on"] = [_("A notice cannot be dated in the future.")]
    elif agreement.signed_on and given_on < agreement.signed_on:
        # A notice given before the agreement existed is a typing slip, which nothing would undo.
        errors["given_on"] = [
            _(
                "A notice cannot be dated before the agreement was signed (%(date)s).",
                date=format_date(agreement.signed_on),
            )
        ]
    elif agreement.notice_deadline and given_on > agreement.notice_deadline:
        errors["given_on"] = [
            _(
                "The notice deadline was %(date)s: a later notice does not stop the renewal. "
                "Amend or terminate the agreement instead.",
                date=agreement.notice_deadline,
            )
        ]
    if side not in NOTICE_SIDES:
        errors["side"] = [_("Say which side gave notice.")]
    giver = _notice_giver(agreement, side, organization_id, errors)
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), errors)
    document = None
    if upload is not None:
        from app.workflow.documents import attach_document

        document = attach_document(agreement, "other", upload, by=by, field="document")
        db.session.flush()
    agreement.non_renewal_on, agreement.non_renewal_by = given_on, side
    agreement.non_renewal_organization_id = giver
    agreement.non_renewal_document_id = document.id if document is not None else None
    agreement.updated_at = utcnow()
    flush_or_conflict()
    audit.record(
        "non_renewal_notice",
        agreement,
        actor=by,
        changes={
            "after": {
                "non_renewal_on": given_on.isoformat(),
                "non_renewal_by": side,
                "non_renewal_organization_id": giver,
                "document": document.original_name if document is not None else None,
            }
        },
    )
    non_renewal_recorded.send(current_app._get_current_object(), agreement=agreement, by=by)


def withdraw_non_renewal(agreement, *, by, reason: str | None, expected_version: int) -> None:
    """Take back a notice of non-renewal recorded in error (a wrong date or side, a notice never given),
    with the reason in the history: nothing else undid it, and it silently cancelled renewal terms
    agreed later. The notice's document stays among the agreement's documents."""
    from app.core.text import trimmed

    check_version(agreement, expected_version)
    if not can(by, "agreement.edit", agreement):
        raise PermissionDenied(_("Only the agreement's owner or a manager withdraws a notice of non-renewal."))
    if agreement.non_renewal_on is None:
        raise ValidationFailed(_("No notice of non-renewal is recorded."))
    if not engine.state_has(agreement, "in_force"):
        raise ValidationFailed(_("Only a notice on an agreement in force can be withdrawn."))
    reason = trimmed(reason or "")[:2000]
    if not reason:
        message = _("Say why the notice is withdrawn.")
        raise ValidationFailed(message, {"reason": [message]})
    before = {
        "non_renewal_on": agreement.non_renewal_on.isoformat(),
        "non_renewal_by": agreement.non_renewal_by,
        "non_renewal_organization_id": agreement.non_renewal_organization_id,
    }
    agreement.non_renewal_on = agreement.non_renewal_by = None
    agreement.non_renewal_organization_id = agreement.non_renewal_document_id = None
    agreement.updated_at = utcnow()
    flush_or_conflict()
    audit.record("non_renewal_withdrawn", agreement, actor=by, changes={"before": before, "reason": reason})
    non_renewal_withdrawn.send(current_app._get_current_object(), agreement=agreement, by=by, reason=reason)


def _notice_giver(agreement, side: str, organization_id, errors: dict) -> int | None:
    """The partner organisation that gave notice: the one named, which must be a partner of the agreement,
    or the only partner; none for the ministry's notice."""
    partners = agreement.partner_organization_ids
    if side != "partner":
        if organization_id is not None:
            errors["organization_id"] = [_("The ministry's notice names no partner.")]
        return None
    if organization_id is None:
        if len(partners) == 1:
            return partners[0]
        errors["organization_id"] = [_("Say which partner gave notice.")]
        return None
    if organization_id not in partners:
        errors["organization_id"] = [_("Choose one of the agreement's partners.")]
        return None
    return organization_id


# A notice of non-renewal recorded (record_non_renewal), or withdrawn (withdraw_non_renewal): the
# notifications tell who it concerns.
non_renewal_recorded = Namespace().signal("non-renewal-recorded")
non_renewal_withdrawn = Namespace().signal("non-renewal-withdrawn")


def renews_tacitly(agreement) -> bool:
    """Whether the agreement renews by itself at its end date: in force (a suspension pauses what is
    owed, not the term: a suspended agreement had expired on its end date instead of renewing, with no
    notice given), renewed tacitly by its terms, no notice of non-renewal given, and a full term fits
    under its parent (stopped_by_parent). Its end is then no end: pages and reminders say it renews.
    (The SQL twin: renewing_tacitly.)"""
    return (
        engine.state_has(agreement, "in_force")
        and agreement.renewal_terms == "tacit"
        and agreement.non_renewal_on is None
        and agreement.renewal_months is not None
        and agreement.expires_on is not None
        and not stopped_by_parent(agreement)
    )


def stopped_by_parent(agreement) -> bool:
    """Its next term would end after its parent's end, and the parent's definition refuses a child ending
    after it: it ends with its term (renewing.extend renews it for no shorter term), so its end is a real
    end, reminded of as one, and no notice of non-renewal is asked for. (SQL: in renewing_tacitly.)"""
    from app.workflow.children import latest_end_under_parent

    limit = latest_end_under_parent(agreement)
    return limit is not None and months_later(agreement.expires_on, agreement.renewal_months) > limit


def renewing_tacitly():
    """SQL: the agreements renews_tacitly holds for."""
    return and_(
        queries.in_state_tagged("in_force"),
        Agreement.renewal_terms == "tacit",
        Agreement.non_renewal_on.is_(None),
        Agreement.renewal_months.is_not(None),
        Agreement.expires_on.is_not(None),
        ~_stopped_by_parent(),
    )


# "Ending soon", as the dashboards' cards and the managers' weekly digest count it (their words say 90 days).
ENDING_WITHIN_DAYS = 90


def ending_for_good():
    """SQL: agreements in force with an end date they do not renew by themselves at (renewing_tacitly)."""
    return and_(queries.in_state_tagged("in_force"), Agreement.expires_on.is_not(None), ~renewing_tacitly())


def ending_between(first: date, last: date):
    """SQL: agreements in force that really end on a day from `first` to `last`: their end date falls
    then and they do not renew by themselves at it (ending_for_good). The one rule for every list of
    agreements "ending": the reminders, the weekly digest, the dashboards, the calendars and the list a
    calendar's day links to."""
    return and_(ending_for_good(), Agreement.expires_on >= first, Agreement.expires_on <= last)


def awaiting_notice():
    """SQL: agreements in force whose notice of non-renewal may still matter, so its deadline is listed,
    shown in calendars and reminded of: none given yet, and not a tacit renewal its parent stops (that one
    ends with its term whatever either side says)."""
    return and_(
        queries.in_state_tagged("in_force"),
        Agreement.non_renewal_on.is_(None),
        or_(Agreement.renewal_terms.is_(None), Agreement.renewal_terms != "tacit", ~_stopped_by_parent()),
    )


@cache
def _parent():
    """The parent, as _stopped_by_parent reads it: made once (at first use, when every model is mapped), as an
    alias of the agreements' forty-odd columns took a millisecond to make on every dashboard and calendar."""
    return aliased(Agreement, name="stopping_parent")


def _stopped_by_parent():
    """SQL: stopped_by_parent (its renewal months and end date given)."""
    parent = _parent()
    return (
        select(parent.id)
        .where(
            parent.id == Agreement.parent_id,
            Agreement.type != "amendment",
            parent.expires_on.is_not(None),
            sql_dates.months_later(Agreement.expires_on, Agreement.renewal_months) > parent.expires_on,
            queries.refuses_later_children(parent),
        )
        .correlate(Agreement)
        .exists()
    )
