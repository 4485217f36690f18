"""In a real browser: comparing two versions of a text, the digital signature of a signed copy, and
progress reports with indicators (the demo's Mistral AI lab), in English and in Arabic on a phone."""

import re
from concurrent.futures import ThreadPoolExecutor

from tests.browser.conftest import account, navigate, sign_in, switch_language
from tests.support.documents import docx_bytes
from tests.support.signed_pdfs import Authority, plain_pdf, sign

NEGOTIATION = "MTNRA-2026-008"  # in negotiation in the demo
SIGNATURE = "MTNRA-2026-009"  # in the signature stage
LAB = "MTNRA-2026-001"  # the Mistral AI x ministry lab, with illustrative indicators


def _owner_of(reference: str) -> dict:
    from app.demo.loader import demo_sign_ins, read_portfolio

    owner = next(a["owner"] for a in read_portfolio()["agreements"] if a["reference"] == reference)
    return next(row for row in demo_sign_ins() if row["email"] == owner)


def _open_agreement(page, base: str, reference: str) -> None:
    page.goto(f"{base}/agreements/?q={reference}")
    navigate(page, page.locator(f"a:has-text('{reference}')").first.click)


def _phone_in_arabic(browser, base, person, url, path, selector):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ar-MA")
    page = context.new_page()
    try:
        sign_in(page, base, person["email"], person["password"])
        language = page.locator("select[name=language]").input_value()
        page.click(".navbar-toggler")
        switch_language(page, "ar")
        page.goto(url)
        page.wait_for_function("document.documentElement.dir === 'rtl'")
        page.locator(selector).first.wait_for(state="visible")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "sideways scroll"
        page.screenshot(path=str(path), full_page=True)
        page.locator(selector).first.screenshot(path=str(path.with_name(path.stem + "-detail.png")))
        page.click(".navbar-toggler")
        switch_language(page, language)
    finally:
        context.close()


def test_two_versions_compared_from_the_negotiation_panel(live_server, page, browser, artifacts, tmp_path):
    officer = _owner_of(NEGOTIATION)
    first, second = tmp_path / "projet-v1.docx", tmp_path / "projet-v2.docx"
    first.write_bytes(
        docx_bytes(
            [
                ("h1", "Article 1 : Objet"),
                ("p", "Le ministère forme 100 personnes."),
                ("h1", "المادة 2"),
                ("p", "يلتزم الطرفان بالتعاون."),
            ]
        )
    )
    second.write_bytes(
        docx_bytes(
            [
                ("h1", "Article 1 : Objet"),
                ("p", "Le ministère forme 250 personnes."),
                ("h1", "المادة 2"),
                ("p", "يلتزم الطرفان بالتعاون الوثيق."),
                ("p", "Une clause ajoutée."),
            ]
        )
    )
    sign_in(page, live_server, officer["email"], officer["password"])
    _open_agreement(page, live_server, NEGOTIATION)
    agreement_url = page.url
    for path in (first, second):
        # Each side in its turn (another test may have sent the ministry's version already).
        on_behalf = page.get_attribute(".negotiation-turn", "data-ministry-turn") == "no"
        form = page.locator("form[action$='/negotiation/versions']")
        form.locator("input[type=file]").set_input_files(str(path))
        checkbox = form.locator("input[name=on_behalf_of_partner]")
        if checkbox.is_checked() != on_behalf:
            checkbox.set_checked(on_behalf)
        navigate(page, form.locator("button[type=submit]").click)
    # The comparison of the two versions sent above: the newest pair (another test may have sent a version
    # to this agreement before, in the same server).
    links = page.locator("a.compare-link")
    newest = max(range(links.count()), key=lambda i: int(links.nth(i).get_attribute("href").rsplit("new=", 1)[1]))
    link = links.nth(newest)
    assert re.search(r"\d", link.inner_text())  # the demo's people read French: no English text here
    navigate(page, link.click)
    assert page.locator("del.diff-del", has_text="100").count() == 1
    assert page.locator("ins.diff-ins", has_text="250").count() == 1
    assert page.locator("ins.diff-ins", has_text="الوثيق").count() == 1
    assert page.locator(".diff p[dir=auto]").count() >= 5  # every paragraph finds its own direction
    assert page.locator(".section-changes tbody tr").count() == 2  # Article 1 and المادة 2
    page.screenshot(path=str(artifacts / "60-compare-versions.png"), full_page=True)
    _phone_in_arabic(
        browser, live_server, officer, page.url, artifacts / "61-compare-versions-phone-arabic.png", ".diff"
    )
    assert agreement_url


