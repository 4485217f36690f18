"""Accounts people run themselves, in a real browser: an invitation accepted through its link,
then two-factor sign-in turned on (QR code page, codes computed with pyotp) and used to sign in."""

from __future__ import annotations

import time

import pyotp

from tests.browser.conftest import account, link_mailed_to, navigate, sign_in

PASSWORD = "Une caravane de dromadaires au coucher du soleil"


def _invite_and_accept(
    page, base, demo_accounts, email: str, role: str = "officer", language: str = "en", artifacts=None
) -> None:
    admin = account(demo_accounts, "admin")
    sign_in(page, base, admin["email"], admin["password"])
    page.goto(base + "/invitations/new")
    page.fill("#invite-form input[name=email]", email)
    page.select_option("#invite-form select[name=role]", role)
    page.select_option("#invite-form select[name=organization_id]", index=1)  # the ministry comes first
    page.select_option("#invite-form select[name=language]", language)
    navigate(page, lambda: page.click("#invite-form button[type=submit]"))
    page.locator("#invitations tr", has_text=email).wait_for()
    if artifacts:
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(artifacts / "accounts-00-team-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1366, "height": 900})
    # The e-mail waits in the outbox (no mail server here); its pages hide the link's secret.
    page.goto(base + "/admin/outbox")
    navigate(page, page.locator("table tbody tr", has_text=email).locator("a").first.click)
    link = link_mailed_to(base, email, "/invitation/")
    assert link.rsplit("/", 1)[1] not in page.inner_text(".outbox-body")
    path = "/invitation/" + link.split("/invitation/", 1)[1]
    page.context.clear_cookies()
    page.goto(base + path)
    page.locator("#accept-form").wait_for()
    if artifacts:
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(artifacts / "accounts-00-accept-phone.png"), full_page=True)
        page.set_viewport_size({"width": 1366, "height": 900})
    page.fill("input[name=full_name]", "Nadia Alami")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    navigate(page, lambda: page.click("#accept-form button[type=submit]"))
    page.locator("input[name=email]").wait_for()
    # The link works once.
    page.goto(base + path)
    page.locator("#invitation-dead[data-status=accepted]").wait_for()


def test_an_invitation_is_accepted_in_the_invitees_language(live_server, page, artifacts, demo_accounts):
    email = f"nadia.{int(time.time() * 1000)}@example.org"
    _invite_and_accept(page, live_server, demo_accounts, email, language="ar", artifacts=artifacts)
    assert page.get_attribute("html", "dir") == "rtl"
    page.screenshot(path=str(artifacts / "accounts-01-invitation-used-ar.png"), full_page=True)
    sign_in(page, live_server, email, PASSWORD)
    page.goto(live_server + "/account")
    assert page.input_value("input[name=full_name]") == "Nadia Alami"
    page.screenshot(path=str(artifacts / "accounts-02-profile-ar.png"), full_page=True)


def test_two_factor_enrolment_then_sign_in_with_a_code(live_server, page, artifacts, demo_accounts):
    email = f"totp.{int(time.time() * 1000)}@example.org"
    _invite_and_accept(page, live_server, demo_accounts, email)
    sign_in(page, live_server, email, PASSWORD)
    page.goto(live_server + "/account/security")
    navigate(page, lambda: page.click("#mfa-enrol"))
    page.locator("#totp-qr svg").wait_for()
    page.screenshot(path=str(artifacts / "accounts-03-totp-enrol.png"), full_page=True)
    totp = pyotp.TOTP(page.inner_text("#totp-secret").strip())
    page.fill("input[name=code]", "000000")
    navigate(page, lambda: page.click("#code-form button[type=submit]"))
    page.locator(".invalid-feedback, .alert-danger").first.wait_for()
    page.fill("input[name=code]", totp.now())
    navigate(page, lambda: page.click("#code-form button[type=submit]"))
    codes = page.locator(".recovery-code").all_inner_texts()
    assert len(codes) == 10
    page.screenshot(path=str(artifacts / "accounts-04-recovery-codes.png"), full_page=True)
    navigate(page, lambda: page.click("#codes-kept"))
    page.locator("#mfa-on").wait_for()

    # Sign in again: the password, then the code; nothing opens before the code.
    page.context.clear_cookies()
    page.goto(live_server + "/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    navigate(page, lambda: page.press("input[name=password]", "Enter"))
    page.locator("#code-form").wait_for()
    assert page.locator("form[action$='/sign-out']").count() == 0
    page.screenshot(path=str(artifacts / "accounts-05-second-step.png"), full_page=True)
    # The enrolment spent this time step's code: the next step's code (accepted one step early) is fresh.
    page.fill("input[name=code]", totp.at(time.time() + totp.interval))
    navigate(page, lambda: page.click("#code-form button[type=submit]"))
    page.locator("form[action$='/sign-out']").first.wait_for(state="attached")
    # A recovery code works once as the second step too.
    page.context.clear_cookies()
    page.goto(live_server + "/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    navigate(page, lambda: page.press("input[name=password]", "Enter"))
    page.fill("input[name=code]", codes[0])
    navigate(page, lambda: page.click("#code-form button[type=submit]"))
    page.locator("form[action$='/sign-out']").first.wait_for(state="attached")


def test_deactivating_an_account_is_asked_first_and_nothing_changes_when_called_off(live_server, page, demo_accounts):
    """Unticking "active" ends the account's sessions and revokes its tokens, which reactivating does not bring
    back: the admin is asked first (the form saved at once); other edits of the account are not asked about."""
    admin, legal = account(demo_accounts, "admin"), account(demo_accounts, "legal")
    sign_in(page, live_server, admin["email"], admin["password"])
    page.goto(live_server + "/admin/users?q=" + legal["email"], wait_until="load")
    page.locator(f"tr:has-text('{legal['email']}') a[href*='/edit']").first.click()
    page.wait_for_selector("input[name=is_active]")
    asked = []

    def call_off(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", call_off)
    page.uncheck("input[name=is_active]")
    page.locator("form:has(input[name=is_active]) button[type=submit]").first.click()  # asked within the click
    assert asked and "API" in asked[0], asked
    page.reload(wait_until="load")
    assert page.is_checked("input[name=is_active]")  # nothing was saved
