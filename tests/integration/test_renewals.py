"""Renewals: renewal terms and notice period on the form, the page and the API (and through an
amendment), the notice deadline's reminders, the tacit renewal of the daily tick (the history,
the plan following the new end, a notice of non-renewal stopping it) and "Renew"."""

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from sqlalchemy import select

from app.agreements import amendments, renewals
from app.agreements.models import Agreement, AgreementParty
from app.budget.models import BudgetLine
from app.core import clock
from app.core.audit import history_for
from app.core.errors import ValidationFailed
from app.deliverables import services as deliverable_services
from app.extensions import db
from app.notifications import reminders
from app.notifications.messages import detail, headline
from app.notifications.models import Notification
from app.workflow import date_moves
from tests import factories
from tests.integration.test_api import api, tokens  # noqa: F401  (fixtures)

CASA = clock.zone_named("Africa/Casablanca")  # the app's own zone data (tzdata), not the system's
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


def tacit(agreement, *, months=12, notice=3, unit="months", start=date(2025, 7, 1), end=date(2026, 1, 1)):
    agreement.effective_on, agreement.expires_on = start, end
    agreement.renewal_terms, agreement.renewal_months = "tacit", months
    agreement.notice_period, agreement.notice_unit = notice, unit
    db.session.commit()
    return agreement


# --- the rule ----------------------------------------------------------------------------------


def test_the_notice_deadline_is_the_end_date_less_the_notice_period(world):
    agreement = world.agreement_a
    assert agreement.notice_deadline is None  # no renewal terms
    tacit(agreement, notice=3, end=date(2026, 5, 31))
    assert agreement.notice_deadline == date(2026, 2, 28)
    agreement.notice_period, agreement.notice_unit = 45, "days"
    assert agreement.notice_deadline == date(2026, 4, 16)


@pytest.mark.parametrize(
    "end, notice, unit, expected",
    [
        (date(2026, 5, 31), 3, "months", date(2026, 2, 28)),  # a shorter month: its last day
        (date(2028, 3, 31), 1, "months", date(2028, 2, 29)),  # a leap year's February
        (date(2027, 8, 31), 6, "months", date(2027, 2, 28)),
        (date(2027, 12, 31), 6, "months", date(2027, 6, 30)),
        (date(2027, 1, 15), 12, "months", date(2026, 1, 15)),  # across a year
        (date(2027, 3, 1), 30, "days", date(2027, 1, 30)),
        (date(2028, 3, 1), 1, "days", date(2028, 2, 29)),
        (date(2027, 3, 1), 60, "months", date(2022, 3, 1)),  # the longest notice
    ],
)
def test_the_database_reckons_the_notice_deadline_as_python_does(world, end, notice, unit, expected):
    """Agreement.notice_deadline in SQL (dashboards, reminders) gives the day the Python property gives,
    on SQLite and on PostgreSQL, month ends and leap days included."""
    agreement = tacit(world.agreement_a, notice=notice, unit=unit, end=end)
    in_sql = db.session.scalar(select(Agreement.notice_deadline).where(Agreement.id == agreement.id))
    assert agreement.notice_deadline == expected
    assert in_sql == expected


def test_the_database_has_no_notice_deadline_where_python_has_none(world):
    agreement = tacit(world.agreement_a, notice=3, end=date(2027, 5, 31))
    for change in ({"renewal_terms": "none"}, {"notice_period": None}, {"expires_on": None}):
        for name, value in change.items():
            setattr(agreement, name, value)
        db.session.commit()
        assert agreement.notice_deadline is None
        assert db.session.scalar(select(Agreement.notice_deadline).where(Agreement.id == agreement.id)) is None
        tacit(agreement, notice=3, end=date(2027, 5, 31))


def test_the_database_moves_an_end_on_by_a_term_as_python_does(app):
    """The next term's end (core/sql_dates.months_later, which says whether a parent stops a renewal) is
    core.dates.months_later's: the same day, the month's last day when shorter, a month's end kept."""
    from sqlalchemy import Date, Integer, bindparam, literal, union_all

    from app.core import sql_dates
    from app.core.dates import months_later

    days = [date(2027, 1, 1) + timedelta(days=n) for n in range(0, 800, 3)]
    days += [date(2028, 2, 28), date(2028, 2, 29), date(2027, 2, 28), date(2027, 1, 31), date(2027, 3, 30)]
    for months in (1, 2, 12, 13, 24):
        rows = [
            select(literal(n), sql_dates.months_later(bindparam(f"d{n}", day, Date), literal(months, Integer)))
            for n, day in enumerate(days)
        ]
        found = [day for _n, day in sorted(db.session.execute(union_all(*rows)).all())]
        found = [date.fromisoformat(day) if isinstance(day, str) else day for day in found]
        assert found == [months_later(day, months) for day in days], months


@pytest.mark.parametrize(
    "values, field",
    [
        ({"renewal_terms": "forever"}, "renewal_terms"),
        ({"renewal_terms": "tacit"}, "renewal_months"),
        ({"renewal_terms": "tacit", "renewal_months": 0}, "renewal_months"),
        ({"renewal_terms": "tacit", "renewal_months": "twelve"}, "renewal_months"),
        ({"renewal_terms": "by_agreement", "notice_period": 3, "notice_unit": "weeks"}, "notice_unit"),
        ({"renewal_terms": "by_agreement", "notice_period": 100, "notice_unit": "months"}, "notice_period"),
    ],
)
def test_bad_renewal_terms_name_the_field(app, values, field):
    with pytest.raises(ValidationFailed) as raised:
        renewals.clean_terms(values)
    assert field in raised.value.field_errors


