"""An agreement signed months before Sharaka, activated in force from its signature, in a real browser: the form
says which reports would fall before today once the end date is typed, and the officer records them as settled."""

from datetime import date

from playwright.sync_api import expect

from tests.browser.conftest import navigate, sign_in
from tests.browser.test_deliverables import _owner_of

REFERENCE = "MTNRA-2026-003"  # signed on 12 January 2026, waiting to come into force, no end date yet


def test_an_activation_months_back_warns_and_records_the_past_reports_as_settled(live_server, page):
    officer = _owner_of(REFERENCE)
    sign_in(page, live_server, officer["email"], officer["password"])
    page.goto(f"{live_server}/agreements/?q={REFERENCE}")
    navigate(page, page.locator(f"a:has-text('{REFERENCE}')").first.click)
    form = page.locator("#action-activate form")
    warning = form.locator("fieldset[data-past-due]")
    # No end yet: its quarterly report is not planned, nothing would fall before today.
    expect(warning).to_be_hidden()
    assert form.locator("input[name=effective_on]").input_value() == "2026-01-12"  # the signature's day
    # With an end, the quarterly reports of April, July and October 2026 would be late from the first day.
    form.locator("input[name=expires_on]").fill("2029-01-11")
    form.locator("input[name=expires_on]").dispatch_event("change")
    expect(warning).to_be_visible()
    today = date.today()  # the server's clock is the machine's
    past = [day for day in (date(2026, 4, 12), date(2026, 7, 12), date(2026, 10, 12)) if day < today]
    # In the officer's language (French): "3 rapports tombent avant aujourd’hui, le premier dû le 12 avril 2026."
    said = warning.locator("[data-past-due-message]")
    expect(said).to_contain_text(str(len(past)))
    expect(said).to_contain_text("2026")
    warning.locator("input[value=settled]").check()
    navigate(page, form.locator("button[type=submit]").last.click)
    assert page.locator("[data-state]").first.get_attribute("data-state") == "active"
    # The first of them, on its own page: waived, why (settled before Sharaka), and by whom.
    page.goto(f"{live_server}/deliverables/?status=waived")
    navigate(page, page.locator(f"tr:has-text('{REFERENCE}') a[href*='/deliverables/']").first.click)
    expect(page.locator("#status")).to_have_attribute("data-status", "waived")
    expect(page.locator("#waived-reason")).to_contain_text("Sharaka")
    expect(page.locator("#waived-reason")).to_contain_text("Hind Exemple")
