"""Budget lines: exact amounts, currencies in use, parties of the agreement, signed budgets locked,
and totals per party, year and currency that never add different currencies together."""

from decimal import Decimal

import pytest

from app.budget import services
from app.budget.services import LineData
from app.core.audit import AuditEvent
from app.core.errors import PermissionDenied, ValidationFailed
from app.extensions import db
from tests import factories


@pytest.fixture
def draft(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Projet")
    db.session.commit()
    return agreement


def line(world, **values):
    return LineData(
        **{
            "organization_id": world.partner_a.id,
            "label": "Formation",
            "amount": "1000.50",
            "currency": "MAD",
            "kind": "cash",
            "year": 2026,
            **values,
        }
    )


def test_a_line_keeps_the_exact_amount_and_is_in_the_history(world, draft):
    added = services.add_line(draft, line(world, amount="0.10", currency="eur"), by=world.users["officer"])
    db.session.commit()
    db.session.refresh(added)
    assert added.amount == Decimal("0.10") and added.currency == "EUR"
    assert (
        db.session.scalar(
            db.select(AuditEvent.action).where(AuditEvent.object_id == draft.id).order_by(AuditEvent.id.desc())
        )
        == "budget_line_added"
    )
    # A float from JSON is read as written, not as its binary approximation.
    assert services.add_line(draft, line(world, amount=0.1), by=world.users["officer"]).amount == Decimal("0.10")


@pytest.mark.parametrize(
    "values,field",
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"amount": "12.345"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "FRF"}, "currency"),
        ({"currency": "dirham"}, "currency"),
        ({"amount": "100.5", "currency": "JPY"}, "amount"),
        ({"amount": "1000.125", "currency": "TND"}, "amount"),  # kept with 2 decimals: never rounded
        ({"kind": "loan"}, "kind"),
        ({"year": 1800}, "year"),
        ({"label": "  "}, "label"),
        ({"label": "x" * 301}, "label"),
        ({"organization_id": 999999}, "organization_id"),
    ],
)
def test_bad_lines_are_refused_with_the_field_named_and_nothing_stored(world, draft, values, field):
    with pytest.raises(ValidationFailed) as refused:
        services.add_line(draft, line(world, **values), by=world.users["officer"])
    assert field in refused.value.field_errors
    db.session.rollback()
    assert services.lines_of(draft) == []


def test_only_a_party_or_the_ministry_contributes(world, draft):
    with pytest.raises(ValidationFailed):
        services.add_line(draft, line(world, organization_id=world.partner_b.id), by=world.users["officer"])
    db.session.rollback()
    assert services.add_line(draft, line(world, organization_id=world.ministry.id), by=world.users["officer"])


def test_who_may_change_a_budget_and_when(world, draft):
    with pytest.raises(PermissionDenied):
        services.add_line(draft, line(world), by=world.users["partner"])
    signed = world.agreement_a  # active: its budget changes only through an amendment
    with pytest.raises(ValidationFailed, match="amendment"):
        services.add_line(signed, line(world), by=world.users["officer"])


def test_totals_per_party_year_and_currency_never_mix_currencies(world, draft):
    officer = world.users["officer"]
    other = factories.agreement(by=officer, partners=[world.partner_a], title_fr="Autre")
    services.add_line(draft, line(world, amount="1000.50"), by=officer)
    services.add_line(other, line(world, amount="999.50"), by=officer)
    services.add_line(draft, line(world, amount="200", currency="EUR"), by=officer)
    services.add_line(draft, line(world, amount="300", kind="in_kind"), by=officer)
    services.add_line(draft, line(world, amount="50", year=2027), by=officer)
    db.session.commit()
    rows = services.portfolio_totals(world.users["manager"])
    got = {(r.year, r.currency, r.kind): (r.total, r.lines) for r in rows}
    assert got == {
        (2026, "MAD", "cash"): (Decimal("2000.00"), 2),
        (2026, "EUR", "cash"): (Decimal("200.00"), 1),
        (2026, "MAD", "in_kind"): (Decimal("300.00"), 1),
        (2027, "MAD", "cash"): (Decimal("50.00"), 1),
    }
    assert [(t.currency, t.total) for t in services.currency_totals(rows)] == [
        ("EUR", Decimal("200.00")),
        ("MAD", Decimal("2350.00")),
    ]
    assert {r.year for r in services.portfolio_totals(world.users["manager"], 2027)} == {2027}
    # A partner of another organisation sees none of it.
    assert services.portfolio_totals(world.users["partner_b"]) == []


def test_totals_tell_what_is_signed_from_what_is_in_preparation(world, draft):
    """A draft's budget is a proposal: the totals keep it apart from what signed agreements commit."""
    officer = world.users["officer"]
    services.add_line(draft, line(world, amount="1000"), by=officer)
    signed = world.agreement_a  # active
    factories.budget_line(signed, world.partner_a, "250", label="Signée")
    db.session.commit()
    rows = [r for r in services.portfolio_totals(world.users["manager"]) if r.currency == "MAD" and r.year == 2026]
    assert [(r.total, r.signed, r.preparing) for r in rows] == [
        (Decimal("1250.00"), Decimal("250.00"), Decimal("1000.00"))
    ]
    [mad] = services.currency_totals(rows)
    assert (mad.total, mad.signed, mad.preparing) == (Decimal("1250.00"), Decimal("250.00"), Decimal("1000.00"))
    headings, table = services.export_table(world.users["manager"])
    assert headings[4:7] == ["Signed", "In preparation", "Total"]
    assert [row[4:7] for row in table if row[1] == 2026 and row[2] == "MAD"] == [
        [Decimal("250.00"), Decimal("1000.00"), Decimal("1250.00")]
    ]


def test_changing_and_removing_a_line_are_recorded(world, draft):
    officer = world.users["officer"]
    added = services.add_line(draft, line(world), by=officer)
    services.update_line(added, line(world, amount="2000"), by=officer)
    assert added.amount == Decimal("2000.00")
    services.remove_line(added, by=officer)
    db.session.commit()
    actions = db.session.scalars(
        db.select(AuditEvent.action)
        .where(AuditEvent.object_id == draft.id, AuditEvent.action.like("budget_line_%"))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["budget_line_added", "budget_line_changed", "budget_line_removed"]
    assert services.lines_of(draft) == []


def test_an_amendment_has_no_budget_of_its_own(world):
    amendment = factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a],
        type="amendment",
        parent_id=world.agreement_a.id,
        title_fr="Avenant",
    )
    with pytest.raises(ValidationFailed, match="propose the new budget"):
        services.add_line(amendment, line(world), by=world.users["officer"])
