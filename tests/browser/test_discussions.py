"""Working together in a real browser: a discussion on the Mistral AI MoU (shared and internal
threads, in Arabic on a phone), approving from the e-mail's link, and verifying a copy."""

import re

from tests.browser.conftest import account, link_mailed_to, navigate, new_mou, sign_in, switch_language
from tests.browser.test_deliverables import _owner_of

MOU = "MTNRA-2025-010"  # the Mistral AI MoU of the demo
NEGOTIATING = "MTNRA-2026-008"  # a convention in negotiation in the demo


def _open_agreement(page, live_server, reference):
    page.goto(f"{live_server}/agreements/?q={reference}")
    navigate(page, page.locator("a", has_text=reference).first.click)
    return page.url


def test_a_discussion_shared_with_the_partner_and_one_kept_internal(
    live_server, page, browser, artifacts, demo_accounts
):
    partner = account(demo_accounts, "partner", "mistral")
    owner = _owner_of(MOU)
    shared_text = "Pouvez-vous confirmer le calendrier des formations ? (browser test)"
    internal_text = "Note interne : attendre l'avis financier avant de répondre. (browser test)"

    sign_in(page, live_server, partner["email"], partner["password"])
    url = _open_agreement(page, live_server, MOU)
    assert page.locator("#thread-internal").count() == 0  # the partner never sees the internal thread
    form = page.locator("#thread-shared form.discussion-form")
    form.locator("textarea[name=body]").fill(f"@{owner['email']} {shared_text}")
    navigate(page, form.locator("button[type=submit]").click)
    assert page.locator("#thread-shared .discussion-message", has_text=shared_text).count() == 1

    sign_in(page, live_server, owner["email"], owner["password"])
    page.goto(url)
    assert page.locator("#thread-shared .discussion-message", has_text=shared_text).count() == 1
    form = page.locator("#thread-internal form.discussion-form")
    form.locator("textarea[name=body]").fill(internal_text)
    navigate(page, form.locator("button[type=submit]").click)
    assert page.locator("#thread-internal .discussion-message", has_text=internal_text).count() == 1
    # Back to the page as it was before posting: the box is empty, not filled again with the message posted
    # (a second press of the button had posted it twice).
    navigate(page, page.go_back)
    page.locator("#thread-internal form.discussion-form textarea[name=body]").wait_for(state="visible")
    assert page.locator("#thread-internal form.discussion-form textarea[name=body]").input_value() == ""
    page.goto(url)
    page.locator("#thread-internal").screenshot(path=str(artifacts / "60-threads-internal.png"))
    # The owner was mentioned: a notice in the bell leads to the message.
    page.goto(live_server + "/notifications")
    assert page.locator("a", has_text=MOU).count() >= 1

    # The partner, on a phone in Arabic: the shared message, never the internal one.
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ar-MA")
    phone = context.new_page()
    try:
        sign_in(phone, live_server, partner["email"], partner["password"])
        phone.goto(url)
        language = phone.locator("select[name=language]").input_value()
        phone.click(".navbar-toggler")
        switch_language(phone, "ar")
        phone.wait_for_function("document.documentElement.dir === 'rtl'")
        assert phone.locator("#thread-shared", has_text=shared_text).count() == 1
        assert internal_text not in phone.content()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        phone.screenshot(path=str(artifacts / "61-thread-shared-ar-phone.png"), full_page=True)
        phone.click(".navbar-toggler")
        switch_language(phone, language)
    finally:
        context.close()


def test_approve_from_the_e_mail_link(live_server, page, artifacts, demo_accounts):
    legal = account(demo_accounts, "legal")
    officer = account(demo_accounts, "officer")
    sign_in(page, live_server, officer["email"], officer["password"])
    new_mou(page, live_server, title_fr="Mémorandum approuvé par courriel")
    reference = re.search(r"MTNRA-\d{4}-\d{3}", page.content()).group(0)
    navigate(page, page.locator("form[action$='/actions/submit_for_review'] button[type=submit]").first.click)

    # The mail waits in the outbox (no SMTP here). Its pages hide the link's secret from the admin;
    # the legal adviser's copy is read where the mail is kept.
    admin = account(demo_accounts, "admin")
    sign_in(page, live_server, admin["email"], admin["password"])
    link = link_mailed_to(live_server, legal["email"], "/approvals/by-mail/", reference)
    page.goto(live_server + "/admin/outbox")
    navigate(page, page.locator("tr", has_text=reference).locator("a").first.click)
    assert link.rsplit("/", 1)[1] not in page.content()
    path = "/approvals/" + link.split("/approvals/", 1)[1]
    approve_path = path  # the first link of the mail is "approve"

    # Someone else signed in (the admin) is not let through, and nothing about the agreement shows.
    page.goto(live_server + approve_path)
    assert page.get_attribute("#link-refused", "data-status") == "403" and reference not in page.content()

    sign_in(page, live_server, legal["email"], legal["password"])
    page.goto(live_server + approve_path)
    assert reference in page.content() and page.locator("#confirm-decision").count() == 1
    page.fill("textarea[name=comment]", "Conforme au modèle (browser test).")
    page.screenshot(path=str(artifacts / "62-approve-by-mail.png"), full_page=True)
    navigate(page, page.locator("#confirm-decision").click)
    assert re.search(r"/agreements/\d+$", page.url)
    assert "Conforme au modèle" in page.content() or page.locator(".alert-success").count() >= 1
    # Used once: opening it again says so.
    page.goto(live_server + approve_path)
    assert page.locator("#link-refused").count() == 1
    assert page.get_attribute("#link-refused", "data-status") == "410"  # gone: used


