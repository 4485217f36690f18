"""Budget lines through the pages and the API, and the portfolio's totals with their exports."""

import re
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from app.budget import services
from app.extensions import db
from tests import factories
from tests.integration.test_api import api, tokens  # noqa: F401  (fixtures)


@pytest.fixture
def draft(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Projet")
    db.session.commit()
    return agreement


def form(world, **values):
    return {
        "label": "Formation des formateurs",
        "organization_id": str(world.partner_a.id),
        "amount": "250000.00",
        "currency": "MAD",
        "kind": "cash",
        "year": "2026",
        "period": "",
        **values,
    }


def test_the_officer_adds_and_removes_a_line_on_the_agreement_page(signed_in, world, draft):
    officer = signed_in("officer")
    path = f"/agreements/{draft.id}/budget/new"
    assert officer.post(path, data=form(world)).status_code == 303
    html = officer.get(f"/agreements/{draft.id}").get_data(as_text=True)
    assert "Formation des formateurs" in html and "250,000.00" in html and "Total in MAD" in html
    [line] = services.lines_of(draft)
    assert line.amount == Decimal("250000.00")
    response = officer.post(
        f"/agreements/{draft.id}/budget/{line.id}/delete", data={}, csrf_from=f"/agreements/{draft.id}"
    )
    assert response.status_code == 303 and services.lines_of(draft) == []


def _line(world, draft, **values) -> object:
    line = services.add_line(
        draft,
        services.LineData(
            organization_id=world.partner_a.id,
            label=values.get("label", "Formation des formateurs"),
            amount=values.get("amount", "250000.00"),
            currency=values.get("currency", "MAD"),
            year=2026,
        ),
        by=world.users["officer"],
    )
    db.session.commit()
    return line


def test_the_officer_changes_a_line_in_place_and_the_history_says_what_changed(signed_in, world, draft):
    line = _line(world, draft)
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{draft.id}").get_data(as_text=True)
    path = f"/agreements/{draft.id}/budget/{line.id}/edit"
    assert f'href="{path}"' in page
    form_page = officer.get(path).get_data(as_text=True)
    assert 'value="250000.00"' in form_page and "Formation des formateurs" in form_page
    response = officer.post(path, data=form(world, amount="300000", label="Formation de 40 formateurs"))
    assert response.status_code == 303
    db.session.expire_all()
    [changed] = services.lines_of(draft)
    assert changed.id == line.id and changed.amount == Decimal("300000.00")
    assert changed.label == "Formation de 40 formateurs"
    assert "Budget line changed" in officer.get(f"/agreements/{draft.id}").get_data(as_text=True)  # its history


def test_a_wrong_change_is_refused_on_the_form_and_the_line_is_kept(signed_in, world, draft):
    line = _line(world, draft)
    response = signed_in("officer").post(f"/agreements/{draft.id}/budget/{line.id}/edit", data=form(world, amount="-5"))
    assert response.status_code == 422 and "The amount must be more than zero." in response.get_data(as_text=True)
    db.session.expire_all()
    assert services.lines_of(draft)[0].amount == Decimal("250000.00")


@pytest.mark.parametrize("role,status", [("partner", 404), ("partner_b", 404), ("legal", 403), ("auditor", 403)])
def test_only_editors_change_lines(signed_in, world, draft, role, status):
    line = _line(world, draft)
    client = signed_in(role)
    assert client.get(f"/agreements/{draft.id}/budget/{line.id}/edit").status_code == status
    assert client.post(f"/agreements/{draft.id}/budget/{line.id}/edit", data=form(world)).status_code == status


def test_a_line_is_changed_only_through_its_own_agreement(signed_in, world, draft):
    line = _line(world, draft)
    other = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Autre")
    db.session.commit()
    officer = signed_in("officer")
    assert officer.get(f"/agreements/{other.id}/budget/{line.id}/edit").status_code == 404
    assert officer.get(f"/agreements/{draft.id}/budget/999999/edit").status_code == 404


def test_a_signed_agreements_lines_are_not_changed_on_the_page(signed_in, world):
    line = services.add_line(
        world.agreement_a,
        services.LineData(organization_id=world.partner_a.id, label="Signé", amount="10", currency="MAD"),
        by=None,  # the app's own (as the demo loads signed budgets)
    )
    db.session.commit()
    officer = signed_in("officer")
    assert f"/budget/{line.id}/edit" not in officer.get(f"/agreements/{world.agreement_a.id}").get_data(as_text=True)
    response = officer.post(f"/agreements/{world.agreement_a.id}/budget/{line.id}/edit", data=form(world, amount="99"))
    assert response.status_code == 422 and "Signed terms change only" in response.get_data(as_text=True)
    db.session.expire_all()
    assert services.lines_of(world.agreement_a)[0].amount == Decimal("10.00")


@pytest.mark.parametrize(
    "values,message",
    [
        ({"amount": "-100"}, "The amount must be more than zero."),
        ({"amount": "99999999999999999"}, "The amount is too large"),
        ({"currency": "ABC"}, "three-letter ISO 4217 code"),
        ({"amount": "12,5,0"}, "Give an amount"),
        ({"amount": "1_000"}, "Give an amount"),  # not a thousand: a typo
        # A thousand, or one with three decimals? Read as decimals, 250,000 MAD had been stored as 250.
        ({"amount": "250,000"}, "could mean 250000 or 250"),
        ({"amount": "1.000"}, "could mean 1000 or 1"),
    ],
)
def test_bad_amounts_and_currencies_get_a_clear_message_and_nothing_is_stored(signed_in, world, draft, values, message):
    response = signed_in("officer").post(f"/agreements/{draft.id}/budget/new", data=form(world, **values))
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert services.lines_of(draft) == []


@pytest.mark.parametrize("typed,currency", [("1000.125", "TND"), ("1000,125", "KWD"), ("0.005", "BHD")])
def test_a_third_decimal_of_a_dinar_is_refused_not_rounded(signed_in, api, world, draft, typed, currency):
    """Tunisian, Kuwaiti or Bahraini dinars have three decimals; amounts are kept with two. A third
    decimal had been rounded away (1000.125 stored as 1000.12) and shown as if exact (1,000.120)."""
    page = signed_in("officer").post(
        f"/agreements/{draft.id}/budget/new", data=form(world, amount=typed, currency=currency)
    )
    assert page.status_code == 422 and "At most 2 decimals: amounts are kept to the hundredth." in page.get_data(
        as_text=True
    )
    payload = {"organization_id": world.partner_a.id, "label": "x", "amount": typed, "currency": currency}
    refused = api("officer").post(f"/api/v1/agreements/{draft.id}/budget-lines", json=payload)
    assert refused.status_code == 422 and "kept to the hundredth" in str(refused.get_json())
    assert services.lines_of(draft) == []


def test_an_amount_in_a_three_decimal_currency_is_shown_with_the_decimals_kept(signed_in, world, draft):
    officer = signed_in("officer")
    added = officer.post(f"/agreements/{draft.id}/budget/new", data=form(world, amount="1000,12", currency="TND"))
    assert added.status_code == 303
    assert [line.amount for line in services.lines_of(draft)] == [Decimal("1000.12")]
    html = officer.get(f"/agreements/{draft.id}").get_data(as_text=True)
    assert "1,000.12" in html and "1,000.120" not in html
    assert "1,000.120" not in signed_in("manager").get("/portfolio/budget").get_data(as_text=True)


# The partner too: the draft is the ministry's own until it is shown to its partners.
@pytest.mark.parametrize("role,status", [("partner", 404), ("partner_b", 404), ("legal", 403), ("auditor", 403)])
def test_only_editors_add_lines(signed_in, world, draft, role, status):
    assert signed_in(role).get(f"/agreements/{draft.id}/budget/new").status_code == status


def test_the_totals_page_and_its_exports_keep_currencies_apart(signed_in, world, draft):
    officer = world.users["officer"]
    for amount, currency in (("100.25", "MAD"), ("200", "MAD"), ("50", "EUR")):
        services.add_line(
            draft,
            services.LineData(
                organization_id=world.partner_a.id, label="x", amount=amount, currency=currency, year=2026
            ),
            by=officer,
        )
    db.session.commit()
    manager = signed_in("manager")
    html = manager.get("/portfolio/budget").get_data(as_text=True)
    assert "Total in MAD" in html and "Total in EUR" in html and "300.25" in html
    csv_text = manager.get("/portfolio/budget/export.csv").get_data(as_text=True)
    # Signed, in preparation (a draft's), total, lines.
    assert "MAD,Cash,0.00,300.25,300.25,2" in csv_text and "EUR,Cash,0.00,50.00,50.00,1" in csv_text
    sheet = load_workbook(BytesIO(manager.get("/portfolio/budget/export.xlsx").data)).active
    assert sorted((row[2], row[6]) for row in sheet.iter_rows(min_row=2, values_only=True)) == [
        ("EUR", 50),
        ("MAD", 300.25),
    ]
    assert signed_in("partner").get("/portfolio/budget").status_code == 403
    assert manager.get("/portfolio/budget?year=abc").status_code == 200  # ignored, with a warning


def test_the_api_reads_and_writes_budget_lines(api, world, draft):
    officer = api("officer")
    base = f"/api/v1/agreements/{draft.id}/budget-lines"
    created = officer.post(
        base,
        json={
            "organization_id": world.partner_a.id,
            "label": "Cloud credits",
            "amount": "120000.00",
            "currency": "USD",
            "kind": "in_kind",
            "year": 2026,
        },
    )
    assert created.status_code == 201, created.get_json()
    line = created.get_json()
    assert line["amount"] == "120000.00" and line["currency"] == "USD"
    replaced = officer.open(
        f"{base}/{line['id']}",
        "PUT",
        json={"organization_id": world.partner_a.id, "label": "Cloud credits", "amount": 0.1, "currency": "USD"},
    )
    assert replaced.get_json()["amount"] == "0.10"
    listing = api("auditor").get(base).get_json()
    assert listing["totals"] == [{"currency": "USD", "total": "0.10"}]
    assert api("partner_b").get(base).status_code == 404
    factories.shown_to_partners(draft)  # its partner, once shown it, reads it and changes nothing
    db.session.commit()
    assert (
        api("partner").post(base, json={"organization_id": world.partner_a.id, "label": "x", "amount": "1"}).status_code
        == 403
    )
    assert api("manager").get("/api/v1/budget-totals").get_json()["totals"] == [
        {"currency": "USD", "total": "0.10", "signed": "0.00"}
    ]
    assert api("partner").get("/api/v1/budget-totals").status_code == 403
    assert officer.open(f"{base}/{line['id']}", "DELETE").status_code == 204
    assert officer.get(base).get_json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "-1"},
        {"amount": "1e30"},
        {"currency": "EURO"},
        {"currency": "ZZZ"},
        {"amount": "abc"},
        {"amount": True},
        {"amount": [1]},
        {"kind": "loan"},
        {"label": ""},
        {"year": 99999},
    ],
)
def test_the_api_refuses_bad_lines_with_a_problem(api, world, draft, body):
    payload = {"organization_id": world.partner_a.id, "label": "x", "amount": "10", **body}
    response = api("officer").post(f"/api/v1/agreements/{draft.id}/budget-lines", json=payload)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert services.lines_of(draft) == []


