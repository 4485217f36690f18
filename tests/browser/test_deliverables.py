"""A quarterly report of the Mistral AI MoU: handed in, sent back, handed in again, accepted, in a real browser."""

import re

from tests.browser.conftest import account, navigate, new_mou, sign_in, switch_language

PDF = b"%PDF-1.4\n%deliverables browser test\n%%EOF\n"
REFERENCE = "MTNRA-2025-010"


def _owner_of(reference: str) -> dict:
    """The demo officer who owns `reference`, with the password (several officers share an organisation)."""
    from app.demo.loader import demo_sign_ins, read_portfolio

    owner = next(a["owner"] for a in read_portfolio()["agreements"] if a["reference"] == reference)
    return next(row for row in demo_sign_ins() if row["email"] == owner)


def _as(page, live_server, person):
    sign_in(page, live_server, person["email"], person["password"])


def _status(page) -> str:
    return page.get_attribute("#status", "data-status")


def _hand_in(page, path, note):
    form = page.locator("form[action$='/submissions']")
    form.locator("input[type=file][name=files]").set_input_files(str(path))
    form.locator("textarea[name=note]").fill(note)
    navigate(page, form.locator("button[type=submit]").click)


def _review(page, decision, feedback=""):
    form = page.locator("form[action$='/review']")
    if feedback:
        form.locator("textarea[name=feedback]").fill(feedback)
    navigate(page, form.locator(f"button[name=decision][value={decision}]").click)


