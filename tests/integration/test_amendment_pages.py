"""Amendments of any term through the pages and the API: the side-by-side page, saving changes
(bad input refused, nothing stored), overlapping amendments flagged on both pages, permissions."""

import re
from datetime import date

import pytest

from app.agreements import amendments
from app.extensions import db
from tests import factories
from tests.integration.test_api import api, tokens  # noqa: F401  (fixtures)


@pytest.fixture
def parent(world):
    agreement = world.agreement_a
    agreement.effective_on, agreement.expires_on = date(2025, 7, 1), date(2027, 6, 30)
    db.session.commit()
    return agreement


@pytest.fixture
def amendment(world, parent):
    return factories.amendment(parent, world.users["officer"], partners=[world.partner_a], title="Avenant n° 1")


def form_data(amendment, parent, world, **overrides):
    data = {
        "title_fr": parent.title_fr,
        "title_ar": "",
        "title_en": "",
        "summary_fr": "",
        "summary_ar": "",
        "summary_en": "",
        "effective_on": "2025-07-01",
        "expires_on": "2027-06-30",
        "partners": [str(world.partner_a.id)],
        "version": str(amendment.version),
    }
    return {**data, **overrides}


def test_the_officer_proposes_changes_and_sees_them_next_to_the_current_terms(signed_in, world, parent, amendment):
    officer = signed_in("officer")
    page = officer.get(f"/agreements/{amendment.id}/amendment")
    assert page.status_code == 200 and 'value="2027-06-30"' in page.get_data(as_text=True)
    response = officer.post(
        f"/agreements/{amendment.id}/amendment",
        data=form_data(
            amendment,
            parent,
            world,
            title_en="Agreement with A and B",
            expires_on="2028-06-30",
            partners=[str(world.partner_a.id), str(world.partner_b.id)],
        ),
    )
    assert response.status_code == 303
    db.session.refresh(amendment)
    assert set(amendment.amendment_changes) == {"title_en", "expires_on", "parties"}
    html = officer.get(f"/agreements/{amendment.id}").get_data(as_text=True)
    assert 'data-term="expires_on"' in html and 'data-term="parties"' in html and 'data-term="title_en"' in html
    assert "Agreement with A and B" in html and "Partner B" in html
    assert 'data-term="title_fr"' not in html  # unchanged terms are not listed


def test_bad_input_gets_a_clear_message_and_nothing_is_stored(signed_in, world, parent, amendment):
    officer = signed_in("officer")
    for bad, message in (
        ({"expires_on": "2025-01-01"}, "The end date must come after the effective date."),
        ({"partners": []}, "Name at least one partner organisation."),
        ({"expires_on": "not a date"}, "Not a valid date value."),
    ):
        response = officer.post(
            f"/agreements/{amendment.id}/amendment", data=form_data(amendment, parent, world, **bad)
        )
        assert response.status_code == 422, bad
        assert message in response.get_data(as_text=True)
        db.session.refresh(amendment)
        assert amendment.amendment_changes is None


def test_two_amendments_changing_the_same_term_are_flagged_on_both_pages(signed_in, world, parent, amendment):
    other = factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a],
        type="amendment",
        parent_id=parent.id,
        title_fr="Avenant n° 2",
    )
    for item, end in ((amendment, "2028-01-31"), (other, "2029-01-31")):
        amendments.set_changes(item, {"expires_on": end}, by=world.users["officer"], expected_version=item.version)
    db.session.commit()
    officer = signed_in("manager")
    first = officer.get(f"/agreements/{amendment.id}").get_data(as_text=True)
    second = officer.get(f"/agreements/{other.id}").get_data(as_text=True)
    assert "overlap-flag" in first and other.reference in first
    assert "overlap-flag" in second and amendment.reference in second


