"""The new-agreement form's partner picker (Tom Select) on a phone, in Arabic: a tap on an organisation chooses it
and closes the list. Tapped, the list had stayed open over the form after the choice, hiding the fields below it
(a mouse still keeps it open, to choose several)."""

from tests.browser.conftest import account, sign_in, switch_language

PHONE = {"width": 390, "height": 844}


def test_a_tap_on_a_partner_chooses_it_and_closes_the_list_on_a_phone_in_arabic(browser, live_server, demo_accounts):
    officer = account(demo_accounts, "officer")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="ar-MA")
    phone = context.new_page()
    try:
        sign_in(phone, live_server, officer["email"], officer["password"])
        phone.goto(live_server + "/agreements/new", wait_until="load")
        phone.click(".navbar-toggler")
        switch_language(phone, "ar")
        phone.wait_for_function("document.documentElement.dir === 'rtl'")
        phone.wait_for_function("document.querySelector('select[name=partners]').tomselect !== undefined")
        dropdown = phone.locator("#partners-ts-dropdown")
        phone.locator("#partners + .ts-wrapper .ts-control").tap()
        dropdown.wait_for(state="visible")
        option = dropdown.locator("[role=option]", has_text="Mistral").first
        option.wait_for(state="visible")
        option.scroll_into_view_if_needed()
        chosen = option.get_attribute("data-value")
        option.tap()
        dropdown.wait_for(state="hidden")
        assert chosen in phone.locator("select[name=partners]").evaluate(
            "select => Array.from(select.selectedOptions, option => option.value)"
        )
        assert phone.locator("#partners + .ts-wrapper .item", has_text="Mistral").count() == 1
    finally:
        if phone.locator("select[name=language]").count():
            phone.click(".navbar-toggler")
            switch_language(phone, "en")  # the demo officer's language, as the other tests expect it
        context.close()