def test_the_demo_has_illustrative_budgets_and_an_amendment_changing_more_than_a_date(app):
    from sqlalchemy import select

    from app.agreements import amendments
    from app.agreements.models import Agreement
    from app.budget.models import BudgetLine

    runner = app.test_cli_runner()
    for _ in range(2):  # loading twice adds nothing
        result = runner.invoke(args=["demo", "load"])
        assert result.exit_code == 0, result.output
    by_reference = {a.reference: a for a in db.session.scalars(select(Agreement))}
    for reference in ("MTNRA-2025-006", "MTNRA-2025-010"):  # UNDP and Mistral AI
        lines = services.lines_of(by_reference[reference])
        assert len(lines) == 3 and all(line.is_illustrative for line in lines)
    assert db.session.scalar(select(db.func.count(BudgetLine.id)).where(BudgetLine.is_illustrative.is_(False))) == 0
    amendment = by_reference["MTNRA-2026-007"]
    terms = {row.name for row in amendments.comparison(amendment)}
    assert "expires_on" in terms and len(terms) > 1


@pytest.mark.parametrize("typed", ["250,000.00", "250.000,00", "٢٥٠٬٠٠٠", "250 000"])
def test_thousands_are_read_as_each_language_writes_them(signed_in, world, draft, typed):
    response = signed_in("officer").post(f"/agreements/{draft.id}/budget/new", data=form(world, amount=typed))
    assert response.status_code == 303
    assert [line.amount for line in services.lines_of(draft)] == [Decimal("250000.00")]