@pytest.mark.parametrize(
    # The partner too: an amendment in its draft is the ministry's own, not shown to its partners yet.
    "role,status",
    [("partner", 404), ("partner_b", 404), ("legal", 403), ("auditor", 403), ("manager", 200)],
)
def test_only_editors_open_the_changes_page(signed_in, amendment, role, status):
    assert signed_in(role).get(f"/agreements/{amendment.id}/amendment").status_code == status


def test_the_api_reads_and_writes_an_amendments_changes(api, world, parent, amendment):
    officer = api("officer")
    response = officer.open(
        f"/api/v1/agreements/{amendment.id}/amendment",
        "PUT",
        json={
            "changes": {
                "summary_fr": "Avec B.",
                "expires_on": "2028-06-30",
                "parties": [
                    {"organization_id": world.partner_a.id, "role": "partner"},
                    {"organization_id": world.partner_b.id, "role": "witness"},
                ],
            },
            "version": amendment.version,
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {t["term"] for t in body["terms"]} == {"summary_fr", "expires_on", "parties"}
    assert next(t for t in body["terms"] if t["term"] == "expires_on")["current"] == "2027-06-30"
    # Read back by an auditor; a partner of another organisation never learns it exists.
    assert (
        api("auditor").get(f"/api/v1/agreements/{amendment.id}/amendment").get_json()["changes"]["expires_on"]
        == "2028-06-30"
    )
    assert api("partner_b").get(f"/api/v1/agreements/{amendment.id}/amendment").status_code == 404
    factories.shown_to_partners(amendment)  # its partner, once shown it, reads it and changes nothing
    db.session.commit()
    assert (
        api("partner")
        .open(f"/api/v1/agreements/{amendment.id}/amendment", "PUT", json={"changes": {"title_en": "x"}})
        .status_code
        == 403
    )
    # An MoU has no amendment to read.
    assert officer.get(f"/api/v1/agreements/{parent.id}/amendment").status_code == 404


@pytest.mark.parametrize(
    "changes",
    [
        {"expires_on": "2020-01-01"},
        {"parties": []},
        {"budget": 1},
        {"expires_on": "tomorrow"},
        {"parties": [{"organization_id": 999999, "role": "partner"}]},
        {"title_en": "x" * 501},
    ],
)
def test_the_api_refuses_bad_changes_with_a_problem_and_stores_nothing(api, amendment, changes):
    response = api("officer").open(f"/api/v1/agreements/{amendment.id}/amendment", "PUT", json={"changes": changes})
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    db.session.refresh(amendment)
    assert amendment.amendment_changes is None


def budget_rows(world, *rows):
    data = {}
    for index, (label, amount, currency) in enumerate(rows):
        data.update(
            {
                f"budget-{index}-label": label,
                f"budget-{index}-organization_id": str(world.partner_a.id),
                f"budget-{index}-amount": amount,
                f"budget-{index}-currency": currency,
                f"budget-{index}-kind": "cash",
                f"budget-{index}-year": "2026",
                f"budget-{index}-period": "",
            }
        )
    return data


def test_the_page_proposes_a_new_budget_and_refuses_a_bad_line(signed_in, world, parent, amendment):
    officer = signed_in("officer")
    path = f"/agreements/{amendment.id}/amendment"
    assert 'name="budget-0-label"' in officer.get(path).get_data(as_text=True)  # blank rows to fill
    bad = officer.post(
        path, data={**form_data(amendment, parent, world), **budget_rows(world, ("Formation", "-5", "MAD"))}
    )
    assert bad.status_code == 422 and "The amount must be more than zero." in bad.get_data(as_text=True)
    db.session.refresh(amendment)
    assert amendment.amendment_changes is None
    good = officer.post(
        path,
        data={
            **form_data(amendment, parent, world),
            **budget_rows(world, ("Formation", "1500.50", "MAD"), ("", "", "MAD")),
        },
    )
    assert good.status_code == 303
    db.session.refresh(amendment)
    assert amendment.amendment_changes == {
        "budget_lines": [
            {
                "organization_id": world.partner_a.id,
                "label": "Formation",
                "amount": "1500.50",
                "currency": "MAD",
                "kind": "cash",
                "year": 2026,
                "period": None,
            }
        ]
    }
    assert 'data-term="budget_lines"' in officer.get(f"/agreements/{amendment.id}").get_data(as_text=True)


def test_a_long_budget_opens_and_more_rows_than_the_form_takes_are_refused(signed_in, world, parent, amendment):
    """Near the limit the page still opens (it had added its two blank rows past it: a 500), and more rows
    than an agreement's budget may have are refused whole, not cut to the first ones with "saved"."""
    from app.budget.services import MAX_LINES

    officer = signed_in("officer")
    path = f"/agreements/{amendment.id}/amendment"
    rows = [(f"Ligne {n}", "10", "MAD") for n in range(MAX_LINES - 1)]
    saved = officer.post(path, data={**form_data(amendment, parent, world), **budget_rows(world, *rows)})
    assert saved.status_code == 303
    page = officer.get(path)
    assert page.status_code == 200 and f'name="budget-{MAX_LINES - 1}-label"' in page.get_data(as_text=True)
    db.session.refresh(amendment)
    too_many = [*rows, ("Une de plus", "10", "MAD"), ("Et encore", "10", "MAD")]
    refused = officer.post(path, data={**form_data(amendment, parent, world), **budget_rows(world, *too_many)})
    assert refused.status_code == 422 and f"at most {MAX_LINES} lines" in refused.get_data(as_text=True)
    db.session.refresh(amendment)
    assert len(amendment.amendment_changes["budget_lines"]) == MAX_LINES - 1


def test_the_api_proposes_a_budget(api, world, parent, amendment):
    response = api("officer").open(
        f"/api/v1/agreements/{amendment.id}/amendment",
        "PUT",
        json={
            "changes": {
                "budget_lines": [
                    {
                        "organization_id": world.partner_a.id,
                        "label": "Cloud",
                        "amount": "10.00",
                        "currency": "USD",
                        "kind": "in_kind",
                        "year": 2027,
                    }
                ]
            }
        },
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["changes"]["budget_lines"][0]["amount"] == "10.00"
    bad = api("officer").open(
        f"/api/v1/agreements/{amendment.id}/amendment",
        "PUT",
        json={
            "changes": {
                "budget_lines": [
                    {"organization_id": world.partner_a.id, "label": "Cloud", "amount": "10.00", "currency": "QQQ"}
                ]
            }
        },
    )
    assert bad.status_code == 422 and "ISO 4217" in bad.get_json()["errors"]["budget_lines"][0]


def test_the_parents_history_shows_each_amended_term(signed_in, world, parent, amendment):
    amendments.set_changes(
        amendment,
        {
            "title_en": "Renamed",
            "parties": [[world.partner_a.id, "partner"], [world.partner_b.id, "witness"]],
            "budget_lines": [
                {
                    "organization_id": world.partner_b.id,
                    "label": "Cloud",
                    "amount": "10",
                    "currency": "EUR",
                    "kind": "in_kind",
                    "year": 2027,
                }
            ],
        },
        by=world.users["officer"],
        expected_version=amendment.version,
    )
    amendments.apply(amendment, by=world.users["officer"])
    db.session.commit()
    html = signed_in("manager").get(f"/agreements/{parent.id}").get_data(as_text=True)
    assert html.count("Amended") >= 3
    assert "Partner B</bdi> (Witness)" in html and "€10.00" in html and "Renamed" in html


def test_an_amendment_signed_before_sharaka_goes_to_signature_once_it_says_what_it_changes(api, world, amendment):
    """As for agreements: a manager records an amendment signed elsewhere straight at the signature stage, with
    the reason, and only once it says what it changes (the guards its review would have asked)."""
    move = f"/api/v1/agreements/{amendment.id}/transitions"
    why = {"transition": "record_signed_elsewhere", "comment": "Avenant signé en 2025, avant Sharaka"}
    assert api("officer").post(move, json=why).status_code == 403
    refused = api("manager").post(move, json=why)
    assert refused.status_code == 422 and "Say what the amendment changes" in refused.get_json()["detail"]
    assert amendment.state == "draft"
    amendments.set_changes(
        amendment, {"expires_on": date(2028, 6, 30)}, by=world.users["officer"], expected_version=amendment.version
    )
    db.session.commit()
    moved = api("manager").post(move, json=why)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["agreement"]["state"] == "signature"


def test_an_ambiguous_amount_in_the_proposed_budget_offers_only_what_is_taken(signed_in, world, parent, amendment):
    """12.345 MAD was refused with "type 12345, or 12.345", and 12.345 refused again: no third decimal is kept."""
    officer = signed_in("officer")
    path = f"/agreements/{amendment.id}/amendment"
    refused = officer.post(
        path, data={**form_data(amendment, parent, world), **budget_rows(world, ("Formation", "12.345", "MAD"))}
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "type 12345, or round to 2 decimals." in html
    assert "or 12.345." not in html
    saved = officer.post(
        path, data={**form_data(amendment, parent, world), **budget_rows(world, ("Formation", "12345", "MAD"))}
    )
    assert saved.status_code == 303


@pytest.mark.parametrize(
    "field, typed, said",
    [
        ("year", "99999999999999999999", "يجب أن يكون العدد بين 1956 و2200."),
        ("year", "9" * 400, "يجب أن يكون العدد بين 1956 و2200."),  # no float holds it: had been a 500
        ("organization_id", "abc", "هذا الاختيار غير صالح."),
        ("organization_id", "99999999999999999999", "هذا الاختيار غير صالح."),  # had reached SQLite: a 500
        ("year", "abc", "هذا ليس عددًا صحيحًا."),
    ],
)
def test_a_budget_rows_field_errors_are_in_the_readers_language(
    signed_in, world, parent, amendment, field, typed, said
):
    """The rows had fields of their own on WTForms' plain Form: an Arabic page said "Number must be between
    1956 and 2200." and "Invalid Choice: could not coerce." in English, which the line's own form translates."""
    world.users["officer"].language = "ar"
    db.session.commit()
    rows = budget_rows(world, ("Formation", "1500", "MAD"))
    rows[f"budget-0-{field}"] = typed
    page = signed_in("officer").post(
        f"/agreements/{amendment.id}/amendment", data={**form_data(amendment, parent, world), **rows}
    )
    error = re.search(rf'id="budget-0-{field}-error">(.*?)</div>', page.get_data(as_text=True), re.S)
    assert page.status_code == 422 and error and error.group(1).strip() == said, error and error.group(1)
    db.session.refresh(amendment)
    assert amendment.amendment_changes is None


@pytest.mark.parametrize("typed", ["٢٠٢٨-٠٦-٣٠", "۲۰۲۸-۰۶-۳۰"])
def test_a_date_typed_in_arabic_indic_digits_is_read(signed_in, world, parent, amendment, typed):
    """Amounts and years read Arabic-Indic digits; the end date typed so was refused as no date."""
    saved = signed_in("officer").post(
        f"/agreements/{amendment.id}/amendment", data=form_data(amendment, parent, world, expires_on=typed)
    )
    assert saved.status_code == 303, saved.get_data(as_text=True)
    db.session.refresh(amendment)
    assert amendment.amendment_changes == {"expires_on": "2028-06-30"}


@pytest.mark.parametrize("typed", ["٢٠٢٨-٠٦-٣٠", "۲۰۲۸-۰۶-۳۰"])
def test_the_api_refuses_a_date_in_arabic_indic_digits_with_a_4xx(api, amendment, typed):
    """The API reads dates as ISO 8601 only: such a date is a clear refusal, never a 500."""
    response = api("officer").open(
        f"/api/v1/agreements/{amendment.id}/amendment",
        "PUT",
        json={"changes": {"expires_on": typed}, "version": amendment.version},
    )
    assert response.status_code == 422 and "expires_on" in str(response.get_json())
