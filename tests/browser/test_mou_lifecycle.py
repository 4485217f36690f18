"""One MoU from draft to active, each step by the person whose job it is, in a real browser."""

import re
from datetime import timedelta

from playwright.sync_api import expect

from app.core import clock
from tests.browser.conftest import account, choose, navigate, sign_in, switch_language

PDF = b"%PDF-1.4\n%browser test\n%%EOF\n"


def _as(page, live_server, demo_accounts, role, organization=""):
    person = account(demo_accounts, role, organization)
    sign_in(page, live_server, person["email"], person["password"])


def _action(page, name: str):
    """Click a workflow move by its transition name (the labels follow each user's language)."""
    form = page.locator(f"form[action$='/actions/{name}']")
    navigate(page, form.locator("button[type=submit]").first.click)


def test_walk_a_mou_from_draft_to_active(live_server, page, artifacts, demo_accounts, tmp_path):
    text_file = tmp_path / "projet-mou.pdf"
    text_file.write_bytes(PDF)
    signed_file = tmp_path / "mou-signé.pdf"
    signed_file.write_bytes(PDF + b"signed")

    # The officer drafts it.
    _as(page, live_server, demo_accounts, "officer")
    page.goto(live_server + "/agreements/new")
    page.select_option("select[name=type]", "mou")
    page.fill("input[name=title_fr]", "Mémorandum de test navigateur")
    choose(page, "partners", "Mistral")
    navigate(page, page.locator("form button[type=submit]").last.click)
    agreement_url = page.url
    assert re.search(r"/agreements/\d+$", agreement_url)
    _action(page, "submit_for_review")
    page.screenshot(path=str(artifacts / "10-submitted.png"), full_page=True)

    # Legal and the head of department approve, in either order.
    for role in ("legal", "manager"):
        _as(page, live_server, demo_accounts, role)
        page.goto(agreement_url)
        navigate(page, page.locator("form[action$='/actions/approve_review'] button[value=approve]").click)
    page.screenshot(path=str(artifacts / "11-approved.png"), full_page=True)
    assert page.locator("[data-state]").first.get_attribute("data-state") == "negotiation"

    # The officer sends the text; the Mistral AI partner accepts it.
    _as(page, live_server, demo_accounts, "officer")
    page.goto(agreement_url)
    page.set_input_files("form[action$='/negotiation/versions'] input[type=file]", str(text_file))
    navigate(page, page.locator("form[action$='/negotiation/versions'] button[type=submit]").click)
    _as(page, live_server, demo_accounts, "partner", "mistral")
    page.goto(agreement_url)
    # Accepting locks the text: a confirmation step says so first.
    page.locator("#accept-version-step summary").click()
    expect(page.locator("#accept-version-step [role=note]")).to_be_visible()
    page.screenshot(path=str(artifacts / "12-accept-locks-confirmation.png"), full_page=True)
    navigate(page, page.locator("form[action$='/negotiation/accept'] button[type=submit]").click)
    page.screenshot(path=str(artifacts / "12-text-agreed-partner-view.png"), full_page=True)

    # The officer opens the signature, records both signatories and the signed copy.
    _as(page, live_server, demo_accounts, "officer")
    page.goto(agreement_url)
    _action(page, "open_signature")
    # A partner signatory signs for one partner party: Mistral, the only one, listed after the ministry.
    signers = (({"value": "ministry"}, "Amal El Fallah Seghrouchni"), ({"index": 1}, "Arthur Mensch"))
    for signs_for, name in signers:
        form = page.locator("form[action$='/signatories']")
        form.locator("select[name=side]").select_option(**signs_for)
        form.locator("input[name=name]").fill(name)
        navigate(page, form.locator("button[type=submit]").click)
    # The second signatory's "after the previous signatures" and its Remove link stand apart: they had run
    # together ("…précédentesSupprimer"), the floated link without a margin.
    waiting = page.locator(".signatory-status").nth(1)
    words, remove = waiting.locator("span.small").first.bounding_box(), waiting.locator("form button").bounding_box()
    assert remove["x"] - (words["x"] + words["width"]) >= 8 or words["x"] - (remove["x"] + remove["width"]) >= 8
    signed_on = (clock.today() - timedelta(days=1)).isoformat()
    for _ in range(2):
        form = page.locator("form[action*='/sign']").filter(has=page.locator("input[name=signed_on]")).first
        form.locator("input[name=signed_on]").fill(signed_on)
        navigate(page, form.locator("button[type=submit]").click)
    page.set_input_files("form[action$='/signed-copy'] input[type=file]", str(signed_file))
    navigate(page, page.locator("form[action$='/signed-copy'] button[type=submit]").click)
    _action(page, "record_signed")
    form = page.locator("form[action$='/actions/activate']")
    form.locator("input[name=effective_on]").fill(clock.today().isoformat())
    form.locator("input[name=expires_on]").fill((clock.today() + timedelta(days=3 * 365)).isoformat())
    navigate(page, form.locator("button[type=submit]").first.click)
    page.screenshot(path=str(artifacts / "13-active.png"), full_page=True)
    body = page.inner_text("body")
    assert "mou-signé.pdf" in body
    assert page.locator("[data-state]").first.get_attribute("data-state") == "active"

    # Closing is final: the button is not the primary one, it opens a confirmation that says what will
    # happen (in Arabic here), and only its own "yes" closes the agreement.
    switch_language(page, "ar")
    close = page.locator("#action-close")
    assert "btn-primary" not in (close.locator("summary").get_attribute("class") or "")
    assert page.locator(".workflow-actions .btn-primary").count() == 0
    expect(close.locator("button[type=submit]")).to_be_hidden()
    close.locator("summary").click()
    note = close.locator("[role=note]")
    expect(note).to_be_visible()
    assert "مغلقة" in note.inner_text()
    expect(close.locator("textarea[name=comment]")).to_be_visible()
    page.screenshot(path=str(artifacts / "14-close-confirmation-ar.png"), full_page=True)
    close.locator("textarea[name=comment]").fill("انتهت الشراكة — Partnership done")
    navigate(page, close.locator("button[type=submit]").click)
    assert page.locator("[data-state]").first.get_attribute("data-state") == "closed"
    switch_language(page, "en")
