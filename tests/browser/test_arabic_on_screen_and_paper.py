"""What an outside tester saw wrong in Arabic, in a real browser: a trail row's "what changed" as wide as
ten screens, a reference broken across lines on a phone, a printed summary past an A4 page's edge."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import account, sign_in, switch_language

PHONE = {"width": 390, "height": 844}
# An A4 page's width at 96 dpi, as Chromium lays out a print.
A4 = {"width": 794, "height": 1123}


def _reading_arabic(page, live_server, person, viewport) -> None:
    sign_in(page, live_server, person["email"], person["password"])
    switch_language(page, "ar")
    page.set_viewport_size(viewport)


def test_what_changed_in_the_trail_wraps_on_a_phone(live_server, page, demo_accounts):
    _reading_arabic(page, live_server, account(demo_accounts, "admin"), PHONE)
    page.goto(live_server + "/audit/events?action=deliverable_planned", wait_until="load")
    details = page.locator("main details").first
    details.locator("summary").click()
    changed = details.locator("dl.audit-changes")
    expect(changed).to_be_visible()
    assert "\\u" not in changed.inner_text()
    overflow = changed.evaluate("list => list.scrollWidth - list.clientWidth")
    assert overflow <= 0, f"'what changed' is {overflow} px wider than its box"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_reference_stays_on_one_line_in_arabic_search_results_on_a_phone(live_server, page, demo_accounts):
    _reading_arabic(page, live_server, account(demo_accounts, "officer"), PHONE)
    page.goto(live_server + "/search?q=MTNRA-2025-010", wait_until="load")
    references = page.locator(".search-results").get_by_text("MTNRA-2025-010", exact=True)
    expect(references.first).to_be_visible()
    assert references.count() > 1
    for index in range(references.count()):
        lines = references.nth(index).evaluate("element => element.getClientRects().length")
        assert lines == 1, f"result {index}: the reference is broken over {lines} lines"


def test_the_printed_summary_fits_an_a4_page_in_arabic(live_server, page, demo_accounts):
    _reading_arabic(page, live_server, account(demo_accounts, "manager"), A4)
    page.emulate_media(media="print")
    for agreement_id in (1, 2, 3):
        page.goto(live_server + f"/agreements/{agreement_id}/summary", wait_until="load")
        expect(page.locator("article.agreement-summary")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= A4["width"], f"agreement {agreement_id}'s summary is {width} px wide on paper"


# For each letter of an element's text (spaces left out), whether it is drawn inside the element's box.
LETTERS_SHOWN = """element => {
  const box = element.getBoundingClientRect();
  const text = element.firstChild;
  const shown = [];
  for (let i = 0; i < text.length; i++) {
    if (/\\s/.test(text.data[i])) continue;
    const range = document.createRange();
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    const letter = range.getBoundingClientRect();
    shown.push(letter.width > 0 && letter.left >= box.left - 0.5 && letter.right <= box.right + 0.5
      && letter.top >= box.top - 0.5 && letter.bottom <= box.bottom + 0.5);
  }
  return shown;
}"""


def test_a_mixed_title_cut_short_in_the_arabic_calendar_loses_its_end(live_server, page, demo_accounts, artifacts):
    """ "التقرير الفصلي لبرنامج D4SD" in a day of the month showed "…SD": the cut was made at the box's left
    edge, where the Latin name starts. What is shown of a title too long for its day is its beginning."""
    _reading_arabic(page, live_server, account(demo_accounts, "officer"), {"width": 1024, "height": 900})
    page.goto(live_server + "/portfolio/calendar?month=2026-12", wait_until="load")
    title = page.locator(".calendar-grid .calendar-item-title", has_text="التقرير الفصلي لبرنامج D4SD").first
    expect(title).to_be_visible()
    shown = title.evaluate(LETTERS_SHOWN)
    assert shown[0] and not all(shown), "the title was expected to be cut short in its day"
    cut = shown.index(False)
    assert not any(shown[cut:]), f"letters after the cut are shown: {shown}"
    title.locator("xpath=ancestor::td[1]").screenshot(path=str(artifacts / "calendar-day-title-cut-ar.png"))


# Which side of an amount's figures its currency is drawn on ("left" or "right").
CURRENCY_SIDE = """element => {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const centre = (node, index) => {
    const range = document.createRange();
    range.setStart(node, index);
    range.setEnd(node, index + 1);
    const rect = range.getBoundingClientRect();
    return rect.left + rect.width / 2;
  };
  let figure = null, currency = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      if (figure === null && /\\d/.test(node.data[i])) figure = centre(node, i);
      if (currency === null && /[\\p{L}\\p{Sc}]/u.test(node.data[i])) currency = centre(node, i);
    }
  }
  return currency < figure ? "left" : "right";
}"""


def test_every_amount_reads_the_same_way_in_arabic_on_screen_and_paper(live_server, page, demo_accounts):
    """In Arabic a dirham amount showed "د.م." left of its figures and a euro or dollar amount its sign on their
    right, in one column: each reads as Arabic writes it, its currency after the figures (on their left)."""
    officer = account(demo_accounts, "officer")
    _reading_arabic(page, live_server, officer, {"width": 1280, "height": 900})
    page.goto(f"{live_server}/agreements/?q=MTNRA-2025-006", wait_until="load")
    agreement = page.locator("a", has_text="MTNRA-2025-006").first.get_attribute("href")
    for path, viewport, amounts in [
        (agreement, {"width": 1280, "height": 900}, ".budget-lines td.text-sm-nowrap:visible"),
        (agreement, PHONE, ".budget-lines [data-phone-amount]:visible"),
        (agreement + "/summary", A4, ".budget-lines td.text-sm-nowrap:visible"),
    ]:
        page.set_viewport_size(viewport)
        page.goto(live_server + path, wait_until="load")
        cells = page.locator(amounts)
        expect(cells.first).to_be_visible()
        said = {cells.nth(i).inner_text(): cells.nth(i).evaluate(CURRENCY_SIDE) for i in range(cells.count())}
        assert any("د.م." in amount for amount in said) and any("US$" in amount for amount in said), said
        assert set(said.values()) == {"left"}, f"{path} at {viewport['width']} px: {said}"
