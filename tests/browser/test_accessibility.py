"""axe-core (vendored in tests/browser/vendor) on the main pages, in French and Arabic, with a
screenshot of each; and the keyboard reaches the content and the menus."""

from pathlib import Path

import pytest

from tests.browser.conftest import account, navigate, sign_in, switch_language

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
MISTRAL_MOU = "MTNRA-2025-010"


def _violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def _set_language(page, base, language):
    page.goto(base + "/account/notifications")
    switch_language(page, language)


def _agreement_url(page, base, reference):
    page.goto(base + f"/agreements/?q={reference}")
    return page.locator("a", has_text=reference).first.get_attribute("href")


PAGES = {
    # who, pages (name, path or callable giving the path)
    "manager": [
        ("dashboard", "/dashboard"),
        ("agreements", "/agreements/"),
        ("board", "/portfolio/board"),
        ("timeline", "/portfolio/timeline"),
        ("calendar", "/portfolio/calendar"),
        ("analytics", "/portfolio/analytics"),
        ("agreement", None),
        ("inbox", "/inbox"),
        ("search", "/search?q=ميسترال"),
    ],
    "officer": [("dashboard-officer", "/dashboard"), ("new-agreement", "/agreements/new")],
    "partner": [("portal", "/portal"), ("board-partner", "/portfolio/board"), ("search-partner", "/search?q=الذكاء")],
}


@pytest.fixture
def page(browser):
    """A page that lets axe be injected (the app's CSP forbids inline scripts, as it should)."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB", bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("language", ["fr", "ar"])
@pytest.mark.parametrize("role", list(PAGES))
def test_main_pages_have_no_serious_accessibility_violations(
    live_server, page, artifacts, demo_accounts, role, language
):
    person = account(demo_accounts, role, "Mistral" if role == "partner" else "")
    sign_in(page, live_server, person["email"], person["password"])
    original = page.locator("select[name=language]").input_value()
    _set_language(page, live_server, language)
    failures = {}
    try:
        for name, path in PAGES[role]:
            if path is None:
                path = _agreement_url(page, live_server, MISTRAL_MOU)
            response = page.goto(live_server + path)
            assert response.status == 200, (name, response.status)
            assert page.evaluate("document.documentElement.dir") == ("rtl" if language == "ar" else "ltr")
            page.screenshot(path=str(artifacts / f"40-{name}-{language}.png"), full_page=True)
            found = _violations(page)
            if found:
                failures[name] = found
    finally:
        _set_language(page, live_server, original)
    assert not failures, failures


def test_the_keyboard_reaches_the_content_and_the_menus(live_server, page, demo_accounts):
    person = account(demo_accounts, "manager")
    sign_in(page, live_server, person["email"], person["password"])
    page.goto(live_server + "/dashboard")
    # The first Tab lands on "Skip to main content", which moves the focus into the page's content.
    page.keyboard.press("Tab")
    assert "skip-link" in page.evaluate("document.activeElement.className")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")
    # The "More" menu opens and is walked with the keyboard.
    toggle = page.locator("nav .nav-item.dropdown > button.dropdown-toggle").first
    toggle.focus()
    page.keyboard.press("Enter")
    menu = page.locator("nav .nav-item.dropdown .dropdown-menu").first
    menu.wait_for(state="visible")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.classList.contains('dropdown-item')")
    page.keyboard.press("Escape")
    assert not menu.is_visible()
    # Every control on the board can be reached: the columns scroll area takes the focus.
    page.goto(live_server + "/portfolio/board")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('.board, [data-board]')"):
            break
    else:
        pytest.fail("Tab never reached the board")


def test_the_language_is_chosen_with_the_keyboard_before_the_page_switches(live_server, page, demo_accounts):
    """An arrow key in the language list moves through the languages without leaving this one (the list
    sent its form at the first arrow); the Change button then shows, and Enter switches. The pointer's
    choice still switches at once (switch_language)."""
    person = account(demo_accounts, "officer")
    sign_in(page, live_server, person["email"], person["password"])
    page.goto(live_server + "/dashboard", wait_until="load")
    switch_language(page, "fr")
    select = page.locator("#language-select")
    button = page.locator("[data-autosubmit-button]")
    assert not button.is_visible() or button.bounding_box()["width"] <= 1  # hidden from sight until needed
    select.focus()
    page.keyboard.press("ArrowDown")
    button.wait_for(state="visible")
    assert button.bounding_box()["width"] > 1
    assert page.evaluate("document.documentElement.lang") == "fr" and select.input_value() != "fr"
    chosen = select.input_value()
    navigate(page, lambda: select.press("Enter"))
    page.wait_for_function("language => document.documentElement.lang === language", arg=chosen)
    switch_language(page, "fr")


def test_focus_is_seen_on_the_top_bar_and_a_refusal_is_where_the_focus_goes(live_server, page, demo_accounts):
    """The language list and the search box of the green bar had a focus ring of green on green (1.0:1); a
    wrong password left the focus at the top of the page, the reason in a banner nobody announced."""
    page.context.clear_cookies()
    page.goto(live_server + "/sign-in", wait_until="load")
    page.fill("input[name=email]", "nobody@sharaka.example")
    page.fill("input[name=password]", "not-the-password")
    navigate(page, lambda: page.press("input[name=password]", "Enter"))
    page.wait_for_function("document.activeElement && document.activeElement.classList.contains('alert-danger')")
    person = account(demo_accounts, "officer")
    sign_in(page, live_server, person["email"], person["password"])
    page.goto(live_server + "/dashboard", wait_until="load")
    page.locator("#language-select").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # reached by the keyboard: :focus-visible applies
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineColor]; })()"
    )
    assert outline[0] == "solid" and outline[1] in ("rgb(255, 255, 255)", "#fff")
