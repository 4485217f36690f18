"""The officer attaches the draft text of a MoU before its review; the legal adviser, asked to approve it
"for negotiation", finds that draft named and downloadable in the approvals panel."""

from playwright.sync_api import expect

from tests.browser.conftest import account, navigate, new_mou, sign_in
from tests.support.documents import docx_bytes


def _as(page, live_server, demo_accounts, role):
    person = account(demo_accounts, role)
    sign_in(page, live_server, person["email"], person["password"])


def test_the_legal_adviser_reads_the_draft_the_officer_attached(live_server, page, artifacts, demo_accounts, tmp_path):
    draft = tmp_path / "projet-accord-cloud.docx"
    draft.write_bytes(docx_bytes([("h1", "Article premier"), ("p", "Les parties coopèrent dans le cloud souverain.")]))

    _as(page, live_server, demo_accounts, "officer")
    new_mou(page, live_server, title_fr="Mémorandum avec son projet de texte")
    agreement_url = page.url
    card = page.locator("section[aria-labelledby=draft-text-heading]")
    expect(card).to_have_attribute("data-draft-texts", "0")
    card.locator("input[type=file]").set_input_files(str(draft))
    navigate(page, card.locator("button[type=submit]").click)
    expect(page.locator(".alert-success")).to_be_visible()  # in the officer's language (the demo's: Arabic)
    expect(card).to_have_attribute("data-draft-texts", "1")
    expect(card.locator(".draft-text-latest .file-name")).to_have_text("projet-accord-cloud.docx")
    page.screenshot(path=str(artifacts / "draft-text-attached.png"), full_page=True)
    navigate(page, page.locator("form[action$='/actions/submit_for_review'] button[type=submit]").first.click)

    _as(page, live_server, demo_accounts, "legal")
    page.goto(agreement_url)
    named = page.locator("section[aria-labelledby=approvals-heading] [data-draft-under-review]")
    expect(named).to_contain_text("projet-accord-cloud.docx")
    page.screenshot(path=str(artifacts / "draft-text-in-approvals.png"), full_page=True)
    with page.expect_download() as download:
        named.locator("a.document-link").click()
    assert download.value.suggested_filename == "projet-accord-cloud.docx"
    assert download.value.path().read_bytes() == draft.read_bytes()
