"""What a person typed in a form outlives what reloads the page before it is sent."""

from __future__ import annotations

from tests.browser.conftest import account, navigate, new_mou, sign_in, switch_language


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
