"""What a move the agreement page cannot take yet leads to, in a real browser on a phone."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import account, navigate, new_mou, sign_in


def test_complete_the_details_lands_on_the_missing_field(live_server, phone_page, demo_accounts):
    """An MoU written in Arabic only cannot go to review without its French title. "Complete the details"
    opened the edit form at its top with nothing focused (on a phone the title far below): it now lands on
    the French title, in sight, with the cursor in it."""
    page = phone_page
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    new_mou(page, live_server, title_ar="مذكرة بلا عنوان فرنسي (browser test)")
    navigate(page, page.locator("#action-submit_for_review [data-complete-details]").click)
    assert page.url.endswith("/edit#title_fr")
    title = page.locator("#title_fr")
    expect(title).to_be_focused()
    expect(title).to_be_in_viewport()