def test_a_tacit_renewal_extends_the_end_on_the_end_date_and_the_plan_follows(world):
    officer = world.users["officer"]
    agreement = tacit(world.agreement_a, months=12, end=date(2026, 1, 1))
    deliverable = deliverable_services.plan_deliverable(
        agreement,
        deliverable_services.PlanData(
            title_fr="Rapport",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="quarterly",
            first_due_on=date(2025, 7, 1),  # the day it took effect
        ),
        by=officer,
    )
    db.session.commit()
    assert len(deliverable.occurrences) == 3  # July, October, January
    assert ("MTNRA" not in "") and date_moves.run_date_transitions(date(2025, 12, 31)) == []  # the day before: nothing
    results = date_moves.run_date_transitions(date(2026, 1, 1))
    db.session.commit()
    assert (agreement.reference, "renew_tacitly", "done") in results
    assert agreement.state == "active" and agreement.expires_on == date(2027, 1, 1)  # not expired
    assert not any(name == "expire" and ref == agreement.reference for ref, name, _o in results)
    row = next(r for r in history_for("agreements", agreement.id) if r.action == "renewed_tacitly")
    assert row.changes["before"] == {"expires_on": "2026-01-01"} and row.changes["after"] == {
        "expires_on": "2027-01-01"
    }
    db.session.refresh(deliverable)
    assert deliverable.until_on == date(2027, 1, 1) and len(deliverable.occurrences) == 7  # reused amendment code
    assert any(r.action == "deliverable_replanned" for r in history_for("agreements", agreement.id))
    assert date_moves.run_date_transitions(date(2026, 1, 1)) == []  # twice: nothing more


def test_a_suspended_agreement_renews_by_itself_and_stays_suspended(world):
    """A suspension pauses what is owed, not the term: on its end date a suspended agreement that renews
    tacitly renews (it had expired, with no notice given by anyone), and stays suspended."""
    agreement = tacit(world.agreement_a, months=12, end=date(2026, 1, 1))
    agreement.state = "suspended"
    db.session.commit()
    results = date_moves.run_date_transitions(date(2026, 1, 2))
    db.session.commit()
    assert (agreement.reference, "renew_tacitly", "done") in results
    assert (agreement.state, agreement.expires_on) == ("suspended", date(2027, 1, 1))


def test_a_notice_of_non_renewal_stops_the_tacit_renewal(world):
    officer = world.users["officer"]
    agreement = tacit(world.agreement_a, notice=3, end=date(2026, 1, 1))
    with pytest.raises(ValidationFailed) as late:  # after the deadline (2025-10-01) it no longer counts
        renewals.record_non_renewal(
            agreement, by=officer, given_on=date(2025, 10, 2), side="partner", expected_version=agreement.version
        )
    assert "given_on" in late.value.field_errors
    renewals.record_non_renewal(
        agreement, by=officer, given_on=date(2025, 9, 15), side="partner", expected_version=agreement.version
    )
    db.session.commit()
    assert date_moves.run_date_transitions(date(2026, 1, 1)) == []  # in force through its last day
    results = date_moves.run_date_transitions(date(2026, 1, 2))
    db.session.commit()
    assert (agreement.reference, "expire", "done") in results and agreement.state == "expired"
    assert agreement.expires_on == date(2026, 1, 1)


def test_a_notice_dated_outside_the_kept_calendar_is_refused(world):
    officer = world.users["officer"]
    agreement = tacit(world.agreement_a, notice=3, end=date(2026, 1, 1))
    with pytest.raises(ValidationFailed) as refused:
        renewals.record_non_renewal(
            agreement, by=officer, given_on=date(1, 1, 1), side="ministry", expected_version=agreement.version
        )
    assert refused.value.field_errors == {"given_on": ["This date is out of range."]}
    assert agreement.non_renewal_on is None


def test_a_notice_dated_in_the_future_is_refused(world):
    """A notice is recorded once given: one dated next month stopped the renewal at once."""
    officer = world.users["officer"]
    agreement = tacit(world.agreement_a, notice=3, end=date(2030, 1, 1))
    with pytest.raises(ValidationFailed) as refused:
        renewals.record_non_renewal(
            agreement,
            by=officer,
            given_on=clock.today() + timedelta(days=27),
            side="ministry",
            expected_version=agreement.version,
        )
    assert refused.value.field_errors == {"given_on": ["A notice cannot be dated in the future."]}
    assert agreement.non_renewal_on is None


def test_one_broken_renewal_does_not_stop_the_others(world):
    first = tacit(world.agreement_a, end=date(2026, 1, 1))
    second = tacit(world.agreement_b, start=date(2025, 7, 2), end=date(2026, 1, 1))
    first.renewal_months = 100000  # a date past year 9999: this one fails alone
    db.session.commit()
    results = date_moves.run_date_transitions(date(2026, 1, 1))
    db.session.commit()
    outcomes = {ref: outcome for ref, name, outcome in results if name == "renew_tacitly"}
    assert outcomes[first.reference].startswith("failed: ") and outcomes[second.reference] == "done"
    assert second.expires_on == date(2027, 1, 1)


# --- reminders ----------------------------------------------------------------------------------


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=CASA)


def _notice_rows(agreement, day: date):
    return {
        (c.rule, c.occurrence_key, c.recipient.email)
        for c in reminders.candidates_at(_at(day))
        if c.rule == "notice_deadline" and c.notice.object_id == agreement.id
    }


