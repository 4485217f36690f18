"""The API's list filters are as strict as the list pages' filter forms, by the same rules: a range
whose first date comes after its last, or a malformed value, is a 400 naming the parameters (the page
ignores such a filter and says so); an unknown parameter is ignored, as browsers and proxies add theirs."""

from __future__ import annotations

import pytest

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
