"""Verify a copy: a dropped file is matched by SHA-256 against the versions, documents and signed
copies the person may see, says which agreement and version and whether it is the final text;
the printable summary carries a code leading there; nothing is stored; another organisation's
files read exactly like unknown ones."""

from __future__ import annotations

from io import BytesIO

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.core.storage import StoredFile
from app.discussions.copies import verification_code
from app.extensions import db
from app.workflow import services
from tests import factories

V1 = b"%PDF-1.4\n% version 1\n%%EOF\n"
V2 = b"%PDF-1.4\n% version 2\n%%EOF\n"
SIGNED = b"%PDF-1.4\n% signed copy\n%%EOF\n"


def upload(body, name):
    return FileStorage(stream=BytesIO(body), filename=name)


@pytest.fixture
def negotiated(world):
    """An agreement with partner A: version 1 by the ministry, version 2 by the partner, accepted."""
    officer, partner = world.users["officer"], world.users["partner"]
    agreement = factories.agreement(
        by=officer, partners=[world.partner_a], title_fr="Texte vérifié", state="negotiation"
    )
    db.session.commit()
    services.send_version(
        agreement, by=officer, upload=upload(V1, "v1.pdf"), note=None, expected_version=agreement.version
    )
    services.send_version(
        agreement, by=partner, upload=upload(V2, "v2.pdf"), note=None, expected_version=agreement.version
    )
    services.accept_version(agreement, by=officer, expected_version=agreement.version)
    db.session.commit()
    return agreement


def check(client, body, name="copie.pdf", code=None):
    data = {"file": (BytesIO(body), name)}
    if code:
        data["code"] = code
    return client.post("/verify", data=data, csrf_from="/verify", content_type="multipart/form-data")


def test_versions_are_recognised_with_their_number_and_finality(app, world, signed_in, negotiated):
    officer = signed_in("officer")
    before = db.session.scalar(select(func.count()).select_from(StoredFile))
    page = check(officer, V2).get_data(as_text=True)
    assert 'id="verify-found"' in page and negotiated.reference in page
    assert "Negotiation version 2" in page and "Final text" in page
    page = check(officer, V1).get_data(as_text=True)
    assert "Negotiation version 1" in page and "Not the final text" in page
    page = check(officer, V2 + b" ").get_data(as_text=True)
    assert 'id="verify-not-found"' in page and negotiated.reference not in page
    assert db.session.scalar(select(func.count()).select_from(StoredFile)) == before  # nothing kept


def test_a_partner_learns_nothing_of_another_organisations_files(app, world, signed_in, negotiated):
    assert negotiated.reference in check(signed_in("partner"), V2).get_data(as_text=True)
    page = check(signed_in("partner_b"), V2).get_data(as_text=True)
    assert 'id="verify-not-found"' in page and negotiated.reference not in page
    code = verification_code(negotiated)
    page = signed_in("partner_b").get(f"/verify?code={code}").get_data(as_text=True)
    assert 'id="code-unknown"' in page and negotiated.reference not in page


def test_the_summary_code_leads_to_the_final_text(app, world, signed_in, negotiated):
    officer = signed_in("officer")
    code = verification_code(negotiated)
    summary = officer.get(f"/agreements/{negotiated.id}/summary").get_data(as_text=True)
    assert code in summary and f"/verify?code={code}" in summary
    page = officer.get(f"/verify?code={code}").get_data(as_text=True)
    assert 'id="code-known"' in page and negotiated.reference in page
    assert 'id="code-match"' in check(officer, V2, code=code).get_data(as_text=True)
    assert 'id="code-mismatch"' in check(officer, V1, code=code).get_data(as_text=True)
    # Once a signed copy is uploaded, it is the final text the code stands for.
    services.attach_document(negotiated, "signed_copy", upload(SIGNED, "signé.pdf"), by=world.users["officer"])
    db.session.commit()
    assert verification_code(negotiated) != code
    page = check(officer, SIGNED).get_data(as_text=True)
    assert "Signed copy" in page and "Final text" in page


def test_no_final_text_no_code(app, world, signed_in):
    summary = signed_in("officer").get(f"/agreements/{world.agreement_a.id}/summary").get_data(as_text=True)
    assert 'id="verification-code"' not in summary


@pytest.mark.parametrize(
    "body, name, message",
    [
        (b"", "vide.pdf", "The file is empty."),
        (None, "", "Choose a file to check."),
    ],
)
def test_bad_input_is_a_clear_message(app, world, signed_in, body, name, message):
    client = signed_in("officer")
    data = {} if body is None else {"file": (BytesIO(body), name)}
    response = client.post("/verify", data=data, csrf_from="/verify", content_type="multipart/form-data")
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_a_file_over_the_limit_is_refused(app, world, signed_in):
    big = b"%PDF-1.4\n" + b"0" * (app.config["MAX_UPLOAD_BYTES"] + 10)
    response = check(signed_in("officer"), big)
    assert response.status_code in (413, 422)


def test_anyone_signed_out_is_sent_to_sign_in(app, client):
    assert client.get("/verify").status_code == 302
