"""Pages people use every day without help (#16), in a real browser: phones, the top bar, search, sign-in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import account, navigate, new_mou, sign_in, switch_language

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
MINISTRY_PAGES = [
    "/dashboard",
    "/inbox",
    "/agreements/",
    "/agreements/?q=الذكاء",
    "/deliverables/",
    "/portfolio/board",
    "/portfolio/timeline",
    "/organizations/",
    "/events/",
    "/notifications",
    "/search?q=ميسترال",
]
PARTNER_PAGES = ["/portal", "/agreements/", "/notifications", "/search?q=الذكاء"]


def _shot_name(prefix: str, path: str) -> str:
    return prefix + "-" + (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home")


def _agreement_pages(page, live_server) -> list[str]:
    """Every agreement the reader sees in the list's first page (long ministry names, Arabic titles)."""
    page.goto(live_server + "/agreements/")
    links = page.locator("a[href^='/agreements/']").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return sorted({link for link in links if re.fullmatch(r"/agreements/\d+", link)})[:8]


def _fits(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.parametrize("language", ["ar", "fr"])
@pytest.mark.parametrize(
    ("role", "organization", "paths"), [("manager", "", MINISTRY_PAGES), ("partner", "mistral", PARTNER_PAGES)]
)
def test_no_page_scrolls_sideways_on_a_phone(
    live_server, page, artifacts, demo_accounts, language, role, organization, paths
):
    person = account(demo_accounts, role, organization)
    sign_in(page, live_server, person["email"], person["password"])
    switch_language(page, language)
    pages = paths + _agreement_pages(page, live_server)
    page.set_viewport_size(PHONE)
    too_wide = {}
    for path in pages:
        page.goto(live_server + path, wait_until="load")
        expect(page.locator("main")).to_be_visible()
        scroll_width, inner_width = _fits(page)
        if scroll_width > inner_width:
            too_wide[path] = scroll_width
        if path in paths or path == pages[len(paths)]:
            page.screenshot(
                path=str(artifacts / f"{_shot_name(f'16-phone-{role}-{language}', path)}.png"), full_page=True
            )
    assert not too_wide, f"wider than {PHONE['width']} px: {too_wide}"


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_the_lists_fit_a_phone_without_scrolling_their_table(live_server, page, demo_accounts, language):
    """On a phone the agreements and deliverables lists show each row whole: the reference above its title,
    the status under its date. Their own columns had squeezed the titles to two words a line and pushed the
    last column off the screen, into a table that scrolled sideways."""
    person = account(demo_accounts, "officer")
    sign_in(page, live_server, person["email"], person["password"])
    switch_language(page, language)
    page.set_viewport_size(PHONE)
    for path, title in (("/agreements/", "td.card-cell-body bdi"), ("/deliverables/", "td.card-cell-body a")):
        page.goto(live_server + path, wait_until="load")
        row = page.locator("main table tbody tr").first
        expect(row.locator("td.card-cell-side .badge")).to_be_visible()
        frame = page.locator("main .table-responsive")
        overflow = frame.evaluate("frame => frame.scrollWidth - frame.clientWidth")
        assert overflow <= 0, f"{path}: the table is {overflow} px wider than the screen"
        # The title has the card's whole width, under the reference or date and the status.
        width = row.locator(title).evaluate("title => title.closest('td').getBoundingClientRect().width")
        assert width >= PHONE["width"] * 0.8, f"{path}: the title's cell is {width} px wide"
    # The open sessions: each one's sign-out button on the screen (as columns it was half off it).
    page.goto(live_server + "/account/security", wait_until="load")
    button = page.locator("tr[data-current='yes'] td.card-cell-side button")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"the sign-out button is at {box}"
    # Stage analytics' agreements over their SLA: each a card, its days on the screen (as six columns at
    # least 34rem wide the table scrolled sideways and cut the titles).
    page.goto(live_server + "/portfolio/analytics", wait_until="load")
    late = page.locator("section[aria-labelledby='late-heading'] .table-responsive")
    expect(late.locator("td.card-cell-side").first).to_be_visible()
    assert late.evaluate("frame => frame.scrollWidth - frame.clientWidth") <= 0
    days = late.locator("td.card-cell-side").first.bounding_box()
    assert days["x"] >= 0 and days["x"] + days["width"] <= PHONE["width"], f"the days are at {days}"


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_the_account_tabs_show_the_current_one_on_a_phone(live_server, page, demo_accounts, language):
    """The account's tabs scroll sideways on a phone; each page opens with its own tab in view (in Arabic
    the security page's tab was cut off at the row's end, only its icon showing)."""
    person = account(demo_accounts, "manager")
    sign_in(page, live_server, person["email"], person["password"])
    switch_language(page, language)
    page.set_viewport_size(PHONE)
    for path in ("/account/security", "/account/notifications", "/account"):
        page.goto(live_server + path, wait_until="load")
        expect(page.locator("nav .nav-tabs .nav-link.active")).to_be_visible()
        # The tab is brought into its row once the fonts are in: wait for that state, or fail on timeout.
        page.wait_for_function(
            """() => {
                const row = document.querySelector("nav .nav-tabs").getBoundingClientRect();
                const tab = document.querySelector("nav .nav-tabs .nav-link.active").getBoundingClientRect();
                return tab.left >= row.left - 1 && tab.right <= row.right + 1;
            }"""
        )


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_the_timeline_opens_with_today_in_sight_on_a_phone(live_server, page, demo_accounts, language):
    """On a phone the timeline's bars show beside the sticky names in a narrow strip; it opened at its start,
    today's line and label off the side of the screen (in French, "Aujourd'hui" cut at the edge)."""
    person = account(demo_accounts, "officer")
    sign_in(page, live_server, person["email"], person["password"])
    switch_language(page, language)
    page.set_viewport_size(PHONE)
    page.goto(live_server + "/portfolio/timeline", wait_until="load")
    expect(page.locator(".timeline-today-label")).to_be_attached()
    shown = page.evaluate(
        """() => {
            const box = document.querySelector(".timeline-scroll").getBoundingClientRect();
            const names = document.querySelector(".timeline-label").getBoundingClientRect().width;
            const rtl = document.documentElement.dir === "rtl";
            const [start, end] = rtl ? [box.left, box.right - names] : [box.left + names, box.right];
            const line = document.querySelector(".timeline-today").getBoundingClientRect();
            const label = document.querySelector(".timeline-today-label").getBoundingClientRect();
            return [start, Math.min(line.left, label.left), Math.max(line.right, label.right), end];
        }"""
    )
    start, left, right, end = shown
    assert start - 1 <= left and right <= end + 1, f"today at {left}-{right}, the bars shown at {start}-{end}"


# Where the bar is open: container-xl gives it the window less 24 px up to 1199 px, 1116 px up to 1399 px,
# and never more than 1296 px from there (a wider screen only widens the margins).
LAPTOPS = (1280, 1366, 1400, 1440, 1536, 1600, 1920, 2560)
TOP_BAR = """() => {
    const box = element => element.getBoundingClientRect();
    const brand = box(document.querySelector(".navbar-brand"));
    const shown = [...document.querySelectorAll(".navbar-collapse > .d-flex > *")].filter(e => box(e).width > 0);
    const field = document.querySelector(".top-search .form-control");
    return {
        sections: [...document.querySelectorAll(".navbar .navbar-nav > li")].map(li => Math.round(box(li).top)),
        apart: shown.filter(e => Math.abs((box(e).top + box(e).bottom - brand.top - brand.bottom) / 2) > 4)
            .map(e => e.className),
        cut: shown.filter(e => box(e).left < 0 || box(e).right > window.innerWidth).map(e => e.className),
        searchButtonBelow: box(field).width > 0
            && box(document.querySelector(".top-search .btn")).top >= box(field).bottom - 1,
    };
}"""


@pytest.mark.parametrize("language", ["fr", "en", "ar"])
@pytest.mark.parametrize("role", ["manager", "officer", "admin"])
def test_the_top_bar_fits_every_width_and_keeps_to_one_line_on_a_laptop(
    live_server, page, artifacts, demo_accounts, language, role
):
    """The admin's menu is the longest (five sections and More with eight), the manager's and the officer's
    bar as wide. From 1400 px the sections' icons, the brand in both scripts and the search field had made
    the bar wider than its 1296 px: the page scrolled sideways between 1400 and 1599 px (1508 px at 1440 in
    English), the account button was cut at the screen's edge and the search button sat under its field."""
    person = account(demo_accounts, role)
    sign_in(page, live_server, person["email"], person["password"])
    switch_language(page, language)
    page.goto(live_server + "/agreements/")
    too_wide = {}
    for width in [*range(320, 2561, 40), *LAPTOPS]:
        page.set_viewport_size({"width": width, "height": 900})
        scroll_width, inner_width = _fits(page)
        if scroll_width > inner_width:
            too_wide[width] = scroll_width
    assert not too_wide, f"the page scrolls sideways (window width: page width): {too_wide}"
    for width in LAPTOPS:
        page.set_viewport_size({"width": width, "height": 900})
        bar = page.evaluate(TOP_BAR)
        assert len(set(bar["sections"])) == 1, f"{width} px: the sections on more than one line {bar['sections']}"
        # The search, the language, the bell and the account on the brand's line, whole on the screen.
        assert not bar["apart"] and not bar["cut"], f"{width} px: {bar}"
        assert not bar["searchButtonBelow"], f"{width} px: the search button under its field"
    if role == "admin":
        for width in (1366, 1440):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(
                path=str(artifacts / f"16-top-menu-{width}-{language}.png"),
                clip={"x": 0, "y": 0, "width": width, "height": 80},
            )


def test_partners_get_their_own_short_menu(live_server, page, demo_accounts):
    person = account(demo_accounts, "partner", "mistral")
    sign_in(page, live_server, person["email"], person["password"])
    menu = page.locator(".navbar .navbar-nav").inner_text()
    assert "Portfolio" not in menu and "Deliverables" not in menu
    assert page.locator(".navbar a[href='/portfolio/board']").count() == 0


def test_the_top_bar_search_understands_arabic_and_keeps_to_what_one_may_see(
    live_server, page, artifacts, demo_accounts
):
    manager = account(demo_accounts, "manager")
    sign_in(page, live_server, manager["email"], manager["password"])
    switch_language(page, "ar")
    page.set_viewport_size({"width": 1440, "height": 900})
    box = page.locator(".navbar input[name=q]")
    expect(box).to_be_visible()
    box.fill("ميسترال")
    navigate(page, lambda: box.press("Enter"))
    results = page.locator(".search-results li")
    expect(results.first).to_be_visible()
    kinds = results.evaluate_all("items => items.map(li => li.dataset.kind)")
    assert "organization" in kinds and kinds.count("agreement") >= 2
    assert "Mistral" in page.locator(".search-results").inner_text()
    page.screenshot(path=str(artifacts / "16-search-mistral-ar.png"), full_page=True)

    # Arabic clitics: "الذكاء" also finds titles written "للذكاء" or "بالذكاء".
    page.goto(live_server + "/search?q=" + "الذكاء")
    titles = page.locator(".search-results").inner_text()
    assert "للذكاء" in titles or "بالذكاء" in titles or "والذكاء" in titles

    # A partner of another organisation never sees Mistral AI's agreements or its name.
    undp = account(demo_accounts, "partner", "undp")
    sign_in(page, live_server, undp["email"], undp["password"])
    page.goto(live_server + "/search?q=" + "ميسترال")
    assert page.locator(".search-results li").count() == 0
    page.screenshot(path=str(artifacts / "16-search-partner-sees-nothing-else.png"), full_page=True)


def test_the_sign_in_page_says_it_in_arabic_first(live_server, browser, artifacts):
    context = browser.new_context(viewport=PHONE, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(live_server + "/sign-in")
        first = page.locator(".sign-in-languages p").first
        expect(first).to_have_attribute("lang", "ar")
        buttons = page.locator(".sign-in-languages button[name=language]")
        assert buttons.evaluate_all("bs => bs.map(b => b.value)") == ["ar", "fr", "en"]
        navigate(page, buttons.first.click)
        assert page.evaluate("document.documentElement.lang") == "ar"
        assert page.evaluate("document.documentElement.dir") == "rtl"
        assert _fits(page)[0] <= PHONE["width"]
        page.screenshot(path=str(artifacts / "16-sign-in-ar-phone.png"), full_page=True)
    finally:
        context.close()


def _axe_serious(page) -> list[dict]:
    from tests.browser.test_accessibility import _violations

    return _violations(page)


@pytest.mark.parametrize(("language", "viewport"), [("fr", DESKTOP), ("ar", PHONE)])
def test_the_parties_are_chosen_by_typing_with_the_keyboard_alone(
    live_server, browser, artifacts, demo_accounts, language, viewport
):
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", bypass_csp=True)  # bypass: axe is injected
    page = context.new_page()
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    original = page.locator("select[name=language]").input_value()
    try:
        switch_language(page, language)
        page.set_viewport_size(viewport)
        page.goto(live_server + "/agreements/new")
        search = page.locator("#partners-ts-control")
        expect(search).to_have_attribute("role", "combobox")
        # The label names the search box; the help says how to use it (no Ctrl-click any more).
        assert page.locator("label[for='partners-ts-control']").count() == 1
        assert "Ctrl" not in page.locator("#partners-help").inner_text()
        page.locator("#title_fr").focus()
        # From the title, the keyboard alone: Tab to the parties, type a Latin name (the page may be in
        # Arabic), Enter, another, Backspace takes the last one back.
        while page.evaluate("document.activeElement.id") != "partners-ts-control":
            page.keyboard.press("Tab")
        page.keyboard.type("Mistral")
        expect(search).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#partners-ts-dropdown [role=option].active")).to_have_count(1)
        assert not _axe_serious(page)  # the open list too
        page.keyboard.press("Enter")
        page.keyboard.type("UM6P")
        expect(page.locator("#partners-ts-dropdown [role=option].active")).to_have_count(1)
        page.keyboard.press("Enter")
        chosen = "select => Array.from(select.selectedOptions).map(o => o.textContent)"
        expect(page.locator("#partners + .ts-wrapper .item")).to_have_count(2)
        assert len(page.locator("#partners").evaluate(chosen)) == 2
        assert page.locator("#partners option[data-search*='UM6P']").evaluate("option => option.selected")
        page.keyboard.press("Backspace")
        expect(page.locator("#partners + .ts-wrapper .item")).to_have_count(1)
        assert "Mistral" in page.locator("#partners").evaluate(chosen)[0]
        expect(page.locator("#partners + .ts-wrapper [aria-live]")).not_to_be_empty()
        # What is chosen is said with the field (the chips are plain text to a screen reader).
        described = search.get_attribute("aria-describedby").split()
        assert "partners-chosen" in described
        assert "Mistral" in page.locator("#partners-chosen").text_content()
        # Enter with nothing matching neither picks anything nor sends the form.
        page.keyboard.type("zzzz")
        page.keyboard.press("Enter")
        expect(page.locator("#partners + .ts-wrapper .item")).to_have_count(1)
        assert page.url.endswith("/agreements/new")
        assert page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")[0] <= viewport["width"]
        page.screenshot(path=str(artifacts / f"16-new-agreement-parties-{language}.png"), full_page=True)
        # Sent without a title and without a partner: both reported at once, on the first submit.
        page.keyboard.press("Escape")
        page.keyboard.press("Backspace")
        page.keyboard.press("Backspace")
        expect(page.locator("#partners + .ts-wrapper .item")).to_have_count(0)
        navigate(page, page.locator("form button[type=submit]").last.click)
        expect(page.locator(f"#title_{language}-error")).to_be_visible()  # under the title the form shows first
        expect(page.locator("#partners-error")).to_be_visible()
        expect(page.locator("#partners + .ts-wrapper")).to_have_class(re.compile("is-invalid"))
        # The search box carries the error for screen readers, and takes the cursor first if it is the first.
        assert "partners-error" in page.locator("#partners-ts-control").get_attribute("aria-describedby")
        assert not _axe_serious(page)
        # With a title, the partners come first to correct: the cursor is in their box with the list closed
        # (an open list covered the error), and typing finds and Enter picks.
        page.fill(f"#title_{language}", "Accord sans partenaire")
        navigate(page, page.locator("form button[type=submit]").last.click)
        expect(page.locator("#partners-error")).to_be_visible()
        expect(page.locator("#partners-ts-control")).to_be_focused()
        expect(page.locator("#partners + .ts-wrapper .ts-dropdown")).to_be_hidden()
        page.keyboard.type("UM6P")
        expect(page.locator("#partners + .ts-wrapper .ts-dropdown .option.active")).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.locator("#partners + .ts-wrapper .item")).to_have_count(1)
    finally:
        page.set_viewport_size(DESKTOP)
        switch_language(page, original)
        context.close()


def test_without_javascript_the_parties_stay_a_plain_list(live_server, browser, demo_accounts):
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    officer = account(demo_accounts, "officer")
    try:
        sign_in(page, live_server, officer["email"], officer["password"])
        page.goto(live_server + "/agreements/new")
        expect(page.locator("select#partners[multiple]")).to_be_visible()
        assert "Ctrl" in page.locator("#partners-help").inner_text()
        assert page.locator(".ts-wrapper").count() == 0
    finally:
        context.close()


def test_a_manager_hands_a_late_approval_to_a_colleague_from_the_dashboard(
    live_server, browser, artifacts, demo_accounts
):
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", bypass_csp=True)  # bypass: axe is injected
    page = context.new_page()
    manager = account(demo_accounts, "manager")
    sign_in(page, live_server, manager["email"], manager["password"])
    original = page.locator("select[name=language]").input_value()
    try:
        switch_language(page, "ar")
        page.set_viewport_size(PHONE)
        page.goto(live_server + "/dashboard")
        # On a phone too, the late approval of someone else offers both actions.
        reassign = page.locator("#late-approvals [data-action=reassign-approval]").filter(visible=True).first
        expect(reassign).to_be_visible()
        navigate(page, reassign.click)
        expect(page.locator("h1")).to_be_visible()
        assert not _axe_serious(page)
        assert page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")[0] <= PHONE["width"]
        page.screenshot(path=str(artifacts / "16-reassign-approval-ar-phone.png"), full_page=True)
        taker = page.locator("select[name=to_id] option").first.inner_text()
        navigate(page, page.locator("main form button[type=submit]").click)
        expect(page.locator(".alert-success")).to_be_visible()
        assert page.url.endswith("/dashboard")
    finally:
        page.set_viewport_size(DESKTOP)
        switch_language(page, original)
        context.close()
    # The person it waited on sees the delegation made for them, and revokes it (leaving the demo as it was).
    legal = account(demo_accounts, "legal")
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page, live_server, legal["email"], legal["password"])
        page.goto(live_server + "/account/delegations")
        # The drop-down names a colleague "name · role · e-mail"; the table, by name.
        row = page.locator("section[aria-labelledby=given-heading] tr", has_text=taker.split(" · ")[0]).first
        expect(row).to_be_visible()
        page.on("dialog", lambda dialog: dialog.accept())  # "Revoke?"
        navigate(page, row.locator("form button[type=submit]").click)
    finally:
        context.close()


