"""The API's list filters are as strict as the list pages' filter forms, by the same rules: a range
whose first date comes after its last, or a malformed value, is a 400 naming the parameters (the page
ignores such a filter and says so); an unknown parameter is ignored, as browsers and proxies add theirs."""

from __future__ import annotations

import re
from datetime import date

import pytest

from app.extensions import db
from tests import factories
from tests.integration.test_api import P, api, assert_problem, tokens  # noqa: F401 (fixtures)


@pytest.mark.parametrize(
    "path, query, refused",
    [
        ("agreements", "signed_after=2025-06-01&signed_before=2025-01-01", {"signed_after"}),
        ("agreements", "ends_after=2030-01-02&ends_before=2030-01-01", {"ends_after"}),
        (
            "agreements",
            "signed_after=2025-06-01&signed_before=2025-01-01&ends_after=2030-01-02&ends_before=2030-01-01",
            {"signed_after", "ends_after"},
        ),
        ("deliverables", "due_after=2026-03-01&due_before=2026-02-01", {"due_after"}),
    ],
)
def test_a_reversed_date_range_is_400_naming_it_in_the_pages_words(api, world, path, query, refused):
    body = assert_problem(api("officer").get(f"{P}/{path}?{query}"), 400)
    assert set(body["errors"]) == refused
    assert all(name in body["detail"] for name in refused)
    # The words of the list page's filter form.
    messages = [message for field_messages in body["errors"].values() for message in field_messages]
    assert all("must not come after the last" in message for message in messages)


@pytest.mark.parametrize(
    "path, query",
    [
        ("agreements", "signed_after=2025-01-01&signed_before=2025-01-01&utm_source=mail"),
        ("agreements", "ends_after=2030-01-01"),
        ("deliverables", "due_after=2026-02-01&due_before=2026-02-01&_=12345"),
    ],
)
def test_a_range_of_one_day_an_open_range_and_unknown_parameters_are_fine(api, world, path, query):
    response = api("officer").get(f"{P}/{path}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)


def test_the_choices_over_several_states_list_what_the_page_lists(api, world, signed_in):
    """`in-force` and `ending-for-good`, the agreements page's State choices over several states (the
    calendar links to the second), give the API the same agreements; anything else still is a 400."""
    manager = world.users["manager"]
    day = date(2031, 5, 14)
    ending = factories.agreement(by=manager, partners=[world.partner_a], state="active", expires_on=day)
    renewing = factories.agreement(by=manager, partners=[world.partner_a], state="active", expires_on=day)
    renewing.renewal_terms, renewing.renewal_months = "tacit", 12
    renewing.notice_period, renewing.notice_unit = 3, "months"
    draft = factories.agreement(by=manager, partners=[world.partner_a], state="draft", expires_on=day)
    db.session.commit()
    client, bounds = api("manager"), f"ends_after={day}&ends_before={day}"
    for choice, expected in (("in-force", {ending.id, renewing.id}), ("ending-for-good", {ending.id})):
        body = client.get(f"{P}/agreements?state={choice}&{bounds}").get_json()
        assert {item["id"] for item in body["items"]} == expected, choice
        page = signed_in("manager").get(f"/agreements/?state={choice}&{bounds}").get_data(as_text=True)
        assert {int(found) for found in re.findall(r'href="/agreements/(\d+)"', page)} == expected, choice
    assert draft.id not in expected
    body = assert_problem(client.get(f"{P}/agreements?state=ending"), 400)
    assert "ending-for-good" in body["errors"]["state"][0]
