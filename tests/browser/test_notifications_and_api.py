"""Notices, mail in the outbox, API tokens and the offline API docs, in a real browser."""

import json
import re
import urllib.request

from tests.browser.conftest import account, choose, navigate, sign_in, switch_language


def _as(page, live_server, demo_accounts, role, organization=""):
    person = account(demo_accounts, role, organization)
    sign_in(page, live_server, person["email"], person["password"])
    return person


def _unread(page) -> int:
    badge = page.locator(".notification-bell .badge").first
    if badge.count() == 0:
        return 0
    text = badge.inner_text().strip()
    return 100 if text.endswith("+") else int(re.sub(r"\D", "", text) or 0)


def test_an_approval_request_reaches_the_approver_and_the_outbox(live_server, page, artifacts, demo_accounts):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    # The officer drafts an MoU and asks for internal review.
    _as(page, live_server, demo_accounts, "officer")
    page.goto(live_server + "/agreements/new")
    page.select_option("select[name=type]", "mou")
    page.fill("input[name=title_fr]", "Mémorandum notifications navigateur")
    choose(page, "partners", "Mistral")
    navigate(page, page.locator("form button[type=submit]").last.click)
    agreement_url = page.url
    reference = re.search(r"MTNRA-\d{4}-\d{3}", page.content()).group(0)
    navigate(page, page.locator("form[action$='/actions/submit_for_review'] button[type=submit]").first.click)

    # The legal adviser sees it in the bell, opens it, and lands on the agreement.
    _as(page, live_server, demo_accounts, "legal")
    assert _unread(page) >= 1
    page.goto(live_server + "/notifications")
    notice = page.locator("a", has_text=reference).first
    assert notice.count() == 1
    page.screenshot(path=str(artifacts / "30-notifications-legal.png"), full_page=True)
    before = _unread(page)
    navigate(page, notice.click)
    assert page.url.rstrip("/") == agreement_url.rstrip("/")
    assert _unread(page) == before - 1

    # Their mail choices, in Arabic.
    page.goto(live_server + "/account/notifications")
    language = page.locator("select[name=language]").input_value()
    switch_language(page, "ar")
    page.wait_for_function("document.documentElement.dir === 'rtl'")
    page.screenshot(path=str(artifacts / "31-mail-choices-ar.png"), full_page=True)
    # Mandatory categories cannot be switched off.
    assert page.locator("input[name=categories][value=approval_requested]").is_disabled()
    switch_language(page, language)

    # Without an SMTP server the mail waits in the outbox, where the admin reads it.
    _as(page, live_server, demo_accounts, "admin")
    page.goto(live_server + "/admin/outbox")
    row = page.locator("a", has_text=reference).first
    assert row.count() == 1
    page.screenshot(path=str(artifacts / "32-outbox.png"), full_page=True)
    navigate(page, row.click)
    assert reference in page.content()
    assert not [e for e in errors if "Content Security Policy" in e]


def test_a_token_made_on_the_profile_page_opens_the_api(live_server, page, artifacts, demo_accounts):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    _as(page, live_server, demo_accounts, "partner", "Mistral")
    page.goto(live_server + "/account/tokens")
    page.fill("input[name=name]", "Reporting script")
    navigate(page, page.locator("main form button[type=submit]").click)
    token = page.input_value("#new-token")
    assert token.startswith("shk_")
    page.screenshot(path=str(artifacts / "33-api-token.png"), full_page=True)
    # Shown once: a reload no longer shows it.
    page.reload()
    assert page.locator("#new-token").count() == 0

    request = urllib.request.Request(
        live_server + "/api/v1/agreements?per_page=100", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    references = {item["reference"] for item in body["items"]}
    assert "MTNRA-2025-010" in references  # the Mistral AI MoU
    assert all(any("Mistral" in party["organization"]["name"] for party in item["parties"]) for item in body["items"])

    # The reference is drawn on the server from the OpenAPI document: every operation, offline.
    page.goto(live_server + "/api/v1/docs")
    spec = json.load(urllib.request.urlopen(live_server + "/api/v1/openapi.json", timeout=10))
    operations = sum(1 for methods in spec["paths"].values() for method in methods if method != "parameters")
    assert page.locator("main section .api-method").count() == operations
    page.screenshot(path=str(artifacts / "34-api-docs.png"))
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e]


def test_an_admin_sends_every_failed_message_again_after_saying_yes(live_server, page, demo_accounts):
    """ "Send all failed again" asks first, saying how many; called off, nothing changes."""
    import sqlalchemy

    from tests.browser.conftest import SERVER_DATABASES

    # Two password resets asked for, whose mail then failed for good.
    for role in ("legal", "manager"):
        page.goto(live_server + "/password/forgot", wait_until="load")
        page.fill("input[name=email]", account(demo_accounts, role)["email"])
        navigate(page, page.locator("main form button[type=submit]").click)
    engine = sqlalchemy.create_engine(SERVER_DATABASES[live_server])
    try:
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(
                    "UPDATE outbox_messages SET status = 'failed', attempts = 8 WHERE id IN "
                    "(SELECT id FROM outbox_messages WHERE status = 'pending' ORDER BY id DESC LIMIT 2)"
                )
            )
    finally:
        engine.dispose()

    _as(page, live_server, demo_accounts, "admin")
    switch_language(page, "fr")  # whatever an earlier test of the shared server left the admin in
    page.goto(live_server + "/admin/outbox?status=failed", wait_until="load")
    asked, answers = [], [False, True]

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)
    button = "form[action$='/admin/outbox/retry-failed'] button"
    page.locator(button).click()  # asked within the click, and called off
    assert asked == [
        "Envoyer de nouveau les 2\u00a0messages en échec\u202f? Ils retournent dans la file d’attente "
        "(sauf ceux qui ne sont plus d’actualité)."
    ]
    page.reload(wait_until="load")
    assert page.locator("tr[data-message]").count() == 2
    navigate(page, page.locator(button).click)
    assert "2\u00a0messages en échec seront envoyés de nouveau." in page.locator("main").inner_text()
    assert page.locator(button).count() == 0
