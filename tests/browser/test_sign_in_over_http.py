"""Production's Secure cookies on a site reached over plain http://: the browser keeps the session cookie to
itself, so the sign-in form's post arrives without it. It had answered "your sign-in had ended"."""

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, account, demo_server, navigate

# Chromium takes Secure cookies from http://127.0.0.1 (a loopback address counts as secure): the server is
# reached by a name instead, as a real site is.
HOST = "sharaka.example"


def test_signing_in_over_plain_http_with_secure_cookies_says_it_needs_https(browser, tmp_path, demo_accounts):
    officer = account(demo_accounts, "officer")
    with demo_server(tmp_path, SESSION_COOKIE_SECURE="true") as base:
        port = base.rsplit(":", 1)[1]
        named = browser.browser_type.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]
        )
        try:
            page = named.new_context(locale="en-GB").new_page()
            page.goto(f"http://{HOST}:{port}/sign-in", wait_until="load")
            page.locator("input[name=email]").wait_for(state="visible")
            page.fill("input[name=email]", officer["email"])
            page.fill("input[name=password]", officer["password"])
            navigate(page, lambda: page.press("input[name=password]", "Enter"))
            said = page.locator("main").inner_text()
            assert "Signing in needs HTTPS" in said and "had ended" not in said, said
            assert page.locator("#sign-in-needs-https").is_visible()
            link = page.get_by_role("link", name="Open the HTTPS address").get_attribute("href")
            assert link == f"https://{HOST}:{port}/sign-in"
        finally:
            named.close()