def _phone_portal_in_arabic(browser, live_server, partner, path):
    """The partner's portal on a 390px phone, switched to Arabic; the user's own language is put back after."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ar-MA")
    page = context.new_page()
    try:
        sign_in(page, live_server, partner["email"], partner["password"])
        language = page.locator("select[name=language]").input_value()
        page.click(".navbar-toggler")  # the language menu is in the folded menu on a phone
        switch_language(page, "ar")
        page.wait_for_function("document.documentElement.dir === 'rtl'")
        assert page.url.rstrip("/").endswith("/portal")
        # Nothing sticks out sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(path), full_page=True)
        page.click(".navbar-toggler")
        switch_language(page, language)
    finally:
        context.close()


def test_a_report_is_handed_in_sent_back_and_accepted(live_server, page, browser, artifacts, demo_accounts, tmp_path):
    partner = account(demo_accounts, "partner", "mistral")
    officer = _owner_of(REFERENCE)
    first_file = tmp_path / "rapport-T3.pdf"
    first_file.write_bytes(PDF)
    second_file = tmp_path / "rapport-T3-v2.pdf"
    second_file.write_bytes(PDF + b"%revised\n")
    feedback = "Ajoutez les indicateurs de formation du trimestre (browser test)."

    # The partner lands on the portal; the overdue quarterly report of the MoU is listed.
    _as(page, live_server, partner)
    assert page.url.rstrip("/").endswith("/portal")
    item = (
        page.locator(f"li[data-agreement='{REFERENCE}']")
        .filter(has=page.locator("[data-status=due], [data-status=overdue]"))
        .first
    )
    assert item.count() == 1, "no due deliverable for the Mistral MoU in the partner's portal (demo plan missing?)"
    page.screenshot(path=str(artifacts / "20-partner-portal.png"), full_page=True)
    navigate(page, item.locator("a[href*='/deliverables/']").first.click)
    occurrence_url = page.url
    assert re.search(r"/deliverables/\d+$", occurrence_url)
    assert _status(page) in ("due", "overdue")

    # Files past the upload limit are said before they are sent, and the note typed beside them stays (the
    # server could only refuse the whole request, on a page of its own).
    too_large = tmp_path / "trop-gros.pdf"
    too_large.write_bytes(PDF + b"0" * (26 * 1024 * 1024))
    form = page.locator("form[action$='/submissions']")
    form.locator("input[type=file][name=files]").set_input_files(str(too_large))
    form.locator("textarea[name=note]").fill("Rapport complet.")
    form.locator("button[type=submit]").click()
    page.wait_for_function("document.querySelector(\"input[type=file][name=files]\").validationMessage !== ''")
    assert page.url == occurrence_url and form.locator("textarea[name=note]").input_value() == "Rapport complet."

    # The partner hands in a PDF with a note.
    _hand_in(page, first_file, "Premier rapport trimestriel.")
    assert _status(page) == "submitted"
    assert "rapport-T3.pdf" in page.inner_text("main")
    assert page.locator("form[action$='/submissions']").count() == 0
    page.screenshot(path=str(artifacts / "21-handed-in.png"), full_page=True)

    # The owner officer sends it back with feedback.
    _as(page, live_server, officer)
    page.goto(occurrence_url)
    assert page.locator("form[action$='/submissions']").count() == 0  # the partner hands in, not the ministry
    _review(page, "send_back", feedback)
    assert _status(page) == "sent_back"
    page.screenshot(path=str(artifacts / "22-sent-back.png"), full_page=True)

    # The partner sees the feedback, on the portal and on the page, and hands in a new version.
    _as(page, live_server, partner)
    page.goto(live_server + "/portal")
    assert feedback in page.inner_text("main")
    assert page.locator(f"li[data-agreement='{REFERENCE}'] [data-status=sent_back]").count() >= 1
    page.goto(occurrence_url)
    assert page.inner_text("#latest-feedback").count(feedback) == 1
    page.screenshot(path=str(artifacts / "23-partner-sees-feedback.png"), full_page=True)
    _phone_portal_in_arabic(browser, live_server, partner, artifacts / "23b-partner-portal-phone-arabic.png")
    page.goto(occurrence_url)
    _hand_in(page, second_file, "Indicateurs ajoutés en section 3.")
    assert _status(page) == "submitted"
    assert page.locator("[data-submission]").count() == 2
    page.screenshot(path=str(artifacts / "24-handed-in-again.png"), full_page=True)

    # The officer accepts the second version.
    _as(page, live_server, officer)
    page.goto(occurrence_url)
    _review(page, "accept")
    assert _status(page) == "accepted"
    assert page.locator("form[action$='/review']").count() == 0
    main = page.inner_text("main")
    assert "rapport-T3.pdf" in main and "rapport-T3-v2.pdf" in main and feedback in main
    page.screenshot(path=str(artifacts / "25-accepted.png"), full_page=True)

    # Both files can be downloaded by the partner.
    _as(page, live_server, partner)
    page.goto(occurrence_url)
    href = page.locator("a[href*='/deliverables/files/']").first.get_attribute("href")
    response = page.request.get(live_server + href)
    assert response.ok and response.body().startswith(b"%PDF-1.4")


def test_a_line_entered_by_mistake_is_removed_after_the_browser_asks(live_server, page, demo_accounts):
    """ "Remove" on a plan line asks first: called off, the line stays; confirmed, it is gone with its dates."""
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])  # in the officer's own language
    new_mou(page, live_server, title_fr="Mémorandum au plan corrigé (browser test)")
    agreement_page = page.url.split("#")[0]
    navigate(page, page.locator("#deliverables a[href$='/deliverables/new']").first.click)
    page.fill("#title_fr", "Rapport saisi par erreur")
    page.fill("#first_due_on", "2030-06-30")
    navigate(page, page.locator("form.plan-form button[type=submit]").first.click)
    line = page.locator(".plan-line", has_text="Rapport saisi par erreur")
    line.wait_for()
    answers, asked = [False, True], []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)
    remove = line.locator("form[action$='/delete'] button[type=submit]")
    remove.click()  # called off: the browser sends nothing
    assert len(asked) == 1 and "Rapport saisi par erreur" in asked[0]
    assert page.url.split("#")[0] == agreement_page and line.count() == 1
    navigate(page, remove.click)
    page.locator(".alert-success", has_text="Rapport saisi par erreur").wait_for()
    assert len(asked) == 2 and page.locator(".plan-line", has_text="Rapport saisi par erreur").count() == 0
