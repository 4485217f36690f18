"""Digital signatures of an uploaded signed copy, checked with pyHanko against a test CA made here:
trusted, untrusted, modified after signing, unsigned, and a garbage file named .pdf."""

from io import BytesIO

import pytest
from flask import current_app
from sqlalchemy import select

from app.api.tokens import create_token
from app.core.audit import AuditEvent
from app.extensions import db
from app.signatures.models import SignatureCheck
from app.workflow.models import AgreementDocument
from tests import factories
from tests.support.signed_pdfs import Authority, modify_after_signing, plain_pdf, sign


@pytest.fixture(scope="module")
def pdfs():
    ministry_ca, stranger_ca = Authority.create("Ministry Test Root"), Authority.create("Unknown Root")
    base = plain_pdf("Convention de partenariat", "Article 1")
    trusted = sign(base, ministry_ca.signer("Amal Benali"))
    return {
        "ca": ministry_ca,
        "trusted": trusted,
        "untrusted": sign(base, stranger_ca.signer("Eve Dupont")),
        "modified": modify_after_signing(trusted),
        "unsigned": base,
        "garbage": b"%PDF-1.7\n this is not a pdf at all \x00\x01",
    }


@pytest.fixture
def trust_roots(app, pdfs, tmp_path):
    """The ministry's roots: the test CA's certificate in a PEM file, for the requests and the test body."""
    path = pdfs["ca"].write_pem(tmp_path / "roots.pem")
    before = app.config["SIGNATURE_TRUST_ROOTS"]
    for config in (app.config, current_app.config):
        config["SIGNATURE_TRUST_ROOTS"] = (str(path),)
    yield path
    for config in (app.config, current_app.config):
        config["SIGNATURE_TRUST_ROOTS"] = before


@pytest.fixture
def in_signature(world):
    agreement = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], title_fr="MoU signé", state="signature"
    )
    db.session.commit()
    return agreement


def upload(client, agreement, body: bytes, name: str):
    db.session.refresh(agreement)
    return client.post(
        f"/agreements/{agreement.id}/signed-copy",
        data={"version": str(agreement.version), "file": (BytesIO(body), name)},
        csrf_from=f"/agreements/{agreement.id}",
        content_type="multipart/form-data",
    )


def latest_check(agreement) -> SignatureCheck:
    return db.session.scalar(
        select(SignatureCheck)
        .join(AgreementDocument)
        .where(AgreementDocument.agreement_id == agreement.id)
        .order_by(SignatureCheck.id.desc())
    )


@pytest.mark.parametrize(
    "case, status, shown",
    [
        (
            "trusted",
            "valid",
            [
                "Digital signature valid",
                "Amal Benali",
                "The signature covers the whole document.",
                "Certificate chain trusted.",
                "Revocation not checked.",
            ],
        ),
        (
            "untrusted",
            "untrusted",
            [
                "Signature intact, signer not trusted",
                "Eve Dupont",
                "does not lead to a trust root configured by the ministry",
            ],
        ),
        (
            "modified",
            "invalid",
            [
                "Digital signature not valid",
                "The document was modified after signing.",
                "Content was added after signing.",
            ],
        ),
        ("unsigned", "none", ["No digital signature"]),
    ],
)
def test_each_kind_of_signed_copy_is_checked_at_upload(
    app, world, signed_in, in_signature, pdfs, trust_roots, case, status, shown
):
    officer = signed_in("officer")
    assert upload(officer, in_signature, pdfs[case], f"{case}.pdf").status_code == 303
    check = latest_check(in_signature)
    assert check.status == status
    if status == "none":
        assert check.signatures == []
    else:
        (signature,) = check.signatures
        assert signature["signed_at"] and signature["revocation"] == "not_checked"
    page = officer.get(f"/agreements/{in_signature.id}").get_data(as_text=True)
    summary = officer.get(f"/agreements/{in_signature.id}/summary").get_data(as_text=True)
    for text in shown:
        assert text in page, text
        assert text in summary, text
    assert f'data-signature-status="{status}"' in page
    audit = db.session.scalars(select(AuditEvent.changes).where(AuditEvent.action == "signature_checked")).all()
    assert any(c["status"] == status for c in audit)


def test_a_garbage_file_named_pdf_is_refused_or_reported_and_never_a_500(
    app, world, signed_in, in_signature, pdfs, trust_roots
):
    officer = signed_in("officer")
    response = upload(officer, in_signature, pdfs["garbage"], "contrat.pdf")
    assert response.status_code == 303  # it starts like a PDF: stored, and its check says it cannot be read
    assert latest_check(in_signature).status == "unreadable"
    assert "could not be read as a PDF" in officer.get(f"/agreements/{in_signature.id}").get_data(as_text=True)
    # Not even a PDF: refused as a type, nothing stored.
    count = db.session.scalar(select(db.func.count()).select_from(AgreementDocument))
    response = upload(officer, in_signature, b"MZ\x90\x00 not a pdf", "evil.pdf")
    assert response.status_code == 303
    assert db.session.scalar(select(db.func.count()).select_from(AgreementDocument)) == count


