"""An agreement signed months before Sharaka, activated in force from then: the reports its default plan has due
before today are said before the move, and chased as owed or recorded as settled before Sharaka, as the person
chooses, on the page and through the API alike (app/deliverables/before_sharaka.py)."""

from __future__ import annotations

from datetime import timedelta

from dateutil.relativedelta import relativedelta
from flask_babel import format_date
from sqlalchemy import select

from app.core import clock
from app.core.audit import AuditEvent
from app.deliverables.falling_due import shown_status_of
from app.deliverables.models import Deliverable, Occurrence
from app.extensions import db
from app.workflow import engine
from tests import factories
from tests.integration.test_api import P, api, assert_problem, refreshed, tokens  # noqa: F401 (fixtures)
from tests.integration.test_api_lifecycle import move, ok


def _signed_months_ago(world, *, by="officer"):
    """Signed 300 days ago with a three-year term, waiting to come into force: in force from its signature, its
    quarterly report (the type's default plan) falls due three times before today, the annual review after."""
    signed_on = clock.today() - timedelta(days=300)
    agreement = factories.agreement(
        by=world.users[by],
        partners=[world.partner_a],
        state="signed",
        signed_on=signed_on,
        expires_on=signed_on + relativedelta(years=3),
    )
    engine.settle_state(agreement)
    db.session.commit()
    return agreement


def _occurrences(agreement) -> list[Occurrence]:
    db.session.expire_all()  # as the request left them
    return list(
        db.session.scalars(
            select(Occurrence)
            .join(Deliverable)
            .where(Deliverable.agreement_id == agreement.id)
            .order_by(Occurrence.due_on, Occurrence.id)
        )
    )


def _before_today(agreement) -> list[Occurrence]:
    return [o for o in _occurrences(agreement) if o.due_on < clock.today()]


def test_the_activation_form_says_what_falls_before_today_and_settles_it_when_asked(app, world, signed_in):
    agreement = _signed_months_ago(world)
    first = agreement.signed_on + relativedelta(months=3)
    officer = signed_in("officer")
    said = f"3 reports fall before today, the first due on {format_date(first, 'long')}."
    assert said in officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    # The dates typed into the form are asked again: in force from today, nothing falls before it.
    today = clock.today().isoformat()
    assert officer.get(f"/agreements/{agreement.id}/past-due?effective_on={today}").json == {"message": None}
    asked = officer.get(f"/agreements/{agreement.id}/past-due?effective_on={agreement.signed_on}&expires_on=x")
    assert asked.json == {"message": said}
    url, data = (
        f"/agreements/{agreement.id}/actions/activate",
        {"version": str(agreement.version), "effective_on": agreement.signed_on.isoformat()},
    )
    # A choice that is none of the two is refused, and nothing moves.
    refused = officer.post(url, csrf_from=f"/agreements/{agreement.id}", data={**data, "past_due": "later"})
    assert refused.status_code == 303
    db.session.refresh(agreement)
    assert agreement.state == "signed" and not _occurrences(agreement)
    done = officer.post(url, csrf_from=f"/agreements/{agreement.id}", data={**data, "past_due": "settled"})
    assert done.status_code == 303
    db.session.refresh(agreement)
    assert agreement.state == "active"
    settled = _before_today(agreement)
    assert [o.due_on for o in settled] == [first + relativedelta(months=3 * n) for n in range(3)]
    officer_id = world.users["officer"].id
    for occurrence in settled:
        assert (occurrence.status, occurrence.decided_by_id) == ("waived", officer_id)
        assert "Settled before Sharaka" in occurrence.waived_reason
        assert shown_status_of(occurrence, clock.today()) == "waived"  # not overdue
    assert all(o.status == "pending" for o in _occurrences(agreement) if o.due_on >= clock.today())
    row = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "deliverables_settled_before_sharaka", AuditEvent.object_id == agreement.id
        )
    )
    assert row.actor_id == officer_id and row.changes["settled"] == 3
    # Its page says so, and who recorded it.
    page = officer.get(f"/deliverables/{settled[0].id}", follow_redirects=True).get_data(as_text=True)
    assert "Settled before Sharaka" in page and world.users["officer"].full_name in page
    assert "recorded as settled before Sharaka" in officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)


def test_an_activation_that_chooses_nothing_chases_what_fell_before_today_as_before(app, world, signed_in):
    agreement = _signed_months_ago(world)
    officer = signed_in("officer")
    data = {"version": str(agreement.version), "effective_on": agreement.signed_on.isoformat()}
    url = f"/agreements/{agreement.id}/actions/activate"
    assert officer.post(url, csrf_from=f"/agreements/{agreement.id}", data=data).status_code == 303
    past = _before_today(agreement)
    assert len(past) == 3 and {shown_status_of(o, clock.today()) for o in past} == {"overdue"}


def test_the_api_activation_chases_by_default_and_settles_when_asked(app, world, api):
    officer = api("officer")
    chased, settled = _signed_months_ago(world), _signed_months_ago(world)
    options = {o["name"]: o for o in ok(officer.get(f"{P}/agreements/{settled.id}/transitions"))}
    first = settled.signed_on + relativedelta(months=3)
    assert options["activate"]["past_due"]["count"] == 3
    assert options["activate"]["past_due"]["first_due_on"] == first.isoformat()
    fields = {"effective_on": chased.signed_on.isoformat()}
    # A choice that is none of the two: 422, nothing moves.
    assert (
        "past_due" in assert_problem(move(officer, settled.id, "activate", fields=fields, past_due="x"), 422)["errors"]
    )
    assert refreshed(type(settled), settled.id).state == "signed"
    # Left out (scripts written before the choice): chased, as before.
    answer = ok(move(officer, chased.id, "activate", fields=fields))
    assert answer["agreement"]["state"] == "active" and answer["settled_before_sharaka"] == []
    assert {shown_status_of(o, clock.today()) for o in _before_today(chased)} == {"overdue"}
    answer = ok(move(officer, settled.id, "activate", fields=fields, past_due="settled"))
    assert answer["agreement"]["state"] == "active"
    assert sorted(answer["settled_before_sharaka"]) == sorted(o.id for o in _before_today(settled))
    assert "3 reports due before today are recorded as settled before Sharaka." in answer["message"]
    assert {o.status for o in _before_today(settled)} == {"waived"}
    # Only the move that brings the agreement into force records them so.
    other = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Brouillon")
    db.session.commit()
    refused = move(officer, other.id, "submit_for_review", past_due="settled")
    assert "past_due" in assert_problem(refused, 422)["errors"]
    assert refreshed(type(other), other.id).state == "draft"


def test_the_warning_counts_only_the_lines_the_activation_plans(app, world, signed_in):
    # A term typed seventy years long: the quarterly report would name more due dates than a plan line keeps
    # (MAX_OCCURRENCES), so the activation leaves that line for the officer to plan; the warning had still
    # counted its three past dates ("3 reports fall before today"), then one was settled of none planned.
    agreement = _signed_months_ago(world)
    officer = signed_in("officer")
    far = (agreement.signed_on + relativedelta(years=70)).isoformat()
    asked = officer.get(f"/agreements/{agreement.id}/past-due?effective_on={agreement.signed_on}&expires_on={far}")
    url = f"/agreements/{agreement.id}/actions/activate"
    data = {"version": str(agreement.version), "effective_on": agreement.signed_on.isoformat(), "expires_on": far}
    assert officer.post(url, csrf_from=f"/agreements/{agreement.id}", data=data).status_code == 303
    db.session.refresh(agreement)
    assert agreement.state == "active"
    assert _before_today(agreement) == []
    assert asked.json == {"message": None}
