"""Organisations that end, in a real browser: one entered twice is merged into the one that stays (the
confirmation the browser asks, then the page of the one that stays), another retired with a reason; both
read right in Arabic on a phone."""

from __future__ import annotations

import time

from tests.browser.conftest import account, navigate, sign_in, switch_language


def _new_organization(page, base: str, name: str) -> str:
    page.goto(base + "/organizations/new")
    page.fill("#name_fr", name)
    page.select_option("#kind", "company")
    navigate(page, lambda: page.click("form:has(#name_fr) button[type=submit]"))
    page.locator("#retire-panel").wait_for()
    return page.url


def test_an_admin_merges_a_duplicate_and_retires_an_organisation(live_server, page, artifacts, demo_accounts):
    admin = account(demo_accounts, "admin")
    sign_in(page, live_server, admin["email"], admin["password"])
    switch_language(page, "en")
    stamp = int(time.time() * 1000)
    page.on("dialog", lambda dialog: dialog.accept())  # the "are you sure?" of each form
    duplicate = _new_organization(page, live_server, f"Mistral AI SAS {stamp} (illustrative duplicate)")
    mistral = page.locator("#into option", has_text="Mistral AI").first.get_attribute("value")
    page.select_option("#into", mistral)
    page.fill("#merge_reason", "Entered twice at the July ceremony (illustrative)")
    navigate(page, lambda: page.click("#merge-form button[type=submit]"))
    page.locator(".alert-success", has_text="is merged into Mistral AI").wait_for()
    assert page.url.endswith(f"/organizations/{mistral}")
    page.goto(duplicate)
    page.locator("#merged-into").wait_for()
    assert page.locator("#organization-retired").is_visible()

    retired = _new_organization(page, live_server, f"Agence dissoute {stamp} (illustrative)")
    page.fill("#reason", "Dissolved (illustrative)")
    navigate(page, lambda: page.click("#retire-form button[type=submit]"))
    page.locator("#organization-retired").wait_for()
    page.goto(live_server + "/organizations/?show=retired")
    page.locator("table a", has_text=f"Agence dissoute {stamp}").wait_for()
    page.goto(live_server + "/agreements/new")
    assert page.locator("#partners option", has_text=f"Agence dissoute {stamp}").count() == 0

    switch_language(page, "ar")  # from the top bar, which a phone folds away
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(duplicate)
    page.locator("#merged-into").wait_for()
    assert page.get_attribute("html", "dir") == "rtl"
    page.screenshot(path=str(artifacts / "organizations-01-merged-ar-phone.png"), full_page=True)
    page.goto(retired)
    page.locator("#organization-retired").wait_for()
    page.screenshot(path=str(artifacts / "organizations-02-retired-ar-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    switch_language(page, "en")  # the demo admin's language, as the other tests expect it