def test_reminders_before_and_at_the_notice_deadline_and_a_moved_date_rearms_them(world):
    today = datetime.now(CASA).date()
    agreement = tacit(world.agreement_a, notice=2, start=today - timedelta(days=300), end=today + timedelta(days=200))
    deadline = agreement.notice_deadline
    officer, manager = world.users["officer"].email, world.users["manager"].email
    assert _notice_rows(agreement, deadline - timedelta(days=31)) == set()
    assert _notice_rows(agreement, deadline - timedelta(days=30)) == {
        ("notice_deadline", f"{deadline}:30d", officer),
        ("notice_deadline", f"{deadline}:30d", manager),
    }
    assert _notice_rows(agreement, deadline) == {
        ("notice_deadline", f"{deadline}:0d", officer),
        ("notice_deadline", f"{deadline}:0d", manager),
    }
    assert _notice_rows(agreement, deadline + timedelta(days=1)) == set()
    reminders.run_pass(_at(deadline - timedelta(days=30)))
    db.session.commit()
    assert reminders.unsent(reminders.candidates_at(_at(deadline - timedelta(days=29)))) == [] or all(
        c.rule != "notice_deadline"
        for c in reminders.unsent(reminders.candidates_at(_at(deadline - timedelta(days=29))))
    )
    agreement.expires_on = agreement.expires_on + timedelta(days=10)  # an amendment moved the end
    db.session.commit()
    moved = agreement.notice_deadline
    assert {key for _r, key, _e in _notice_rows(agreement, moved - timedelta(days=30))} == {f"{moved}:30d"}
    renewals.record_non_renewal(
        agreement, by=world.users["officer"], given_on=today, side="ministry", expected_version=agreement.version
    )
    db.session.commit()
    assert _notice_rows(agreement, moved) == set()  # notice given: no more reminders


# --- pages --------------------------------------------------------------------------------------


def _form(agreement, world, **overrides):
    data = {
        "type": agreement.type,
        "title_fr": agreement.title_fr,
        "partners": [str(world.partner_a.id)],
        "version": str(agreement.version),
        "owner_id": str(agreement.owner_id),
        "renewal_terms": "tacit",
        "renewal_months": "24",
        "notice_period": "6",
        "notice_unit": "months",
        "effective_on": "2025-01-01",
        "expires_on": "2027-01-01",
    }
    return {**data, **overrides}


