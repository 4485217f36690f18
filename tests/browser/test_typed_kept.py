"""What a person typed in a form outlives what reloads the page before it is sent."""

from __future__ import annotations

import re

from tests.browser.conftest import account, choose, navigate, new_mou, sign_in, switch_language


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


def _save(page, field: str) -> None:
    """Send the form that holds `field` with its Save button, and wait for the page it leads to."""
    navigate(page, page.locator(f"form:has([name={field}]) button[type=submit]").click)


def _stale_save(page, edit: str, theirs: tuple[str, str], mine: tuple[str, str], touch_theirs: bool = False) -> None:
    """Two tabs open `edit`; the first saves `theirs` (a field's name, a value), then the second `mine`: the
    second's save is refused as stale and comes back merged. The second's form must show what the first saved
    and what it typed itself, and saving it again keeps both. `touch_theirs`: the second tab also adds a space
    at the end of the first's field, which the server reads as left alone (it says the field now shows theirs)."""
    other_tab = page.context.new_page()
    try:
        other_tab.goto(edit)
        page.goto(edit)
        other_tab.fill(f"[name={theirs[0]}]", theirs[1])
        _save(other_tab, theirs[0])
    finally:
        other_tab.close()
    page.fill(f"[name={mine[0]}]", mine[1])
    if touch_theirs:
        touched = page.locator(f"[name={theirs[0]}]")
        touched.fill(touched.input_value() + " ")
    _save(page, mine[0])
    page.locator(f"#{theirs[0]}-meanwhile").wait_for()
    assert page.locator(f"[name={theirs[0]}]").input_value() == theirs[1]
    assert page.locator(f"[name={mine[0]}]").input_value() == mine[1]
    _save(page, mine[0])
    page.goto(edit)
    assert page.locator(f"[name={theirs[0]}]").input_value() == theirs[1]
    assert page.locator(f"[name={mine[0]}]").input_value() == mine[1]


def test_a_stale_save_shows_what_another_tab_saved_not_the_old_copy(live_server, page, demo_accounts):
    """An officer edits an agreement in two tabs: the first changes the French title and saves, the second
    changes only the French summary and saves. Refused as stale, the second came back saying the title now
    showed what the other had saved, yet the title box held the old title again (this tab's script put back
    every text box as sent), and saving once more undid the other's title. Now only what this tab changed comes
    back: the other's title stays, and both changes are kept. The same on a budget line's amount."""
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    new_mou(page, live_server, title_fr="Accord à deux onglets (browser test)")
    agreement = page.url.split("#")[0]
    _stale_save(
        page,
        agreement + "/edit",
        theirs=("title_fr", "Accord à deux onglets, titre revu (browser test)"),
        mine=("summary_fr", "Résumé écrit dans l'autre onglet."),
        touch_theirs=True,
    )
    page.goto(agreement + "/budget/new")
    page.fill("[name=label]", "Ateliers (browser test)")
    page.fill("[name=amount]", "1000")
    _save(page, "amount")
    line_edit = page.locator("a[href*='/budget/'][href$='/edit']").first.get_attribute("href")
    _stale_save(page, live_server + line_edit, theirs=("amount", "2500.00"), mine=("label", "Ateliers régionaux"))


def test_choices_come_back_with_the_text_when_the_language_changes(few_listed_server, page, demo_accounts):
    """An officer starts a convention (not the MoU the form offers first), names a partner found by typing
    (too many to list: the server sends the matches), asks for a tacit renewal, then changes the language. The
    typed title came back with a note saying what was typed is back, but the type was the MoU again (another
    workflow, silently), the partner gone and the renewal back to none. Now every choice comes back too."""
    officer = account(demo_accounts, "officer")
    sign_in(page, few_listed_server, officer["email"], officer["password"])
    switch_language(page, "ar")
    try:
        page.goto(few_listed_server + "/agreements/new")
        assert page.locator("select[name=partners]").get_attribute("data-remote")
        page.select_option("select[name=type]", "convention")
        page.fill("input[name=title_fr]", "Convention de recherche (browser test)")
        choose(page, "partners", "Mistral")
        partner = page.locator("select[name=partners] option:checked")
        assert "ميسترال" in partner.inner_text()
        mistral = partner.get_attribute("value")
        page.select_option("select[name=renewal_terms]", "tacit")
        switch_language(page, "fr")
        notice = page.locator("[data-typed-back-notice]")
        notice.wait_for()
        assert "choisi" in notice.inner_text()
        assert page.locator("select[name=type]").input_value() == "convention"
        assert page.locator("input[name=title_fr]").input_value() == "Convention de recherche (browser test)"
        assert page.locator("select[name=partners]").evaluate("s => [...s.selectedOptions].map(o => o.value)") == [
            mistral
        ]
        # The fresh page did not list it: it comes back, then named as the page now speaks (it was in Arabic).
        page.locator("#partners + .ts-wrapper .item", has_text=re.compile(r"^Mistral AI")).wait_for()
        assert page.locator("select[name=renewal_terms]").input_value() == "tacit"
    finally:
        switch_language(page, "ar")


