"""Agreements shorter than a year: activation through the pages fits the default plan to the
term (lines outside it left out or brought forward, with a note) and never fails on a field the
user cannot see. Dates set inside a move are in the audit trail."""

from datetime import date

import pytest
from sqlalchemy import select

from app.core.audit import AuditEvent
from app.core.errors import ValidationFailed
from app.deliverables.services import PlanData, plan_deliverable
from app.extensions import db
from app.workflow import engine
from tests import factories


@pytest.fixture
def signed_mou(world):
    agreement = factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a],
        state="signed",
        title_fr="MoU court",
        signed_on=date(2026, 3, 2),
    )
    engine.settle_state(agreement)
    db.session.commit()
    return agreement


def _activate(client, agreement, **dates):
    db.session.refresh(agreement)
    page = f"/agreements/{agreement.id}"
    return client.post(
        f"/agreements/{agreement.id}/actions/activate",
        data={"version": str(agreement.version), **dates},
        csrf_from=page,
    )


@pytest.mark.parametrize("expires_on, quarterly", [("2026-09-15", 2), ("2026-05-15", 0)])
def test_a_term_shorter_than_a_year_activates_through_the_pages(world, signed_in, signed_mou, expires_on, quarterly):
    officer = signed_in("officer")
    response = _activate(officer, signed_mou, effective_on="2026-03-15", expires_on=expires_on)
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.refresh(signed_mou)
    assert signed_mou.state == "active"
    titles = {d.title_en: d for d in signed_mou.deliverables}
    assert "Annual joint review" not in titles  # its first date (2027) is after the end
    if quarterly:
        assert len(titles["Quarterly progress report"].occurrences) == quarterly
    else:
        assert "Quarterly progress report" not in titles
    note = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_id == signed_mou.id, AuditEvent.action == "default_plan_adjusted")
    )
    assert "Annual joint review" in [line["title"] for line in note.changes["skipped"]]
    page = officer.get(f"/agreements/{signed_mou.id}").get_data(as_text=True)
    assert "Default plan fitted to the term" in page
    assert "Left out: “Annual joint review”" in page
    assert "until_on" not in page


def test_a_one_off_line_after_the_end_is_brought_forward(world, signed_mou):
    from app.deliverables.services import apply_default_plan

    signed_mou.effective_on, signed_mou.expires_on = date(2026, 3, 15), date(2026, 4, 30)
    plan = [
        {
            "title": {"en": "Final report", "fr": "Rapport final", "ar": "التقرير النهائي"},
            "recurrence": "once",
            "responsible": "partner",
            "months_after": 6,
        }
    ]
    created = apply_default_plan(signed_mou, plan, by=world.users["officer"])
    assert created[0].occurrences[0].due_on == date(2026, 4, 30)
    note = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_id == signed_mou.id, AuditEvent.action == "default_plan_adjusted")
    )
    assert note.changes["trimmed"] == [{"title": "Final report", "due_on": "2026-04-30", "planned_on": "2026-09-15"}]


def test_plan_messages_name_what_the_user_can_change(world, signed_mou):
    signed_mou.expires_on = date(2026, 5, 1)
    data = PlanData(
        title_fr="Rapport",
        title_ar=None,
        title_en=None,
        description=None,
        responsible_organization_id=world.partner_a.id,
        recurrence="quarterly",
        first_due_on=date(2026, 6, 1),
    )
    with pytest.raises(ValidationFailed) as error:
        plan_deliverable(signed_mou, data, by=world.users["officer"])
    # No "Until" was given: the message is on the first due date and says what to change.
    assert "until_on" not in error.value.field_errors
    assert "choose an earlier first due date" in error.value.field_errors["first_due_on"][0]
    data.until_on = date(2026, 5, 1)
    with pytest.raises(ValidationFailed) as error:
        plan_deliverable(signed_mou, data, by=world.users["officer"])
    assert "change one of them" in error.value.field_errors["until_on"][0]


def test_dates_set_inside_a_move_are_in_the_audit_trail(world, signed_in, signed_mou):
    assert (
        _activate(signed_in("officer"), signed_mou, effective_on="2026-03-15", expires_on="2028-03-15").status_code
        == 303
    )
    row = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.object_id == signed_mou.id, AuditEvent.action == "transition")
        .order_by(AuditEvent.id.desc())
    )
    assert row.changes["after"] == {"state": "active", "effective_on": "2026-03-15", "expires_on": "2028-03-15"}
    assert row.changes["before"] == {"state": "signed", "effective_on": None, "expires_on": None}


def test_the_derived_signature_date_is_in_the_audit_trail(world):
    from app.workflow import services

    officer = world.users["officer"]
    agreement = factories.agreement(by=officer, partners=[world.partner_a], state="signature")
    engine.settle_state(agreement)
    db.session.commit()
    for side, name in (("ministry", "La ministre"), ("partner", "Le PDG")):
        services.add_signatory(
            agreement, by=officer, side=side, name=name, title=None, expected_version=agreement.version
        )
        db.session.commit()
    first, second = agreement.signatories
    services.record_signature(
        agreement, first.id, by=officer, signed_on=date(2026, 3, 1), expected_version=agreement.version
    )
    db.session.commit()
    services.record_signature(
        agreement, second.id, by=officer, signed_on=date(2026, 3, 4), expected_version=agreement.version
    )
    db.session.commit()
    rows = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_id == agreement.id, AuditEvent.action == "signature_recorded")
        .order_by(AuditEvent.id)
    ).all()
    assert "after" not in rows[0].changes  # not all signed yet: nothing derived
    assert rows[1].changes["after"] == {"signed_on": "2026-03-04"}


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1955, 12, 31), date(2201, 1, 1)])
def test_a_signature_date_outside_the_kept_calendar_is_refused(world, day):
    """Once accepted, 0001-01-01 became the agreement's signature date and a negative Excel date in exports."""
    from app.workflow import services

    officer = world.users["officer"]
    agreement = factories.agreement(by=officer, partners=[world.partner_a], state="signature")
    engine.settle_state(agreement)
    services.add_signatory(
        agreement, by=officer, side="ministry", name="La ministre", title=None, expected_version=agreement.version
    )
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        services.record_signature(
            agreement, agreement.signatories[0].id, by=officer, signed_on=day, expected_version=agreement.version
        )
    assert refused.value.field_errors == {"signed_on": ["This date is out of range."]}
    db.session.rollback()
    assert agreement.signatories[0].signed_on is None and agreement.signed_on is None