def test_the_owner_sets_renewal_terms_on_the_form_and_the_page_shows_the_deadline(signed_in, world):
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Brouillon")
    db.session.commit()
    officer = signed_in("officer")
    response = officer.post(f"/agreements/{draft.id}/edit", data=_form(draft, world))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.refresh(draft)
    assert (draft.renewal_terms, draft.renewal_months, draft.notice_period) == ("tacit", 24, 6)
    html = officer.get(f"/agreements/{draft.id}").get_data(as_text=True)
    assert "Tacit renewal for 24 months unless notice is given" in html and "Notice deadline" in html
    assert "1 Jul 2026" in html or "Jul 1, 2026" in html
    bad = officer.post(
        f"/agreements/{draft.id}/edit", data=_form(draft, world, renewal_months="", version=str(draft.version))
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422, text[text.find("<main") : text.find("<main") + 1500]
    assert "Say for how many months" in bad.get_data(as_text=True)
    # Signed: the terms change only through an amendment.
    draft.state = "active"
    db.session.commit()
    locked = officer.post(
        f"/agreements/{draft.id}/edit", data=_form(draft, world, renewal_terms="none", version=str(draft.version))
    )
    assert locked.status_code == 422 and "only through the workflow or an amendment" in locked.get_data(as_text=True)


def test_recording_a_notice_on_the_page_with_its_document(signed_in, world):
    agreement = tacit(world.agreement_a, end=date(2030, 1, 1))
    officer = signed_in("officer")
    response = officer.post(
        f"/agreements/{agreement.id}/non-renewal",
        content_type="multipart/form-data",
        data={
            "given_on": "2026-11-16",
            "side": "partner",
            "version": str(agreement.version),
            "document": (BytesIO(PDF), "preavis.pdf"),
        },
    )
    assert response.status_code == 303
    db.session.refresh(agreement)
    assert agreement.non_renewal_on == date(2026, 11, 16) and agreement.non_renewal_by == "partner"
    assert agreement.non_renewal_document.original_name == "preavis.pdf"
    assert agreement.non_renewal_organization_id == world.partner_a.id  # the only partner
    html = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Notice of non-renewal given on" in html and "preavis.pdf" in html and "by Partner A" in html
    again = officer.post(
        f"/agreements/{agreement.id}/non-renewal",
        data={"given_on": "2026-11-17", "side": "ministry", "version": str(agreement.version)},
        follow_redirects=True,
    )
    assert "already recorded" in again.get_data(as_text=True)
    assert (
        signed_in("other_officer")
        .post(f"/agreements/{agreement.id}/non-renewal", data={"given_on": "2026-11-17", "side": "ministry"})
        .status_code
        == 403
    )
    assert signed_in("partner").post(
        f"/agreements/{agreement.id}/non-renewal", data={"given_on": "2026-11-17", "side": "ministry"}
    ).status_code in (403, 404)


@pytest.mark.parametrize("side", ["partner:abc", "partner:", "partner:1.5", "partner:²", "partner:" + "9" * 12])
def test_a_side_not_among_the_forms_choices_is_refused(signed_in, world, side):
    """A tampered "partner:abc" was read as a bare "partner" and recorded as the agreement's only partner's
    notice."""
    agreement = tacit(world.agreement_a, end=date(2030, 1, 1))
    refused = signed_in("officer").post(
        f"/agreements/{agreement.id}/non-renewal",
        data={"given_on": "2026-11-16", "side": side, "version": str(agreement.version)},
        follow_redirects=True,
    )
    assert "Not a valid choice." in refused.get_data(as_text=True)
    db.session.refresh(agreement)
    assert (agreement.non_renewal_on, agreement.non_renewal_by, agreement.non_renewal_organization_id) == (
        None,
        None,
        None,
    )


def test_renew_creates_a_linked_renewal_prefilled_from_the_current_one(signed_in, world):
    agreement = world.agreement_a
    agreement.summary_fr = "Coopération numérique"
    agreement.effective_on, agreement.expires_on = date(2025, 7, 1), date(2027, 7, 1)
    agreement.renewal_terms, agreement.notice_period, agreement.notice_unit = "by_agreement", 3, "months"
    factories.budget_line(agreement, world.partner_a, "1000.00", label="Experts")
    deliverable_services.plan_deliverable(
        agreement,
        deliverable_services.PlanData(
            title_fr="Rapport annuel",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="yearly",
            first_due_on=date(2026, 7, 1),
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    officer = signed_in("officer")
    response = officer.post(f"/agreements/{agreement.id}/renew")
    assert response.status_code == 303
    renewal = db.session.scalar(select(Agreement).where(Agreement.renewal_of_id == agreement.id))
    assert response.headers["Location"].endswith(f"/agreements/{renewal.id}")
    assert (renewal.state, renewal.type, renewal.title_fr, renewal.summary_fr) == (
        "draft",
        "mou",
        agreement.title_fr,
        "Coopération numérique",
    )
    # In force through 1 July 2027, it hands over the next day, for the same term.
    assert renewal.effective_on == date(2027, 7, 2) and renewal.expires_on == date(2029, 7, 1)
    assert [(p.organization_id, p.role) for p in renewal.parties] == [(world.partner_a.id, "partner")]
    assert (renewal.renewal_terms, renewal.notice_period) == ("by_agreement", 3)
    lines = db.session.scalars(select(BudgetLine).where(BudgetLine.agreement_id == renewal.id)).all()
    assert [(line.label, line.amount, line.year) for line in lines] == [("Experts", Decimal("1000.00"), 2028)]
    assert [d.first_due_on for d in renewal.deliverables] == [date(2028, 7, 1)]
    html = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Renewed by" in html and renewal.reference in html
    assert "Renews" in officer.get(f"/agreements/{renewal.id}").get_data(as_text=True)
    second = officer.post(f"/agreements/{agreement.id}/renew", follow_redirects=True)
    assert "already renews this agreement" in second.get_data(as_text=True)
    assert signed_in("other_officer").post(f"/agreements/{agreement.id}/renew").status_code == 403


def test_renewing_from_the_agreement_page_asks_first(signed_in, world):
    """ "Renew: start a renewal agreement" made a whole draft (titles, parties, budget, plan) in one tap: its form
    now asks first, naming the agreement, as the notice of non-renewal beside it does (data-confirm)."""
    agreement = world.agreement_a
    agreement.effective_on, agreement.expires_on = date(2025, 7, 1), date(2027, 7, 1)
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    form = re.search(rf'<form [^>]*action="/agreements/{agreement.id}/renew"[^>]*>', page)
    assert form is not None
    assert f'data-confirm="Start a renewal agreement from {agreement.reference}? ' in form.group(0)


def test_a_two_year_term_ending_the_day_before_its_anniversary_renews_for_two_years(signed_in, world):
    """1 July 2025 to 30 June 2027 is two years: renewed from 1 July 2027 to 30 June 2029, its budget years and
    quarter ends moved by two years (counted to the day it was "1 year, 11 months and 29 days": the renewal
    ended on 28 June and its reports fell on the 29th, the last one dropped)."""
    agreement = world.agreement_a
    agreement.effective_on, agreement.expires_on = date(2025, 7, 1), date(2027, 6, 30)
    factories.budget_line(agreement, world.partner_a, "1000.00", label="Experts", year=2026)
    deliverable_services.plan_deliverable(
        agreement,
        deliverable_services.PlanData(
            title_fr="Rapport trimestriel",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="quarterly",
            first_due_on=date(2026, 12, 31),
            until_on=date(2027, 6, 30),
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    assert signed_in("officer").post(f"/agreements/{agreement.id}/renew").status_code == 303
    renewal = db.session.scalar(select(Agreement).where(Agreement.renewal_of_id == agreement.id))
    assert (renewal.effective_on, renewal.expires_on) == (date(2027, 7, 1), date(2029, 6, 30))
    assert [
        line.year for line in db.session.scalars(select(BudgetLine).where(BudgetLine.agreement_id == renewal.id))
    ] == [2028]
    [line] = renewal.deliverables
    assert [o.due_on for o in line.occurrences] == [date(2028, 12, 31), date(2029, 3, 31), date(2029, 6, 30)]


def test_an_agreement_ending_at_the_calendars_end_is_renewed_without_dates_past_it(signed_in, world):
    """Renewed, an agreement ending on 31 December 2200 would end and owe its plan past the last day Sharaka
    keeps: the renewal is made without an end date and without those plan lines (the officer sets them),
    where it was refused naming plan fields the request does not have."""
    agreement = world.agreement_a
    agreement.effective_on, agreement.expires_on = date(2190, 1, 1), date(2200, 12, 31)
    deliverable_services.plan_deliverable(
        agreement,
        deliverable_services.PlanData(
            title_fr="Rapport final",
            title_ar=None,
            title_en=None,
            description=None,
            responsible_organization_id=world.partner_a.id,
            recurrence="once",
            first_due_on=date(2200, 6, 1),
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    response = signed_in("officer").post(f"/agreements/{agreement.id}/renew")
    assert response.status_code == 303
    renewal = db.session.scalar(select(Agreement).where(Agreement.renewal_of_id == agreement.id))
    assert renewal.effective_on is None and renewal.expires_on is None  # past the last day: the officer dates it
    assert renewal.deliverables == []


def test_a_draft_cannot_be_renewed(signed_in, world):
    draft = factories.agreement(by=world.users["officer"], partners=[world.partner_a])
    db.session.commit()
    page = signed_in("officer").post(f"/agreements/{draft.id}/renew", follow_redirects=True)
    assert "Only a signed agreement that has not ended can be renewed." in page.get_data(as_text=True)


def test_the_dashboard_shows_the_notice_deadline(signed_in, world):
    today = clock.today()
    tacit(world.agreement_a, notice=2, start=today - timedelta(days=300), end=today + timedelta(days=80))
    html = signed_in("officer").get("/dashboard").get_data(as_text=True)
    assert f'data-notice="{world.agreement_a.reference}"' in html and "notice by" in html
    html = signed_in("manager").get("/dashboard").get_data(as_text=True)
    assert f'data-notice="{world.agreement_a.reference}"' in html


# --- API and amendments -------------------------------------------------------------------------


def test_the_api_reads_and_writes_renewal_terms_notice_and_renew(api, world):
    officer = api("officer")
    created = officer.post(
        "/api/v1/agreements",
        json={
            "type": "mou",
            "title_fr": "Par l'API",
            "parties": [{"organization_id": world.partner_a.id}],
            "effective_on": "2026-01-01",
            "expires_on": "2028-01-01",
            "renewal_terms": "tacit",
            "renewal_months": 12,
            "notice_period": 90,
            "notice_unit": "days",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()["renewal"]
    assert body["renewal_terms"] == "tacit" and body["notice_deadline"] == "2027-10-03"
    bad = officer.patch(
        f"/api/v1/agreements/{created.get_json()['id']}", json={"renewal_terms": "tacit", "renewal_months": None}
    )
    assert bad.status_code == 422 and "renewal_months" in str(bad.get_json())
    assert (
        officer.patch(f"/api/v1/agreements/{created.get_json()['id']}", json={"renewal_terms": "often"}).status_code
        == 422
    )
    agreement = tacit(world.agreement_a, end=date(2030, 1, 1))
    noticed = officer.post(
        f"/api/v1/agreements/{agreement.id}/non-renewal", json={"given_on": "2026-09-01", "side": "ministry"}
    )
    assert noticed.status_code == 200 and noticed.get_json()["renewal"]["non_renewal_on"] == "2026-09-01"
    assert (
        officer.post(
            f"/api/v1/agreements/{agreement.id}/non-renewal", json={"given_on": "nope", "side": "ministry"}
        ).status_code
        == 422
    )
    renewed = officer.post(f"/api/v1/agreements/{agreement.id}/renewals")
    assert renewed.status_code == 201 and renewed.get_json()["renewal"]["renewal_of_id"] == agreement.id
    again = officer.get(f"/api/v1/agreements/{agreement.id}").get_json()["renewal"]
    assert again["renewal_ids"] == [renewed.get_json()["id"]]
    assert api("legal").post(f"/api/v1/agreements/{agreement.id}/renewals").status_code == 403
    spec = officer.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/agreements/{agreement_id}/renewals" in spec["paths"]
    assert "RenewalSchema" in str(spec["components"]["schemas"]) or "Renewal" in spec["components"]["schemas"]


def test_the_api_records_a_notice_with_its_document_as_the_page_does(api, world, app, monkeypatch):
    from tests.integration.test_api import assert_problem

    agreement = tacit(world.agreement_a, end=date(2030, 1, 1))
    url = f"/api/v1/agreements/{agreement.id}/non-renewal"

    def notice(role, document, **fields):
        data = {"given_on": "2026-11-16", "side": "partner", "document": document, **fields}
        return api(role).post(url, data=data, content_type="multipart/form-data")

    def nothing_recorded():
        db.session.expire_all()
        return agreement.non_renewal_on is None and not agreement.documents

    # Another organisation's partner never learns the agreement exists; a ministry officer who does not own it
    # is refused as on the page.
    assert_problem(notice("partner_b", (BytesIO(PDF), "preavis.pdf")), 404)
    assert_problem(notice("partner", (BytesIO(PDF), "preavis.pdf")), 403)  # a party, not the one who records
    assert_problem(notice("other_officer", (BytesIO(PDF), "preavis.pdf")), 403)
    problem = assert_problem(notice("officer", (BytesIO(b"MZ\x90\x00 not a document"), "preavis.exe")), 422)
    assert list(problem["errors"]) == ["document"]
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 1024)
    problem = assert_problem(notice("officer", (BytesIO(PDF + b"0" * 2048), "gros.pdf")), 422)
    assert "larger" in problem["errors"]["document"][0]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    assert_problem(notice("officer", (BytesIO(PDF + b"0" * 8192), "gros.pdf")), 413)
    assert_problem(notice("officer", (BytesIO(PDF), "preavis.pdf"), version="abc"), 422)
    assert_problem(notice("officer", (BytesIO(PDF), "preavis.pdf"), version="999"), 409)
    assert nothing_recorded()
    response = notice("officer", (BytesIO(PDF), "préavis.pdf"), version=str(agreement.version))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["renewal"]["non_renewal_on"] == "2026-11-16"
    db.session.expire_all()
    assert agreement.non_renewal_by == "partner" and agreement.non_renewal_document.original_name == "préavis.pdf"
    row = next(r for r in history_for("agreements", agreement.id) if r.action == "non_renewal_notice")
    assert row.changes["after"]["document"] == "préavis.pdf"


def test_an_amendment_changes_the_renewal_terms(world):
    officer = world.users["officer"]
    parent = tacit(world.agreement_a, end=date(2030, 1, 1))
    amendment = factories.agreement(by=officer, partners=[world.partner_a], type="amendment", parent_id=parent.id)
    db.session.commit()
    amendments.set_changes(
        amendment, {"renewal": {"renewal_terms": "none"}}, by=officer, expected_version=amendment.version
    )
    assert amendment.amendment_changes["renewal"]["renewal_terms"] == "none"
    rows = amendments.comparison(amendment)
    assert rows[0].name == "renewal" and "Tacit renewal for 12 months" in str(rows[0].current)
    with pytest.raises(ValidationFailed):
        amendments.set_changes(
            amendment, {"renewal": {"renewal_terms": "tacit"}}, by=officer, expected_version=amendment.version
        )
    amendments.apply(amendment, by=officer)
    assert parent.renewal_terms == "none" and parent.notice_deadline is None
    row = next(r for r in history_for("agreements", parent.id) if r.action == "amended")
    assert row.changes["term"] == "renewal" and row.changes["before"]["renewal"]["renewal_terms"] == "tacit"


def test_an_amendment_may_not_take_away_the_last_day_to_decline_a_renewal(world):
    """Tacit renewal with six months' notice added to an agreement ending in three months: the last day to
    give notice would be past, so it would renew with no way left to decline. Refused, naming that day. A
    shorter notice, or a notice already given, is taken; so are terms whose deadline had passed already."""
    today = clock.today()
    officer = world.users["officer"]
    parent = world.agreement_a
    parent.effective_on, parent.expires_on = today - timedelta(days=400), today + timedelta(days=90)
    parent.renewal_terms, parent.renewal_months, parent.notice_period = "none", None, None
    amendment = factories.agreement(by=officer, partners=[world.partner_a], type="amendment", parent_id=parent.id)
    db.session.commit()

    def propose(notice: int):
        terms = {"renewal_terms": "tacit", "renewal_months": 12, "notice_period": notice, "notice_unit": "months"}
        amendments.set_changes(amendment, {"renewal": terms}, by=officer, expected_version=amendment.version)

    with pytest.raises(ValidationFailed) as refused:
        propose(6)
    assert "already past" in refused.value.field_errors["renewal"][0]
    assert not amendment.amendment_changes
    propose(2)  # the deadline is a month ahead
    assert amendment.amendment_changes["renewal"]["notice_period"] == 2
    with clock.frozen(today + timedelta(days=45)):  # signed after that deadline: the signed text still applies
        with db.session.begin_nested() as trial:
            amendments.apply(amendment, by=officer)
            assert (parent.renewal_terms, parent.notice_period) == ("tacit", 2)
            trial.rollback()
    db.session.expire_all()
    parent.non_renewal_on, parent.non_renewal_by = today - timedelta(days=1), "partner"
    db.session.commit()
    propose(6)  # notice given already: the agreement ends at its end whatever the terms
    parent.non_renewal_on = parent.non_renewal_by = None
    parent.renewal_terms, parent.renewal_months, parent.notice_period, parent.notice_unit = "tacit", 12, 6, "months"
    db.session.commit()
    propose(5)  # past before the amendment as after it: it takes nothing away
    assert amendment.amendment_changes["renewal"]["notice_period"] == 5


def test_the_amendment_page_proposes_new_renewal_terms(signed_in, world):
    officer = world.users["officer"]
    parent = tacit(world.agreement_a, end=date(2030, 1, 1))
    amendment = factories.agreement(by=officer, partners=[world.partner_a], type="amendment", parent_id=parent.id)
    db.session.commit()
    client = signed_in("officer")
    page = client.get(f"/agreements/{amendment.id}/amendment").get_data(as_text=True)
    assert 'name="renewal_months"' in page and 'value="12"' in page
    data = {
        "title_fr": parent.title_fr,
        "effective_on": "2025-07-01",
        "expires_on": "2030-01-01",
        "partners": [str(world.partner_a.id)],
        "version": str(amendment.version),
        "renewal_terms": "by_agreement",
        "renewal_months": "",
        "notice_period": "90",
        "notice_unit": "days",
    }
    response = client.post(f"/agreements/{amendment.id}/amendment", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    db.session.refresh(amendment)
    assert amendment.amendment_changes["renewal"] == {
        "renewal_terms": "by_agreement",
        "renewal_months": None,
        "notice_period": 90,
        "notice_unit": "days",
    }
    html = client.get(f"/agreements/{amendment.id}").get_data(as_text=True)
    assert 'data-term="renewal"' in html and "notice: 90 days before the end date" in html


def test_a_tacit_renewal_tells_the_owner_the_managers_and_the_partners(world):
    """Another term commits both sides: the owner, the managers and the partner's users hear of the new
    end and of the next notice deadline."""
    agreement = tacit(world.agreement_a, months=12, notice=3, end=date(2026, 1, 1))
    date_moves.run_date_transitions(date(2026, 1, 1))
    db.session.commit()
    told = {
        n.user_id: n
        for n in db.session.scalars(
            select(Notification).where(Notification.kind == "agreement_renewed", Notification.object_id == agreement.id)
        )
    }
    assert {world.users["officer"].id, world.users["manager"].id, world.users["partner"].id} <= set(told)
    assert world.users["partner_b"].id not in told  # not a party
    notice = told[world.users["partner"].id]
    assert notice.params["expires_on"] == "2027-01-01" and notice.params["notice_deadline"] == "2026-10-01"
    assert "2027" in headline(notice.kind, notice.params)
    assert "October 1, 2026" in detail(notice.kind, notice.params)


def test_an_agreement_that_renews_by_itself_is_not_announced_as_ending(world, signed_in):
    """Its end is no end: no "ends in 90 days, decide whether to let it end" (the notice deadline's
    reminders ask in time), and its page says it renews, not that it moves to Expired."""
    agreement = tacit(world.agreement_a, months=12, notice=3, end=clock.today() + timedelta(days=30))
    ending = {c.notice.object_id for c in reminders.candidates_at(_at(clock.today())) if c.rule == "agreement_ending"}
    assert agreement.id not in ending
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "data-renews" in page and "Renews by itself" in page and "No notice of non-renewal was given" in page
    assert "data-scheduled" not in page
    # Once notice is given it ends, and is announced so.
    agreement.non_renewal_on, agreement.non_renewal_by = clock.today() - timedelta(days=70), "partner"
    db.session.commit()
    ending = {c.notice.object_id for c in reminders.candidates_at(_at(clock.today())) if c.rule == "agreement_ending"}
    assert agreement.id in ending
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "data-renews" not in page and "data-scheduled" in page


def test_with_several_partners_a_notice_says_which_gave_it(world, signed_in, api):
    """'The partner' is not enough when there are two: the notice names the organisation, on the page
    (each partner is offered) and in the API (organization_id), and only one of the agreement's partners."""
    agreement = tacit(world.agreement_a, end=date(2030, 1, 1))
    agreement.parties.append(AgreementParty(organization_id=world.partner_b.id, role="partner"))
    db.session.commit()
    page = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f'value="partner:{world.partner_b.id}"' in page and f'value="partner:{world.partner_a.id}"' in page
    url = f"/api/v1/agreements/{agreement.id}/non-renewal"
    unsaid = api("officer").post(url, json={"given_on": "2026-09-01", "side": "partner"})
    assert unsaid.status_code == 422 and "organization_id" in unsaid.get_json()["errors"]
    stranger = api("officer").post(url, json={"given_on": "2026-09-01", "side": "partner", "organization_id": 999999})
    assert stranger.status_code == 422 and "organization_id" in stranger.get_json()["errors"]
    given = api("officer").post(
        url, json={"given_on": "2026-09-01", "side": "partner", "organization_id": world.partner_b.id}
    )
    assert given.status_code == 200, given.get_json()
    assert given.get_json()["renewal"]["non_renewal_organization_id"] == world.partner_b.id
    html = signed_in("officer").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "by Partner B" in html


def test_a_notice_of_non_renewal_is_told_to_the_owner_the_managers_and_the_partners(world, signed_in):
    """It ends the agreement at its end date: those it concerns hear who gave it, the one who recorded it
    excepted (nobody had been told, the partner included)."""
    officer = world.users["officer"]
    agreement = tacit(world.agreement_a, notice=3, end=date(2026, 1, 1))
    renewals.record_non_renewal(
        agreement, by=officer, given_on=date(2025, 9, 15), side="partner", expected_version=agreement.version
    )
    db.session.commit()
    recorded = select(Notification).where(
        Notification.kind == "non_renewal_recorded", Notification.object_id == agreement.id
    )
    told = {n.user_id: n for n in db.session.scalars(recorded)}
    assert {world.users["manager"].id, world.users["partner"].id} <= set(told)
    assert officer.id not in told and world.users["partner_b"].id not in told
    notice = told[world.users["partner"].id]
    assert "will not be renewed" in headline(notice.kind, notice.params)
    said = detail(notice.kind, notice.params)
    assert "Partner A gave notice on September 15, 2025" in said and "It ends on January 1, 2026." in said
    # The history names the notice and its values as the pages do, not as stored.
    history = signed_in("manager").get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Notice of non-renewal recorded" in history and "non_renewal_on" not in history


def test_a_notice_recorded_in_error_is_withdrawn_with_its_reason_and_the_agreement_renews(world, signed_in, api):
    """A notice dated wrongly, or never given, had no way back: it silently cancelled the tacit renewal."""
    from app.core.audit import AuditEvent

    agreement = tacit(world.agreement_a, notice=3, end=date(2030, 1, 1))
    officer = world.users["officer"]
    with pytest.raises(ValidationFailed) as before_signature:
        renewals.record_non_renewal(
            agreement, by=officer, given_on=date(2019, 3, 1), side="ministry", expected_version=agreement.version
        )
    assert "before the agreement was signed" in before_signature.value.field_errors["given_on"][0]
    renewals.record_non_renewal(
        agreement, by=officer, given_on=clock.today(), side="ministry", expected_version=agreement.version
    )
    db.session.commit()
    client = signed_in("officer")
    page = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Withdraw this notice…" in page
    path = f"/agreements/{agreement.id}/non-renewal/withdrawal"
    refused = client.post(
        path, data={"version": agreement.version, "reason": " "}, csrf_from=f"/agreements/{agreement.id}"
    )
    assert refused.status_code in (303, 422) and agreement.non_renewal_on is not None
    done = client.post(
        path, data={"version": agreement.version, "reason": "Saisi par erreur"}, csrf_from=f"/agreements/{agreement.id}"
    )
    assert done.status_code == 303
    db.session.refresh(agreement)
    assert agreement.non_renewal_on is None and agreement.non_renewal_by is None
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "non_renewal_withdrawn")).one()
    assert row.changes["reason"] == "Saisi par erreur" and row.changes["before"]["non_renewal_by"] == "ministry"
    assert signed_in("partner").post(path, data={"version": agreement.version, "reason": "x"}).status_code in (403, 404)
    # The API: nothing to withdraw now.
    again = api("officer").post(f"/api/v1/agreements/{agreement.id}/non-renewal/withdrawal", json={"reason": "x"})
    assert again.status_code == 422
    # Those told it would end hear that it renews after all (nobody had been told); the notice that said
    # otherwise no longer waits unread.
    about = select(Notification).where(Notification.object_id == agreement.id).order_by(Notification.id)
    notices = db.session.scalars(about).all()
    recorded = [n for n in notices if n.kind == "non_renewal_recorded"]
    withdrawn = {n.user_id: n for n in notices if n.kind == "non_renewal_withdrawn"}
    assert {world.users["manager"].id, world.users["partner"].id} <= set(withdrawn) and officer.id not in withdrawn
    assert recorded and all(n.read_at is not None for n in recorded)
    notice = withdrawn[world.users["partner"].id]
    assert "the notice of non-renewal is withdrawn" in headline(notice.kind, notice.params)
    said = detail(notice.kind, notice.params)
    assert "withdrew the notice of non-renewal" in said and "The reason given: Saisi par erreur" in said
    assert "The agreement renews by itself on January 1, 2030." in said


@pytest.mark.parametrize(
    "began, ended, renewed_to",
    [
        (date(2026, 1, 1), date(2026, 6, 30), date(2026, 12, 31)),  # six months, to a month's last day
        (date(2025, 3, 1), date(2026, 2, 28), date(2027, 2, 28)),
        (date(2025, 1, 1), date(2026, 6, 30), date(2027, 12, 31)),  # eighteen months
        (date(2025, 7, 1), date(2025, 7, 10), date(2025, 7, 20)),  # ten days
    ],
)
def test_a_renewal_lasts_the_same_term_to_its_last_day(world, began, ended, renewed_to):
    from app.agreements import renewing

    agreement = world.agreement_a
    agreement.signed_on, agreement.effective_on, agreement.expires_on = began, began, ended
    db.session.commit()
    with clock.frozen(began):
        renewal = renewing.renew(agreement, by=world.users["officer"])
    assert (renewal.effective_on, renewal.expires_on) == (ended + timedelta(days=1), renewed_to)


def _convention_in_force_under(world, parent, *, signed_on: date):
    """A lab convention under `parent` (the MoU, which refuses a child ending after it), in force."""
    return factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a],
        type="convention",
        parent_id=parent.id,
        state="active",
        signed_on=signed_on,
    )


def test_a_child_does_not_renew_itself_past_its_parents_end(world):
    """Under the MoU, which refuses a child ending after it: renewed for a day (and told as 24 months), the lab
    convention had outlived the MoU; it now ends with its term when its parent ends before a full one."""
    parent = world.agreement_a
    parent.effective_on, parent.expires_on = date(2025, 7, 1), date(2026, 6, 30)
    child = _convention_in_force_under(world, parent, signed_on=date(2025, 7, 1))
    tacit(child, months=12, notice=1, end=date(2026, 1, 1))
    assert renewals.stopped_by_parent(child) and not renewals.renews_tacitly(child)
    results = date_moves.run_date_transitions(date(2026, 1, 1))
    db.session.commit()
    assert not any(ref == child.reference and outcome == "done" for ref, _m, outcome in results)
    assert child.expires_on == date(2026, 1, 1)
    date_moves.run_date_transitions(date(2026, 1, 2))
    db.session.commit()
    assert child.state == "expired"


def test_a_child_its_parent_stops_is_announced_as_ending_and_asked_no_notice(world, signed_in):
    """The same child before its end: its end is a real end. Its page says it moves to Expired, not that it
    renews; it is reminded of as ending; its notice deadline is neither reminded of nor listed (a notice
    would change nothing). Under a parent that outlasts its next term, it renews as before."""
    today = clock.today()
    parent = world.agreement_a
    parent.effective_on, parent.expires_on = today - timedelta(days=300), today + timedelta(days=200)
    child = _convention_in_force_under(world, parent, signed_on=today - timedelta(days=300))
    tacit(child, months=12, notice=45, unit="days", start=today - timedelta(days=300), end=today + timedelta(days=60))
    officer = signed_in("officer")

    def reminded(rule: str) -> bool:
        return child.id in {c.notice.object_id for c in reminders.candidates_at(_at(today)) if c.rule == rule}

    def listed_notice_deadline() -> bool:  # the dashboard's card (its rule is the calendars' too)
        from app.reporting.dashboards.cards import notice_deadlines

        listed = notice_deadlines(world.users["officer"], today, today + timedelta(days=60))
        return child.id in {agreement.id for agreement, _on in listed}

    assert renewals.stopped_by_parent(child)
    assert reminded("agreement_ending") and not reminded("notice_deadline")
    page = officer.get(f"/agreements/{child.id}").get_data(as_text=True)
    assert "data-renews" not in page and "data-scheduled" in page
    assert not listed_notice_deadline()

    parent.expires_on = today + timedelta(days=60 + 400)
    db.session.commit()
    assert renewals.renews_tacitly(child)
    assert reminded("notice_deadline") and not reminded("agreement_ending")
    page = officer.get(f"/agreements/{child.id}").get_data(as_text=True)
    assert "data-renews" in page
    assert listed_notice_deadline()


def test_lists_of_agreements_ending_leave_out_one_that_renews_by_itself(world, client):
    """Its notice deadline passed with no notice: it renews at its end date, so the weekly digest, the
    dashboard's card and both calendars do not list it as ending (as the reminders do not remind of it).
    Once a notice of non-renewal is given it really ends, and every one of them lists it."""
    from flask import current_app
    from icalendar import Calendar

    from app.notifications.reminders.rules import portfolio_summary
    from app.notifications.services import create_calendar_feed
    from app.reporting.dashboards.cards import agreement_cards
    from app.reporting.portfolio.deadlines import build_month

    today = clock.today()
    end = today + timedelta(days=79)
    agreement = tacit(world.agreement_a, months=24, notice=3, start=today - timedelta(days=300), end=end)
    assert agreement.notice_deadline < today
    manager, officer = world.users["manager"], world.users["officer"]
    token = create_calendar_feed(officer)
    db.session.commit()

    def listed_as_ending() -> dict[str, bool]:
        with current_app.test_request_context():  # the body's own app: its session stays the test's
            month = build_month(manager, end.replace(day=1), today)
        feed = Calendar.from_ical(client.get(f"/calendar/{token}.ics").data)
        ending_card, _stuck, _nobody = agreement_cards(manager, today)
        return {
            "digest": agreement.reference in {row["reference"] for row in portfolio_summary(today)["ending"]},
            "dashboard": agreement in ending_card.agreements,
            "calendar": any(d.kind == "end" and d.source_id == agreement.id for d in month.deadlines),
            "feed": any(str(e["UID"]).startswith(f"agreement-end-{agreement.id}-") for e in feed.walk("VEVENT")),
        }

    assert not any(listed_as_ending().values()), listed_as_ending()
    agreement.non_renewal_on, agreement.non_renewal_by = agreement.notice_deadline - timedelta(days=5), "partner"
    db.session.commit()
    assert all(listed_as_ending().values()), listed_as_ending()


@pytest.mark.parametrize("typed", ["٢٠٢٦-١١-١٦", "۲۰۲۶-۱۱-۱۶"])
def test_a_notice_dated_in_arabic_indic_digits_is_recorded(signed_in, api, world, typed):
    """The notice's date typed in Arabic-Indic digits was refused as no date; the API, ISO 8601 only,
    refuses it with a 422."""
    agreement = tacit(world.agreement_a, end=date(2030, 1, 1))
    refused = api("officer").post(
        f"/api/v1/agreements/{agreement.id}/non-renewal", json={"given_on": typed, "side": "ministry"}
    )
    assert refused.status_code == 422 and "given_on" in str(refused.get_json())
    response = signed_in("officer").post(
        f"/agreements/{agreement.id}/non-renewal",
        data={"given_on": typed, "side": "ministry", "version": str(agreement.version)},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.refresh(agreement)
    assert agreement.non_renewal_on == date(2026, 11, 16)