def test_verify_a_copy_of_a_sent_version(live_server, page, browser, artifacts, demo_accounts, tmp_path):
    owner = _owner_of(NEGOTIATING)
    version = tmp_path / "convention-v-browser.pdf"
    version.write_bytes(b"%PDF-1.4\n% verify browser test\n%%EOF\n")
    other = tmp_path / "autre.pdf"
    other.write_bytes(b"%PDF-1.4\n% not stored anywhere\n%%EOF\n")

    sign_in(page, live_server, owner["email"], owner["password"])
    _open_agreement(page, live_server, NEGOTIATING)
    form = page.locator("form[action$='/negotiation/versions']")
    form.locator("input[type=file]").set_input_files(str(version))
    navigate(page, form.locator("button[type=submit]").click)

    page.goto(live_server + "/verify")
    page.set_input_files("input[name=file]", str(version))
    navigate(page, page.locator("main form button[type=submit]").click)
    assert page.locator("#verify-found").count() == 1
    assert NEGOTIATING in page.locator("#verify-result").inner_text()
    page.screenshot(path=str(artifacts / "63-verify-found.png"), full_page=True)
    page.set_input_files("input[name=file]", str(other))
    navigate(page, page.locator("main form button[type=submit]").click)
    assert page.locator("#verify-not-found").count() == 1

    # On a phone, in Arabic: the result fits the screen (the SHA-256 wraps).
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="ar-MA")
    phone = context.new_page()
    try:
        sign_in(phone, live_server, owner["email"], owner["password"])
        phone.goto(live_server + "/verify")
        language = phone.locator("select[name=language]").input_value()
        phone.click(".navbar-toggler")
        switch_language(phone, "ar")
        phone.wait_for_function("document.documentElement.dir === 'rtl'")
        phone.set_input_files("input[name=file]", str(version))
        navigate(phone, phone.locator("main form button[type=submit]").click)
        assert phone.locator("#verify-found").count() == 1
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        phone.screenshot(path=str(artifacts / "64-verify-ar-phone.png"), full_page=True)
        phone.click(".navbar-toggler")
        switch_language(phone, language)
    finally:
        context.close()


def test_a_refused_message_keeps_its_text_and_says_why_at_the_form(live_server, page, artifacts, demo_accounts):
    """A partner mentions someone the shared thread does not include: refused, the text comes back in its
    box and the reason is shown at the form (on a phone the top of the page is out of sight)."""
    partner = account(demo_accounts, "partner", "mistral")
    legal = account(demo_accounts, "legal")
    text = f"@{legal['email']} Merci de relire l'annexe budgétaire. (browser test, refused)"
    sign_in(page, live_server, partner["email"], partner["password"])
    _open_agreement(page, live_server, MOU)
    form = page.locator("#thread-shared form.discussion-form")
    form.locator("textarea[name=body]").fill(text)
    navigate(page, form.locator("button[type=submit]").click)
    form = page.locator("#thread-shared form.discussion-form")
    form.locator(".alert-danger").wait_for()
    assert form.locator("textarea[name=body]").input_value() == text
    assert page.locator("#thread-shared .discussion-message", has_text="annexe budgétaire").count() == 0
    page.locator("#thread-shared").screenshot(path=str(artifacts / "62-thread-refused-text-kept.png"))
    # Any other page forgets it: the next visit starts with an empty box and no message at the form.
    page.reload()
    page.locator("#thread-shared form.discussion-form textarea[name=body]").wait_for()
    assert page.locator("#thread-shared form.discussion-form textarea[name=body]").input_value() == ""
    assert page.locator("#thread-shared form.discussion-form .alert-danger").count() == 0


