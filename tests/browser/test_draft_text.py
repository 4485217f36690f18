"""The officer attaches the draft text of a MoU before its review; the legal adviser, asked to approve it
"for negotiation", finds that draft named and downloadable in the approvals panel."""

from playwright.sync_api import expect

from tests.browser.conftest import account, navigate, new_mou, sign_in
from tests.support.documents import docx_bytes


def _as(page, live_server, demo_accounts, role, organization=""):
    person = account(demo_accounts, role, organization)
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


def test_the_officer_sends_the_reviewed_draft_as_the_first_version(
    live_server, page, artifacts, demo_accounts, tmp_path
):
    draft = tmp_path / "projet-reseau.docx"
    draft.write_bytes(docx_bytes([("h1", "Article premier"), ("p", "Les parties coopèrent sur le réseau.")]))
    other = tmp_path / "autre.docx"
    other.write_bytes(docx_bytes([("p", "Un autre texte.")]))

    _as(page, live_server, demo_accounts, "officer")
    new_mou(page, live_server, title_fr="Mémorandum envoyé tel que revu")
    agreement_url = page.url
    card = page.locator("section[aria-labelledby=draft-text-heading]")
    card.locator("input[type=file]").set_input_files(str(draft))
    navigate(page, card.locator("button[type=submit]").click)
    expect(card).to_have_attribute("data-draft-texts", "1")
    navigate(page, page.locator("form[action$='/actions/submit_for_review'] button[type=submit]").first.click)
    for role in ("legal", "manager"):
        _as(page, live_server, demo_accounts, role)
        page.goto(agreement_url)
        navigate(page, page.locator("form[action$='/actions/approve_review'] button[value=approve]").click)

    _as(page, live_server, demo_accounts, "officer")
    page.goto(agreement_url)
    form = page.locator("form.negotiation-form")
    from_draft, from_file = form.locator("#version-from-draft"), form.locator("#version-from-file")
    expect(from_draft).to_be_checked()
    expect(form.locator("label[for=version-from-draft]")).to_contain_text("projet-reseau.docx")
    # Choosing a file picks "Upload a file"; going back to the draft drops the file.
    form.locator("#version-file").set_input_files(str(other))
    expect(from_file).to_be_checked()
    from_draft.check()
    expect(form.locator("#version-file")).to_have_value("")
    page.screenshot(path=str(artifacts / "draft-text-as-first-version.png"), full_page=True)
    navigate(page, form.locator("button[type=submit]").click)
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator("#version-from-draft")).to_have_count(0)  # offered before the first version only

    _as(page, live_server, demo_accounts, "partner", "mistral")
    page.goto(agreement_url)
    expect(page.locator("section[aria-labelledby=draft-text-heading]")).to_have_count(0)
    link = page.locator("a.document-link", has_text="projet-reseau.docx").first
    with page.expect_download() as download:
        link.click()
    assert download.value.path().read_bytes() == draft.read_bytes()
    page.screenshot(path=str(artifacts / "draft-text-as-version-partner-view.png"), full_page=True)