def test_a_long_file_name_and_a_budget_stay_on_a_phones_screen(
    live_server, browser, page, artifacts, demo_accounts, tmp_path
):
    """A file's name of 200 characters without a space had made an agreement page 1,800 px wide on a phone;
    a budget line's long label had pushed the amounts and the totals per currency off the budget card.
    The portfolio's budget page gives the total of signed and in preparation in a column of its own."""

    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    new_mou(page, live_server, title_fr="Mémorandum au budget long (browser test)")
    reference = re.search(r"MTNRA-\d{4}-\d{3}", page.content()).group(0)
    url = page.url
    page.goto(url + "/budget/new")
    page.fill("input[name=label]", "Infrastructure_cloud_souveraine_du_laboratoire_national_de_recherche")
    page.fill("input[name=amount]", "9999999999.99")
    navigate(page, page.locator("main form button[type=submit]").last.click)
    attachment = tmp_path / ("rapport_" + "x" * 180 + ".pdf")
    attachment.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n")
    form = page.locator("#thread-shared form.discussion-form")
    form.locator("textarea[name=body]").fill("Le rapport en pièce jointe (browser test)")
    form.locator("input[type=file]").set_input_files(str(attachment))
    navigate(page, form.locator("button[type=submit]").click)
    assert page.locator("#thread-shared .discussion-message", has_text="rapport_xxx").count() == 1

    context = browser.new_context(viewport=PHONE, is_mobile=True, locale="ar-MA")
    phone = context.new_page()
    try:
        sign_in(phone, live_server, officer["email"], officer["password"])
        phone.goto(url)
        assert _fits(phone)[0] <= PHONE["width"] + 1, f"{reference} scrolls sideways: {_fits(phone)}"
        language = phone.locator("select[name=language]").input_value()
        phone.click(".navbar-toggler")
        switch_language(phone, "ar")
        phone.wait_for_function("document.documentElement.dir === 'rtl'")
        assert _fits(phone)[0] <= PHONE["width"] + 1, f"{reference} scrolls sideways: {_fits(phone)}"
        amounts = phone.locator("#budget [data-phone-amount]")
        assert amounts.count() == 2  # the line's and the total's
        for index in range(amounts.count()):
            amounts.nth(index).scroll_into_view_if_needed()
            box = amounts.nth(index).bounding_box()
            assert box and box["width"] > 0 and 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"] + 1
        expect(phone.locator("#budget")).to_contain_text("9,999,999,999.99")
        phone.locator("#budget").screenshot(path=str(artifacts / "65-budget-card-ar-phone.png"))
        phone.click(".navbar-toggler")
        switch_language(phone, language)
    finally:
        context.close()

    manager = account(demo_accounts, "manager")
    sign_in(page, live_server, manager["email"], manager["password"])
    page.goto(live_server + "/portfolio/budget")
    language = page.locator("select[name=language]").input_value()
    switch_language(page, "en")  # (another test may have left the manager reading Arabic)
    headings = page.locator(".budget-totals thead th").all_inner_texts()
    assert headings[-2:] == ["Total", "Budget lines"] and "In preparation" in headings
    page.set_viewport_size(PHONE)
    assert _fits(page)[0] <= PHONE["width"] + 1
    expect(page.locator(".budget-totals thead th", has_text="Total")).to_be_visible()
    page.screenshot(path=str(artifacts / "66-portfolio-budget-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    switch_language(page, language)
