"""The audit trail's check, walked in parts from its page: the page asks each next part by itself."""

from __future__ import annotations

from playwright.sync_api import expect

from app.audit import routes
from app.core import audit_chain
from app.extensions import db
from tests import factories
from tests.browser.conftest import navigate, sign_in
from tests.live import live_app


def test_the_check_goes_on_by_itself_until_the_whole_trail_is_walked(browser, tmp_path, monkeypatch):
    """One batch a part (a trail of a million rows takes some three parts of 15 seconds): the auditor presses
    the button once and the page walks on, part after part, to "the trail is intact" with every row counted."""
    monkeypatch.setattr(audit_chain, "BATCH", 5)
    monkeypatch.setattr(routes, "PAGE_VERIFY_SECONDS", 0)
    with live_app(tmp_path) as (app, base):
        with app.app_context():
            world = factories.build_world()
            auditor = world.users["auditor"].email
            db.session.commit()
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-GB")
        page = context.new_page()
        try:
            parts = []
            page.on("request", lambda request: parts.append(1) if request.url.endswith("/audit/verify") else None)
            sign_in(page, base, auditor, factories.PASSWORD)
            page.goto(base + "/audit")
            navigate(page, lambda: page.click("#verify-form button[type=submit]"))
            expect(page.locator('#verification[data-intact="yes"]')).to_be_visible(timeout=60_000)
            with app.app_context():
                walked = audit_chain.verify().checked
            expect(page.locator("#verification")).to_contain_text(f"The trail is intact: {walked} rows checked.")
            assert len(parts) == -(-walked // 5) > 2
        finally:
            context.close()