def test_without_configured_roots_nothing_is_trusted(app, world, signed_in, in_signature, pdfs):
    assert upload(signed_in("officer"), in_signature, pdfs["trusted"], "signé.pdf").status_code == 303
    check = latest_check(in_signature)
    assert check.status == "untrusted" and check.signatures[0]["intact"]


def test_an_admin_checks_again_after_the_roots_change(app, world, signed_in, in_signature, pdfs, tmp_path):
    assert upload(signed_in("officer"), in_signature, pdfs["trusted"], "signé.pdf").status_code == 303
    document = db.session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == in_signature.id))
    assert latest_check(in_signature).status == "untrusted"
    url = f"/agreements/{in_signature.id}/documents/{document.id}/check-signatures"
    page = f"/agreements/{in_signature.id}"
    for role in ("officer", "manager", "partner", "auditor"):
        assert signed_in(role).post(url, csrf_from=page).status_code == 403, role
    assert signed_in("partner_b").post(url, csrf_from="/agreements/").status_code == 404
    path = pdfs["ca"].write_pem(tmp_path / "roots.pem")
    app.config["SIGNATURE_TRUST_ROOTS"] = (str(path),)
    try:
        admin = signed_in("admin")
        assert "Check again" in admin.get(page).get_data(as_text=True)
        response = admin.post(url, csrf_from=page)
    finally:
        app.config["SIGNATURE_TRUST_ROOTS"] = ()
    assert response.status_code == 303
    db.session.expire_all()
    assert latest_check(in_signature).status == "valid"
    assert db.session.scalar(select(db.func.count()).select_from(SignatureCheck)) == 1  # replaced, not added


def test_the_api_shows_the_check_under_the_same_rules(app, world, signed_in, in_signature, pdfs, trust_roots):
    assert upload(signed_in("officer"), in_signature, pdfs["modified"], "signé.pdf").status_code == 303
    document = db.session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == in_signature.id))
    tokens = {r: create_token(world.users[r], "t", by=None)[1] for r in ("partner", "partner_b", "officer", "admin")}
    db.session.commit()
    client = app.test_client()
    url = f"/api/v1/agreements/{in_signature.id}/documents/{document.id}/signatures"

    def call(method, role, path=url):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[role]}"})

    body = call("GET", "partner").get_json()
    assert body["status"] == "invalid" and body["signatures"][0]["signer"] == "Amal Benali"
    assert "The document was modified after signing." in body["signatures"][0]["explanation"]
    assert call("GET", "partner_b").status_code == 404
    assert call("POST", "officer", url + "/check").status_code == 403
    assert call("POST", "admin", url + "/check").get_json()["status"] == "invalid"
    assert (
        call("GET", "officer", f"/api/v1/agreements/{in_signature.id}/documents/2147483000/signatures").status_code
        == 404
    )


def test_a_refusal_on_the_agreement_page_says_what_was_not_saved(world, signed_in, in_signature):
    """The signatory form lives on the agreement's page: a refusal returns there, where no field is marked,
    so the flash says what was not saved rather than "correct the errors below"."""
    officer = signed_in("officer")
    url = f"/agreements/{in_signature.id}"
    response = officer.post(
        f"{url}/signatories",
        data={"side": "ministry", "name": "   ", "version": str(in_signature.version)},
        csrf_from=url,
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Not saved: Name: This field is required." in page and "correct the errors below" not in page


def test_a_certificate_nobody_vouches_for_makes_the_server_fetch_nothing(app, world, signed_in, in_signature):
    """The web worker had fetched the address a stranger's certificate named (its issuer's, OCSP, CRL) from
    inside the ministry's network, and waited on it: a signed copy a partner makes reaches internal hosts."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class Listener(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def do_POST(self):  # noqa: N802
            self.do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/internal-service"
    before = app.config["SIGNATURE_CHECK_REVOCATION"]
    app.config["SIGNATURE_CHECK_REVOCATION"] = True
    try:
        stranger = Authority.create("Stranger Root")
        signer = stranger.signer("Eve Dupont", fetch_url=url, embed_issuer=False)
        body = sign(plain_pdf("Convention", "Article 1"), signer)
        response = upload(signed_in("officer"), in_signature, body, "signed.pdf")
        assert response.status_code in (302, 303)
        assert latest_check(in_signature).status == "untrusted"
        assert asked == []
    finally:
        app.config["SIGNATURE_CHECK_REVOCATION"] = before
        server.shutdown()