@pytest.mark.parametrize("language", ["en", "fr", "ar"])
@pytest.mark.parametrize("typed,currency", [("12.345", "MAD"), ("1.005", "BHD"), ("12,345", "MAD")])
def test_an_ambiguous_amount_is_refused_without_offering_what_is_refused_again(
    signed_in, world, draft, language, typed, currency
):
    """“1.005” in BHD was refused with "type 1005, or 1.005" in every language, and 1.005 was refused
    again: a third decimal is never kept. The message names the typed text and its two readings, and
    offers only the thousands."""
    world.users["officer"].language = language
    db.session.commit()
    officer = signed_in("officer")
    page = officer.post(f"/agreements/{draft.id}/budget/new", data=form(world, amount=typed, currency=currency))
    message = re.search(r'id="amount-error">([^<]*)<', page.get_data(as_text=True)).group(1)
    assert page.status_code == 422 and message.count(typed) == 2, message  # “typed” could mean … or typed
    assert ("could mean" in message) == (language == "en"), message
    whole = typed.replace(",", "").replace(".", "")
    assert (
        officer.post(
            f"/agreements/{draft.id}/budget/new", data=form(world, amount=whole, currency=currency)
        ).status_code
        == 303
    )
    assert [line.amount for line in services.lines_of(draft)] == [Decimal(whole)]


