"""A drop-down too long to list (app/choices): typing part of an Arabic title finds the agreement on the server,
and the filter chosen that way is applied. The demo is served with CHOICES_LISTED=2 so its three agreements
with a deliverables plan are past the limit."""

from tests.browser.conftest import account, navigate, sign_in


def test_typing_part_of_an_arabic_title_finds_the_agreement_and_filters_by_it(page, few_listed_server, demo_accounts):
    manager = account(demo_accounts, "manager")
    sign_in(page, few_listed_server, manager["email"], manager["password"])
    page.goto(few_listed_server + "/deliverables/", wait_until="load")
    select = page.locator("select[name=agreement]")
    assert select.get_attribute("data-remote").startswith("/choices/planned")
    # Nothing but "All agreements" is in the page: the match can only come from the server.
    assert select.locator("option").count() == 1
    help_text = page.locator("#agreement-help")
    assert "Type" in help_text.inner_text() and "JavaScript" not in help_text.inner_text()
    # "السياد": part of "السيادي" (sovereign), in the Mistral AI memorandum's Arabic title only.
    # A single choice's search box hides behind the chosen item until the control is clicked.
    page.locator("#agreement + .ts-wrapper .ts-control").click()
    search = page.locator("#agreement-ts-control")
    search.fill("السياد")
    page.locator("#agreement-ts-dropdown [role=option].active", has_text="MTNRA-2025-010").wait_for(state="visible")
    search.press("Enter")
    assert select.input_value() != ""
    navigate(page, page.get_by_role("button", name="Filter").click)
    assert "agreement=" in page.url
    assert page.locator("select[name=agreement] option:checked").inner_text() == "MTNRA-2025-010"
    rows = page.locator("main table tbody tr")
    assert rows.count() > 0
    for text in rows.all_inner_texts():
        assert "MTNRA-2025-010" in text