def test_a_message_that_starts_with_a_mention_keeps_the_arabic_box_right_to_left(live_server, phone_page):
    """An Arabic message starting with an @mention (a Latin address) turned the box left to right, as its
    first letter decided: its direction is that of the first letter outside the mentions, else the page's."""
    page = phone_page
    officer = _owner_of("MTNRA-2025-001")  # Youssef, who reads Arabic
    sign_in(page, live_server, officer["email"], officer["password"])
    _open_agreement(page, live_server, "MTNRA-2025-001")
    assert page.locator("html").get_attribute("dir") == "rtl"
    box = page.locator("#thread-internal form.discussion-form textarea[name=body]")
    direction = "box => getComputedStyle(box).direction"
    for typed, expected in [
        ("@karim.manager@sharaka.example يرجى مراجعة المبلغ قبل الاجتماع.", "rtl"),
        ("@karim.manager@sharaka.example", "rtl"),
        ("@karim.man", "rtl"),
        ("Merci de relire l'annexe, @karim.manager@sharaka.example", "ltr"),
        ("@karim.manager@sharaka.example merci", "ltr"),
    ]:
        box.fill(typed)
        assert box.evaluate(direction) == expected, typed


def test_a_refused_move_puts_back_the_dates_typed_over_the_stored_ones(live_server, page, demo_accounts):
    """An officer activates a signed agreement with another start date and a deliverable due before its
    signature: refused. The form had come back with the start date as stored, so the refusal named a date the form no
    longer showed, and the deliverable's part folded: both come back as typed, the folded part open."""
    reference = "MTNRA-2026-005"
    officer = _owner_of(reference)
    sign_in(page, live_server, officer["email"], officer["password"])
    _open_agreement(page, live_server, reference)
    form = page.locator("#action-activate form")
    drawn = form.locator("input[name=effective_on]").input_value()
    typed = "2026-11-02" if drawn != "2026-11-02" else "2026-11-03"
    form.locator("input[name=effective_on]").fill(typed)
    form.locator("details:has(input[name=deliverable_title_fr]) > summary").click()
    form.locator("input[name=deliverable_title_fr]").fill("Rapport de lancement (browser test, refused)")
    form.locator("input[name=deliverable_first_due_on]").fill("2025-10-01")
    navigate(page, form.locator("button[type=submit]").last.click)
    form = page.locator("#action-activate form")
    form.locator(".alert-danger").wait_for()
    assert form.locator("input[name=effective_on]").input_value() == typed
    assert form.locator("input[name=deliverable_first_due_on]").is_visible()
    assert form.locator("input[name=deliverable_first_due_on]").input_value() == "2025-10-01"


def test_what_was_typed_when_the_sign_in_ended_is_back_in_the_form_after_signing_in(
    live_server, browser, demo_accounts
):
    """An Arabic officer's sign-in ends while an agreement's form is open (its cookie gone). Sending the form
    said that the form had expired, sent them to sign in, in English, and the note typed was lost. Now: a page
    in Arabic says the sign-in ended and nothing was saved; signing in again leads back to the form, with the
    note typed back in it and a word saying so."""
    officer = _owner_of("MTNRA-2025-009")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page, live_server, officer["email"], officer["password"])
        _open_agreement(page, live_server, "MTNRA-2025-009")
        page.click(".navbar-toggler")
        switch_language(page, "ar")  # his own, whatever an earlier test chose
        edit = page.url + "/edit"
        page.goto(edit)
        note = "ملاحظة: مراجعة البند الرابع قبل الاجتماع (browser test)"
        page.fill("textarea[name=notes]", note)
        others = [cookie for cookie in context.cookies() if cookie["name"] != "session"]
        context.clear_cookies()
        context.add_cookies(others)
        navigate(page, page.locator("form:has(textarea[name=notes]) button[type=submit]").last.click)
        page.locator("[data-sign-in-ended]").wait_for()
        assert page.locator("html").get_attribute("lang") == "ar"
        navigate(page, page.locator("a[href^='/sign-in']").last.click)
        page.fill("input[name=email]", officer["email"])
        page.fill("input[name=password]", officer["password"])
        navigate(page, lambda: page.press("input[name=password]", "Enter"))
        page.locator("[data-typed-back-notice]").wait_for()
        assert page.url.split("?")[0] == edit
        assert page.locator("textarea[name=notes]").input_value() == note
    finally:
        context.close()