def test_a_signed_copy_shows_its_digital_signature(live_server, page, artifacts, tmp_path):
    officer = _owner_of(SIGNATURE)
    signed = tmp_path / "convention-signee.pdf"
    # pyHanko runs its own event loop: in a thread of its own, beside Playwright's.
    with ThreadPoolExecutor(1) as pool:
        signed.write_bytes(
            pool.submit(
                lambda: sign(
                    plain_pdf("Convention", "Article 1"), Authority.create("Browser Test Root").signer("Amal Benali")
                )
            ).result()
        )
    sign_in(page, live_server, officer["email"], officer["password"])
    _open_agreement(page, live_server, SIGNATURE)
    form = page.locator("form[action$='/signed-copy']")
    form.locator("input[type=file]").set_input_files(str(signed))
    navigate(page, form.locator("button[type=submit]").click)
    check = page.locator(".signature-check").last
    # No trust roots are configured on the demo server: intact, but the signer is not trusted.
    assert check.get_attribute("data-signature-status") == "untrusted"
    text = check.inner_text()
    assert "Amal Benali" in text and "Browser Test Root" in text
    page.locator("#signature-heading").locator("xpath=..").screenshot(path=str(artifacts / "62-signature-check.png"))
    navigate(page, page.locator("a[href$='/summary']").first.click)
    assert page.locator(".summary-signature[data-signature-status=untrusted]").count() == 1


def test_indicators_handed_in_and_shown_against_targets(live_server, page, browser, artifacts, demo_accounts):
    officer, partner = _owner_of(LAB), account(demo_accounts, "partner", "mistral")
    sign_in(page, live_server, officer["email"], officer["password"])
    _open_agreement(page, live_server, LAB)
    lab_url = page.url
    panel = page.locator("#indicators")
    assert panel.locator("svg.indicator-chart").count() == 1
    assert panel.locator("tr[data-indicator]").count() == 2
    assert panel.locator(".badge.text-bg-warning").count() == 2  # both marked illustrative
    assert page.locator("script", has_text="indicator").count() == 0  # drawn on the server
    panel.screenshot(path=str(artifacts / "63-indicators-agreement.png"))

    # The partner hands in the next quarterly report with its figures; a bad figure is refused first.
    sign_in(page, live_server, partner["email"], partner["password"])
    page.goto(lab_url)
    # The lab's next quarterly report (the earlier ones carry the demo's illustrative figures).
    page.goto(live_server + page.locator("#deliverables a[href*='/deliverables/']").last.get_attribute("href"))
    occurrence_url = page.url
    form = page.locator("form[action$='/submissions']")
    fields = form.locator(".indicator-fields input")
    assert fields.count() == 2
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "t4.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%t4\n%%EOF\n"}]
    )
    fields.nth(0).fill("beaucoup")
    fields.nth(1).fill("1")
    navigate(page, form.locator("button[type=submit]").click)
    assert page.locator(".alert-danger").count() >= 1
    assert page.locator("[data-submission]").count() == 0
    form = page.locator("form[action$='/submissions']")
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "t4.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%t4\n%%EOF\n"}]
    )
    fields = form.locator(".indicator-fields input")
    fields.nth(0).fill("115")
    fields.nth(1).fill("1")
    navigate(page, form.locator("button[type=submit]").click)
    assert page.locator(".submission-indicators .indicator-achieved", has_text="115").count() == 1

    # The reviewer sees achieved against target; the portfolio page adds it up.
    sign_in(page, live_server, officer["email"], officer["password"])
    page.goto(occurrence_url)
    row = page.locator(".submission-indicators tbody tr").first
    assert "115" in row.inner_text() and "300" in row.inner_text()
    page.goto(live_server + "/portfolio/indicators")
    table = page.locator(".indicators-table")
    # 40 + 65 + 80 + 115 = 300; the percentage as French writes it, a no-break space before "%".
    assert "300" in table.inner_text() and "100\u00a0%" in table.inner_text()
    page.screenshot(path=str(artifacts / "64-indicators-portfolio.png"), full_page=True)
    _phone_in_arabic(
        browser, live_server, officer, lab_url, artifacts / "65-indicators-phone-arabic.png", "#indicators"
    )