def test_choices_come_back_after_signing_in_again(few_listed_server, page, demo_accounts):
    """An administrator's sign-in ends while inviting someone: the role and the organisation (found by typing,
    too many to list) were chosen, the address typed. Signing in again brought the address back with a note
    saying what was typed is back, but neither choice. Now both come back, the organisation though the fresh
    page does not list it."""
    admin = account(demo_accounts, "admin")
    sign_in(page, few_listed_server, admin["email"], admin["password"])
    page.goto(few_listed_server + "/invitations/new")
    page.fill("input[name=email]", "nouvelle.personne@mistral.example")
    page.select_option("select[name=role]", "partner")
    # A single choice's search box hides behind the chosen item until the control is clicked.
    page.locator("#organization_id + .ts-wrapper .ts-control").click()
    page.locator("#organization_id-ts-control").fill("Mistral")
    page.locator("#organization_id-ts-dropdown [role=option].active").wait_for(state="visible")
    page.locator("#organization_id-ts-control").press("Enter")
    organization = page.locator("select[name=organization_id]").input_value()
    assert organization
    context = page.context
    others = [cookie for cookie in context.cookies() if cookie["name"] != "session"]
    context.clear_cookies()
    context.add_cookies(others)
    _save(page, "email")
    page.locator("[data-sign-in-ended]").wait_for()
    navigate(page, page.locator("a[href^='/sign-in']").last.click)
    page.fill("input[name=email]", admin["email"])
    page.fill("input[name=password]", admin["password"])
    navigate(page, lambda: page.press("input[name=password]", "Enter"))
    page.locator("[data-typed-back-notice]").wait_for()
    assert page.locator("input[name=email]").input_value() == "nouvelle.personne@mistral.example"
    assert page.locator("select[name=role]").input_value() == "partner"
    assert page.locator("select[name=organization_id]").input_value() == organization
    assert "Mistral" in page.locator("#organization_id + .ts-wrapper .item").inner_text()


def test_a_radio_choice_and_ticked_boxes_come_back_when_the_language_changes(few_listed_server, page, demo_accounts):
    """An administrator narrows what a partner's colleague sees (the radio button "only the agreements ticked
    below", one agreement ticked), then changes the language: the page came back with the radio and the box as
    they were before, and nothing said. Now both come back as chosen, with the note."""
    admin = account(demo_accounts, "admin")
    sign_in(page, few_listed_server, admin["email"], admin["password"])
    language = page.locator("select[name=language]").input_value()
    try:
        page.goto(few_listed_server + "/team")
        navigate(page, page.locator("tr", has_text="Camille").locator("a[href^='/team/']").first.click)
        form = page.locator("#access-form")
        assert form.locator("input[name=scope][value=all]").is_checked()
        form.locator("input[name=scope][value=some]").check()
        box = form.locator("input[name=agreements]:not(:checked)").first
        ticked = box.get_attribute("value")
        box.check()
        switch_language(page, "ar" if language != "ar" else "fr")
        page.locator("#access-form [data-typed-back-notice]").wait_for()
        assert form.locator("input[name=scope][value=some]").is_checked()
        assert form.locator(f"input[name=agreements][value='{ticked}']").is_checked()
    finally:
        switch_language(page, language)
