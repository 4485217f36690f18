"""What a person typed in a form outlives what reloads the page before it is sent."""

from __future__ import annotations

from tests.browser.conftest import account, sign_in, switch_language


def test_switching_the_language_puts_back_what_the_form_held(live_server, phone_page, demo_accounts):
    """An officer on a phone types an Arabic title and summary in a new agreement, then changes the language:
    the page came back in French with the form empty and no word. Now it comes back with the text in the form
    and a notice saying so, and the text is not kept any further (the next page has an empty form)."""
    page = phone_page
    officer = account(demo_accounts, "officer")
    try:
        sign_in(page, live_server, officer["email"], officer["password"])
        page.goto(live_server + "/agreements/new")
        page.click(".navbar-toggler")
        switch_language(page, "ar")
        title = "اتفاقية تعاون في الطاقة الشمسية (browser test)"
        summary = "تبادل الخبرات بين الطرفين في مجال الطاقة الشمسية."
        page.fill("input[name=title_ar]", title)
        page.fill("textarea[name=summary_ar]", summary)
        page.click(".navbar-toggler")
        switch_language(page, "fr")
        page.locator("[data-typed-back-notice]").wait_for()
        assert page.url.endswith("/agreements/new")
        assert page.locator("input[name=title_ar]").input_value() == title
        assert page.locator("textarea[name=summary_ar]").input_value() == summary
        assert "langue" in page.locator("[data-typed-back-notice]").inner_text()
        page.goto(live_server + "/agreements/new")
        page.locator("input[name=title_ar]").wait_for()
        assert page.locator("input[name=title_ar]").input_value() == ""
        assert page.locator("[data-typed-back-notice]").count() == 0
    finally:
        page.click(".navbar-toggler")
        switch_language(page, "ar")
