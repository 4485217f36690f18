"""A person's first visit: sign in, the list, the Mistral AI MoU, then Arabic."""

from tests.browser.conftest import account, navigate, sign_in, switch_language


def test_officer_opens_the_mistral_mou_and_switches_to_arabic(live_server, page, artifacts, demo_accounts):
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    page.screenshot(path=str(artifacts / "01-after-sign-in.png"), full_page=True)

    page.goto(live_server + "/agreements/?q=mistral")
    rows = page.locator("table tbody tr")
    assert rows.count() >= 1
    page.screenshot(path=str(artifacts / "02-agreements-search-mistral.png"), full_page=True)

    # The MoU of September 2025 (the search also finds the JAZARI ROOT lab convention under it).
    navigate(page, page.locator("table tbody tr a", has_text="MTNRA-2025").first.click)
    body = page.inner_text("body")
    assert "Mistral" in body
    assert "2025" in body  # signed on 12 September 2025
    page.screenshot(path=str(artifacts / "03-mistral-mou.png"), full_page=True)

    switch_language(page, "ar")
    page.wait_for_function("document.documentElement.dir === 'rtl'")
    assert page.get_attribute("html", "lang") == "ar"
    stylesheets = page.eval_on_selector_all("link[rel=stylesheet]", "links => links.map(l => l.href)")
    assert any("rtl" in href for href in stylesheets)
    direction = page.evaluate("getComputedStyle(document.body).direction")
    assert direction == "rtl"
    page.screenshot(path=str(artifacts / "04-mistral-mou-arabic.png"), full_page=True)

    # The choice is remembered for the user: a fresh page load is still Arabic.
    page.goto(live_server + "/agreements/")
    assert page.get_attribute("html", "dir") == "rtl"
    page.screenshot(path=str(artifacts / "05-agreements-arabic.png"), full_page=True)


def test_partner_sees_only_their_own_agreements(live_server, page, artifacts, demo_accounts):
    partner = account(demo_accounts, "partner", "mistral")
    sign_in(page, live_server, partner["email"], partner["password"])
    page.goto(live_server + "/agreements/")
    text = page.inner_text("main")
    assert "Mistral" in text
    assert "UNDP" not in text and "PNUD" not in text
    page.screenshot(path=str(artifacts / "06-partner-mistral-list.png"), full_page=True)
