"""Attaching an agreement's draft text through the API (`POST /api/v1/agreements/{id}/drafts`), as its page
does: the same loader, check and service (app/workflow/drafts.py), its refusals in problem+json; the draft is
then listed, downloaded and sent as the first version through the API like one attached on the page."""

from __future__ import annotations

from io import BytesIO

import pytest
from sqlalchemy import select

from app.agreements.models import Agreement
from app.core.audit import AuditEvent
from app.extensions import db
from app.workflow.models import AgreementDocument
from tests import factories
from tests.integration.test_api import P, api, assert_problem, tokens  # noqa: F401 (fixtures)
from tests.support.documents import docx_bytes

FIRST = docx_bytes([("h1", "Article 1"), ("p", "Les parties coopèrent dans le numérique.")])
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MISSING = 987654


@pytest.fixture
def mou(world):
    """A draft MoU of the officer with partner A, shown to it (so that its partner sees it and is refused)."""
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="MoU en projet")
    factories.shown_to_partners(agreement)
    db.session.commit()
    return agreement


def attach(client, agreement_id: int, body: bytes = FIRST, name: str = "projet-zephyrin.docx", **options):
    """POST `body` as `name` under `field` (default `file`; no file when `body` is None), with the agreement's
    current version unless `version` is given."""
    field, headers = options.pop("field", "file"), options.pop("headers", {})
    agreement = db.session.get(Agreement, agreement_id)
    data = {"version": str(options.pop("version", agreement.version if agreement else 1))}  # 1: for an id of nothing
    if body is not None:
        data[field] = (BytesIO(body), name)
    return client.post(
        f"{P}/agreements/{agreement_id}/drafts", data=data, content_type="multipart/form-data", headers=headers
    )


def drafts_of(agreement) -> list[AgreementDocument]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AgreementDocument)
            .where(AgreementDocument.agreement_id == agreement.id, AgreementDocument.kind == "draft_text")
            .order_by(AgreementDocument.id)
        )
    )


def test_the_owner_attaches_a_draft_and_reads_it_back_as_the_pages_do(api, world, signed_in, mou):
    officer = api("officer")
    response = attach(officer, mou.id)
    assert response.status_code == 201, response.get_data(as_text=True)
    [draft] = drafts_of(mou)
    body = response.get_json()
    assert body["id"] == draft.id and body["kind"] == "draft_text" and body["name"] == "projet-zephyrin.docx"
    assert body["uploaded_by"]["id"] == world.users["officer"].id
    # The document as the list presents it, and its download where Location says.
    listed = officer.get(f"{P}/agreements/{mou.id}/documents").get_json()
    assert [d for d in listed if d["id"] == draft.id] == [body]
    assert response.headers["Location"].endswith(body["download_url"])
    assert officer.get(response.headers["Location"]).data == FIRST
    # The history names it once, as the page's attach does.
    about_it = (AuditEvent.object_type == "agreements", AuditEvent.object_id == mou.id)
    added = db.session.scalars(select(AuditEvent.changes).where(AuditEvent.action == "document_added", *about_it)).all()
    assert [c["name"] for c in added if c["kind"] == "draft_text"] == ["projet-zephyrin.docx"]
    # The agreement's page shows it in its documents panel.
    html = signed_in("officer").get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert "projet-zephyrin.docx" in html[html.index('id="documents-heading"') :]


