"""A mail's link to a part of a page (the approver's reminder links an agreement's approvals,
`…#approvals-heading`) opened signed out: after signing in, the page opens at that part. The browser keeps
the fragment through the redirect to the sign-in page, but the sign-in form's own redirect had dropped it,
and the approver landed at the top of a long page."""

from __future__ import annotations

import time

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import account, navigate, sign_in
from tests.browser.test_accounts import PASSWORD, _invite_and_accept

IN_REVIEW = "MTNRA-2026-007"  # an amendment in internal review: its approvals wait on the legal adviser


def test_signing_in_from_a_link_to_a_part_of_a_page_lands_on_that_part(live_server, page, demo_accounts):
    legal = account(demo_accounts, "legal")
    sign_in(page, live_server, legal["email"], legal["password"])
    page.goto(f"{live_server}/agreements/?q={IN_REVIEW}", wait_until="load")
    navigate(page, page.locator("a", has_text=IN_REVIEW).first.click)
    linked = f"{page.url}#approvals-heading"

    page.context.clear_cookies()  # the mail's link, opened signed out (from another page: the same page with a
    page.goto("about:blank")  # fragment would only scroll)
    page.goto(linked, wait_until="load")
    page.locator("input[name=email]").wait_for(state="visible")
    page.fill("input[name=email]", legal["email"])
    page.fill("input[name=password]", legal["password"])
    navigate(page, lambda: page.press("input[name=password]", "Enter"))

    assert page.url == linked, page.url
    expect(page.locator("#approvals-heading")).to_be_in_viewport()


def test_a_link_to_a_part_of_a_page_keeps_it_through_the_second_factor(live_server, page, demo_accounts):
    """Someone who signs in with a code as well (two-factor) lands on the part too: the code's form keeps the
    fragment as the password's does (it had been dropped there, and they landed at the page's top)."""
    email = f"parts.{int(time.time() * 1000)}@example.org"
    _invite_and_accept(page, live_server, demo_accounts, email)
    sign_in(page, live_server, email, PASSWORD)
    page.goto(live_server + "/account/security")
    navigate(page, lambda: page.click("#mfa-enrol"))
    totp = pyotp.TOTP(page.inner_text("#totp-secret").strip())
    page.fill("input[name=code]", totp.now())
    navigate(page, lambda: page.click("#code-form button[type=submit]"))
    navigate(page, lambda: page.click("#codes-kept"))
    page.goto(f"{live_server}/agreements/?q={IN_REVIEW}", wait_until="load")
    navigate(page, page.locator("a", has_text=IN_REVIEW).first.click)
    linked = f"{page.url}#approvals-heading"

    page.context.clear_cookies()
    page.goto("about:blank")
    page.goto(linked, wait_until="load")
    page.locator("input[name=email]").wait_for(state="visible")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    navigate(page, lambda: page.press("input[name=password]", "Enter"))
    page.locator("#code-form").wait_for()
    # The enrolment spent this time step's code: the next step's code (accepted one step early) is fresh.
    page.fill("input[name=code]", totp.at(time.time() + totp.interval))
    navigate(page, lambda: page.click("#code-form button[type=submit]"))

    assert page.url == linked, page.url
    expect(page.locator("#approvals-heading")).to_be_in_viewport()