@pytest.mark.parametrize(
    "year, said",
    [("abc", "هذا ليس عددًا صحيحًا."), ("99999999999999999999", "يجب أن يكون العدد بين 1956 و2200.")],
)
def test_a_year_that_is_no_year_is_said_once(signed_in, world, draft, year, said):
    """ "abc" was refused twice, the messages run together with no space ("…صحيحًا.يجب…"): not a whole
    number, and not between 1956 and 2200 (the nothing it read)."""
    world.users["officer"].language = "ar"
    db.session.commit()
    page = signed_in("officer").post(f"/agreements/{draft.id}/budget/new", data=form(world, year=year))
    error = re.search(r'id="year-error">(.*?)</div>', page.get_data(as_text=True), re.S)
    assert page.status_code == 422 and error and error.group(1).strip() == said, error and error.group(1)


PAST_A_FLOAT = "9" * 400  # a whole number no float holds (past 1.8e308)


def test_a_year_no_float_holds_is_out_of_range_on_every_form_that_reads_one(signed_in, world, draft):
    """A year of 309 digits or more was a 500 on the line's forms and the totals' filter: WTForms' range
    check asks math.isnan() of it, which cannot make it a float (OverflowError)."""
    line = _line(world, draft)
    officer = signed_in("officer")
    for path in (f"/agreements/{draft.id}/budget/new", f"/agreements/{draft.id}/budget/{line.id}/edit"):
        for typed in (PAST_A_FLOAT, "-" + PAST_A_FLOAT):
            page = officer.post(path, data=form(world, year=typed, label="Autre ligne"))
            error = re.search(r'id="year-error">(.*?)</div>', page.get_data(as_text=True), re.S)
            assert page.status_code == 422 and error, (path, page.status_code)
            assert error.group(1).strip() == "Number must be between 1956 and 2200.", path
    db.session.expire_all()
    assert [(kept.label, kept.year) for kept in services.lines_of(draft)] == [("Formation des formateurs", 2026)]
    totals = signed_in("manager").get(f"/portfolio/budget?year={PAST_A_FLOAT}")
    assert totals.status_code == 200
    assert "Some filters were not valid and were ignored." in totals.get_data(as_text=True)


@pytest.mark.parametrize("typed", ["abc", "99999999999999999999", "-99999999999999999999"])
def test_a_contributing_party_that_names_no_row_is_a_form_error(signed_in, world, draft, typed):
    """A number past the largest id reached the database (SQLite cannot compare it: a 500)."""
    page = signed_in("officer").post(f"/agreements/{draft.id}/budget/new", data=form(world, organization_id=typed))
    assert page.status_code == 422 and 'id="organization_id-error"' in page.get_data(as_text=True)