def test_an_idempotency_key_sent_again_attaches_the_draft_once(api, mou):
    officer = api("officer")
    first = attach(officer, mou.id, headers={"Idempotency-Key": "draft-1"})
    again = attach(officer, mou.id, version=mou.version, headers={"Idempotency-Key": "draft-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert len(drafts_of(mou)) == 1


def test_its_partner_may_not_attach_nor_see_the_draft_and_another_partner_learns_nothing(api, mou):
    assert attach(api("officer"), mou.id).status_code == 201
    [draft] = drafts_of(mou)
    partner = api("partner")
    assert_problem(attach(partner, mou.id, name="contre-projet.docx"), 403)
    assert [d["id"] for d in partner.get(f"{P}/agreements/{mou.id}/documents").get_json()] == []
    assert_problem(partner.get(f"{P}/agreements/{mou.id}/documents/{draft.id}/content"), 404)
    other = api("partner_b")
    answer, reference = attach(other, mou.id), attach(other, MISSING)
    assert answer.status_code == reference.status_code == 404
    assert answer.get_json() == reference.get_json()
    assert len(drafts_of(mou)) == 1


@pytest.mark.parametrize("role", ["auditor", "legal", "other_officer"])
def test_only_those_who_edit_the_agreement_attach_its_draft(api, mou, role):
    assert_problem(attach(api(role), mou.id), 403)
    assert drafts_of(mou) == []


def test_a_draft_is_refused_once_the_ministry_no_longer_drafts(api, mou):
    mou.state = "negotiation"
    db.session.commit()
    body = assert_problem(attach(api("officer"), mou.id), 409)
    assert "drafts and reviews" in body["detail"]  # the service's own words
    assert drafts_of(mou) == []


@pytest.mark.parametrize(
    "sent, field",
    [
        ((PNG, "scan.png"), "file"),  # not a text drafts compare
        ((b"", "vide.docx"), "file"),  # empty
        ((None, "rien.docx"), "file"),  # no file at all
        ((FIRST, "projet.docx"), "document"),  # under another field's name
    ],
)
def test_what_is_no_draft_text_is_refused_by_field(api, mou, sent, field):
    body, name = sent
    problem = assert_problem(attach(api("officer"), mou.id, body, name, field=field), 422)
    assert field in problem["errors"]
    assert drafts_of(mou) == []


def test_a_stale_if_match_or_version_changes_nothing(api, mou):
    officer = api("officer")
    stale = officer.get(f"{P}/agreements/{mou.id}").headers["ETag"]
    assert attach(officer, mou.id).status_code == 201
    assert_problem(attach(officer, mou.id, name="v2.docx", headers={"If-Match": stale}), 412)
    db.session.refresh(mou)
    assert_problem(attach(officer, mou.id, name="v2.docx", version=mou.version + 1), 409)
    current = officer.get(f"{P}/agreements/{mou.id}").headers["ETag"]
    assert attach(officer, mou.id, name="v2.docx", headers={"If-Match": current}).status_code == 201
    assert [d.original_name for d in drafts_of(mou)] == ["projet-zephyrin.docx", "v2.docx"]


def test_the_draft_attached_by_the_api_is_sent_as_the_first_version(api, mou):
    officer = api("officer")
    draft_id = attach(officer, mou.id).get_json()["id"]
    db.session.refresh(mou)
    mou.state = "negotiation"  # its review done: the negotiation begins
    db.session.commit()
    sent = officer.post(
        f"{P}/agreements/{mou.id}/negotiation/versions",
        data={"version": str(mou.version), "from_draft_id": str(draft_id)},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 201, sent.get_data(as_text=True)
    [first] = sent.get_json()["versions"]
    assert first["document"]["name"] == "projet-zephyrin.docx" and first["document"]["id"] != draft_id
    partner = api("partner")
    assert partner.get(first["document"]["download_url"]).data == FIRST
    assert partner.get(f"{P}/agreements/{mou.id}/documents/{draft_id}/content").status_code == 404


def test_the_description_documents_the_upload_like_its_neighbours(app):
    document = app.test_client().get(f"{P}/openapi.json").get_json()
    operation = document["paths"][f"{P}/agreements/{{agreement_id}}/drafts"]["post"]
    assert operation["summary"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = document["components"]["schemas"][form["$ref"].split("/")[-1]] if "$ref" in form else form
    assert form["properties"]["file"]["format"] == "binary"
    assert {"201", "403", "404", "409", "412", "422"} <= set(operation["responses"])
    assert "Location" in operation["responses"]["201"]["headers"]
    assert any(p["name"] == "If-Match" for p in operation["parameters"])
