"""An agreement's draft text: attached by its editors while the ministry drafts and reviews it, read by the
ministry's staff and named by the approvals asked on it; never seen by a partner, on any page or API call,
even once the agreement is shared (a draft's id answers as an id that does not exist)."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.api.tokens import create_token
from app.core.audit import AuditEvent
from app.extensions import db
from app.notifications.models import OutboxMessage
from app.workflow import services
from app.workflow.models import AgreementDocument
from tests import factories
from tests.conftest import SignedInClient
from tests.support.documents import docx_bytes
from tests.support.pages import act

FIRST = docx_bytes([("h1", "Article 1"), ("p", "Les parties coopèrent dans le numérique.")])
SECOND = docx_bytes([("h1", "Article 1"), ("p", "Les parties coopèrent dans le numérique et la formation.")])
VERSION = docx_bytes([("h1", "Article 1"), ("p", "Texte envoyé au partenaire.")])
MINISTRY = ("admin", "officer", "manager", "legal", "finance", "auditor")


@pytest.fixture
def mou(world):
    agreement = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="MoU en projet")
    db.session.commit()
    return agreement


def attach(client, agreement, body: bytes = FIRST, name: str = "projet-zephyrin.docx", **headers):
    db.session.refresh(agreement)
    return client.post(
        f"/agreements/{agreement.id}/draft-texts",
        data={"version": str(agreement.version), "file": (BytesIO(body), name)},
        csrf_from=f"/agreements/{agreement.id}",
        content_type="multipart/form-data",
        headers=headers,
    )


def drafts_of(agreement) -> list[AgreementDocument]:
    return list(
        db.session.scalars(
            select(AgreementDocument)
            .where(AgreementDocument.agreement_id == agreement.id, AgreementDocument.kind == "draft_text")
            .order_by(AgreementDocument.id)
        )
    )


def test_the_owner_attaches_drafts_and_the_latest_is_the_one_under_review(world, signed_in, mou):
    officer = signed_in("officer")
    assert attach(officer, mou).status_code == 303
    assert attach(officer, mou, SECOND, "projet-v2.docx").status_code == 303
    first, second = drafts_of(mou)
    assert (first.original_name, second.original_name) == ("projet-zephyrin.docx", "projet-v2.docx")
    added = db.session.scalars(select(AuditEvent.changes).where(AuditEvent.action == "document_added")).all()
    assert [c["kind"] for c in added if c["name"] in ("projet-zephyrin.docx", "projet-v2.docx")] == ["draft_text"] * 2
    html = officer.get(f"/agreements/{mou.id}").get_data(as_text=True)
    card = html[html.index('id="draft-text-heading"') :]
    card = card[: card.index("</section>")]
    assert "projet-v2.docx" in card and "1 earlier draft" in card
    assert f"old={first.id}&amp;new={second.id}" in card  # compare the two drafts
    compared = officer.get(f"/agreements/{mou.id}/compare?old={first.id}&new={second.id}")
    assert compared.status_code == 200 and "formation" in compared.get_data(as_text=True)


@pytest.mark.parametrize("role", MINISTRY)
def test_the_ministry_lists_and_downloads_the_drafts(world, signed_in, mou, role):
    attach(signed_in("officer"), mou)
    [draft] = drafts_of(mou)
    reader = signed_in(role)
    html = reader.get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert "projet-zephyrin.docx" in html and 'id="documents-heading"' in html
    documents = html[html.index('id="documents-heading"') :]
    assert "Draft text" in documents and "draft_text" not in documents  # named, as every kind is
    download = reader.get(f"/agreements/{mou.id}/documents/{draft.id}")
    assert download.status_code == 200 and download.data == FIRST


@pytest.mark.parametrize("role", ["legal", "finance", "auditor", "other_officer", "partner"])
def test_only_those_who_edit_the_agreement_attach_a_draft(world, signed_in, mou, role):
    factories.shown_to_partners(mou)  # so that the partner sees the agreement, and is refused the upload
    db.session.commit()
    response = attach(signed_in(role), mou)
    assert response.status_code == 403
    assert drafts_of(mou) == []


def test_a_draft_is_attached_before_the_negotiation_only_and_only_as_a_text(world, signed_in, mou):
    officer = signed_in("officer")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    refused = attach(officer, mou, png, "scan.png", Accept="application/json")
    assert refused.status_code == 422
    assert "Allowed: PDF, DOCX, ODT" in refused.get_data(as_text=True)
    mou.state = "negotiation"
    db.session.commit()
    late = attach(officer, mou, Accept="application/json")
    assert late.status_code == 409 and "drafts and reviews" in late.get_data(as_text=True)
    page = officer.get(f"/agreements/{mou.id}").get_data(as_text=True)
    assert 'id="draft-text-heading"' not in page
    assert drafts_of(mou) == []


# --- the approvals name the draft ------------------------------------------------------------


def test_the_approvals_panel_the_mail_and_the_by_mail_page_name_the_latest_draft(world, signed_in, mou):
    officer, legal = signed_in("officer"), signed_in("legal")
    attach(officer, mou)
    attach(officer, mou, SECOND, "projet-v2.docx")
    assert act(officer, mou, "submit_for_review").status_code == 303
    latest = drafts_of(mou)[-1]
    path = f"/agreements/{mou.id}/documents/{latest.id}"
    html = legal.get(f"/agreements/{mou.id}").get_data(as_text=True)
    approvals = html[html.index('id="approvals-heading"') :]
    approvals = approvals[: approvals.index("</section>")]
    assert "Draft text under review:" in approvals and "projet-v2.docx" in approvals and path in approvals
    mail = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient_id == world.users["legal"].id, OutboxMessage.kind == "approval_requested"
        )
    ).one()
    assert "Draft text under review: projet-v2.docx" in mail.body_text and path in mail.body_text
    assert path in mail.body_html and "projet-v2.docx" in mail.body_html
    by_mail = re.search(r"/approvals/by-mail/[A-Za-z0-9_\-]+", mail.body_text).group(0)
    page = legal.get(by_mail).get_data(as_text=True)
    assert "Draft text under review:" in page and path in page


def test_an_approval_asked_without_a_draft_says_so(world, signed_in, mou):
    officer = signed_in("officer")
    assert act(officer, mou, "submit_for_review").status_code == 303
    said = "No draft text was attached"
    assert said in signed_in("legal").get(f"/agreements/{mou.id}").get_data(as_text=True)
    mail = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.recipient_id == world.users["manager"].id, OutboxMessage.kind == "approval_requested"
        )
    ).one()
    assert said in mail.body_text and said in mail.body_html


# --- a partner never sees a draft ------------------------------------------------------------


@pytest.fixture
def negotiating(world, signed_in, mou):
    """The MoU with its reviewed draft, now in negotiation and shown to partner A, no version sent yet."""
    assert attach(signed_in("officer"), mou).status_code == 303
    [draft] = drafts_of(mou)
    db.session.refresh(mou)
    mou.state = "negotiation"
    factories.shown_to_partners(mou)
    db.session.commit()
    return {"agreement": mou, "draft": draft}


@pytest.fixture
def shared(world, negotiating):
    """The same, its first version sent as a file of its own."""
    mou = negotiating["agreement"]
    upload = FileStorage(BytesIO(VERSION), filename="version-1.docx")
    round_ = services.send_version(
        mou, by=world.users["officer"], upload=upload, note=None, expected_version=mou.version
    )
    db.session.commit()
    return negotiating | {"version": round_.document}


def _token(user) -> str:
    secret = create_token(user, "probe", by=user)[1]
    db.session.commit()
    return secret


def test_a_partner_asking_for_a_draft_gets_what_a_missing_id_gets_on_every_page(world, signed_in, shared):
    partner = signed_in("partner")
    agreement, draft, version = shared["agreement"], shared["draft"], shared["version"]
    missing = 987654
    base = f"/agreements/{agreement.id}"
    probes = [
        (f"{base}/documents/{draft.id}", f"{base}/documents/{missing}"),
        (f"{base}/compare?old={draft.id}&new={version.id}", f"{base}/compare?old={missing}&new={version.id}"),
    ]

    def as_if_missing(body: bytes) -> bytes:
        """The page's own part (the top bar's counts may move meanwhile), with the draft's id where the
        address asked carries it (the sign-in form's `next`)."""
        body = body[body.index(b"<main") : body.index(b"</main>")]
        for before, after in ((f"documents/{draft.id}", f"documents/{missing}"), (f"={draft.id}&", f"={missing}&")):
            body = body.replace(before.encode(), after.encode())
        return body

    for asked, nowhere in probes:
        answer, reference = partner.get(asked), partner.get(nowhere)
        assert answer.status_code == reference.status_code == 404, asked
        assert as_if_missing(answer.data) == as_if_missing(reference.data), asked
    # Checking signatures again (an admin's) answers the same for the draft as for nothing.
    answer = partner.post(f"{base}/documents/{draft.id}/check-signatures", csrf_from=base)
    reference = partner.post(f"{base}/documents/{missing}/check-signatures", csrf_from=base)
    assert answer.status_code == reference.status_code
    assert as_if_missing(answer.data) == as_if_missing(reference.data)
    # Nowhere named: the agreement's page, its comparison, its summary, the search.
    for path in (base, f"{base}/compare", f"{base}/summary", "/search?q=zephyrin"):
        page = partner.get(path)
        assert page.status_code == 200, path
        text = page.get_data(as_text=True)
        assert "projet-zephyrin" not in text and f"documents/{draft.id}" not in text, path
        assert 'id="draft-text-heading"' not in text
    assert "version-1.docx" in partner.get(base).get_data(as_text=True)
    # The ministry's search finds it.
    assert "projet-zephyrin" in signed_in("officer").get("/search?q=zephyrin").get_data(as_text=True)


def test_a_partner_verifying_the_draft_learns_nothing(world, signed_in, shared):
    def verify(client, body, name):
        return client.post(
            "/verify", data={"file": (BytesIO(body), name)}, content_type="multipart/form-data", csrf_from="/verify"
        ).get_data(as_text=True)

    partner = signed_in("partner")
    draft_page = verify(partner, FIRST, "copie.docx")
    unknown_page = verify(partner, b"nothing Sharaka keeps", "copie.docx")
    assert 'id="verify-not-found"' in draft_page and 'id="verify-not-found"' in unknown_page
    assert shared["agreement"].reference not in draft_page
    assert 'id="verify-found"' in verify(signed_in("officer"), FIRST, "copie.docx")
    assert 'id="verify-found"' in verify(partner, VERSION, "copie.docx")  # what was sent to them


def test_a_partner_asking_the_api_for_a_draft_gets_what_a_missing_id_gets(app, world, signed_in, shared):
    agreement, draft, version = shared["agreement"], shared["draft"], shared["version"]
    headers = {"Authorization": f"Bearer {_token(world.users['partner'])}", "Accept-Language": "en"}
    http = app.test_client()
    base = f"/api/v1/agreements/{agreement.id}"
    listed = http.get(f"{base}/documents", headers=headers)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.get_json()] == [version.id]
    missing = 987654
    for template in (
        "{base}/documents/{id}/content",
        "{base}/documents/{id}/signatures",
        "{base}/comparison?old={id}&new={version}",
    ):
        answer = http.get(template.format(base=base, id=draft.id, version=version.id), headers=headers)
        reference = http.get(template.format(base=base, id=missing, version=version.id), headers=headers)
        assert answer.status_code == reference.status_code == 404, template
        assert answer.get_json() == reference.get_json(), template
    detail = http.get(base, headers=headers).get_data(as_text=True)
    assert "projet-zephyrin" not in detail
    # The ministry's call lists both.
    officer = {"Authorization": f"Bearer {_token(world.users['officer'])}"}
    assert [d["kind"] for d in http.get(f"{base}/documents", headers=officer).get_json()] == [
        "draft_text",
        "text_version",
    ]
    assert http.get(f"{base}/documents/{draft.id}/content", headers=officer).data == FIRST


def test_a_partner_never_sees_a_draft_whatever_the_route(app, world, signed_in, shared):
    """The rule itself, for each reader: the ministry's roles see the draft, a partner of the agreement never."""
    from app.core.permissions import documents_seen_by, may_see_document, visible_documents_clause

    agreement, draft = shared["agreement"], shared["draft"]
    for role, sees in [*((role, True) for role in MINISTRY), ("partner", False)]:
        user = world.users[role]
        assert may_see_document(user, agreement, draft) is sees, role
        assert (draft in documents_seen_by(user, agreement)) is sees, role
        listed = db.session.scalars(
            select(AgreementDocument.id).where(
                AgreementDocument.agreement_id == agreement.id, visible_documents_clause(user)
            )
        ).all()
        assert (draft.id in listed) is sees, role
    other = SignedInClient(app, world.users["partner_b"])  # not a party: the whole agreement is unknown
    assert other.get(f"/agreements/{agreement.id}/documents/{draft.id}").status_code == 404


# --- the reviewed draft as the first version -------------------------------------------------


def _send(client, agreement, *, accept: str | None = None, **data):
    db.session.refresh(agreement)
    return client.post(
        f"/agreements/{agreement.id}/negotiation/versions",
        data={"version": str(agreement.version), **data},
        csrf_from=f"/agreements/{agreement.id}",
        content_type="multipart/form-data",
        headers={"Accept": accept} if accept else {},
    )


def _negotiation_panel(html: str) -> str:
    panel = html[html.index('class="negotiation-form"') :]
    return panel[: panel.index("</form>")]


def test_the_first_version_is_the_reviewed_draft_without_uploading_it_again(world, signed_in, negotiating):
    from app.core.storage import StoredFile

    agreement, draft = negotiating["agreement"], negotiating["draft"]
    officer = signed_in("officer")
    form = _negotiation_panel(officer.get(f"/agreements/{agreement.id}").get_data(as_text=True))
    assert "Send the reviewed draft text (projet-zephyrin.docx, attached on" in form
    assert f'name="from_draft_id" value="{draft.id}"' in form
    files_before = db.session.scalar(select(func.count()).select_from(StoredFile))
    assert _send(officer, agreement, from_draft_id=str(draft.id), note="Notre projet").status_code == 303
    db.session.expire_all()
    [round_] = agreement.negotiation_rounds
    version = round_.document
    assert (round_.number, round_.side, version.kind) == (1, "ministry", "text_version")
    assert version.id != draft.id and version.stored_file_id == draft.stored_file_id  # the same bytes, kept once
    assert version.original_name == "projet-zephyrin.docx"
    assert db.session.scalar(select(func.count()).select_from(StoredFile)) == files_before
    sent = db.session.scalars(select(AuditEvent.changes).where(AuditEvent.action == "negotiation_version_sent")).one()
    assert sent["reviewed_draft"] == "projet-zephyrin.docx" and sent["round"] == 1
    # The partner reads version 1, the draft's bytes, and still never the draft itself.
    partner = signed_in("partner")
    download = partner.get(f"/agreements/{agreement.id}/documents/{version.id}")
    assert download.status_code == 200 and download.data == FIRST
    assert partner.get(f"/agreements/{agreement.id}/documents/{draft.id}").status_code == 404
    # Once a version was sent, the choice is no longer offered.
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'name="from_draft_id"' not in page


def test_the_page_offers_no_draft_when_none_was_attached(world, signed_in, mou):
    mou.state = "negotiation"
    db.session.commit()
    form = _negotiation_panel(signed_in("officer").get(f"/agreements/{mou.id}").get_data(as_text=True))
    assert 'name="from_draft_id"' not in form and 'id="version-file"' in form


def test_the_page_refuses_a_file_and_the_draft_together(world, signed_in, negotiating):
    agreement, draft = negotiating["agreement"], negotiating["draft"]
    refused = _send(
        signed_in("officer"),
        agreement,
        accept="application/json",
        from_draft_id=str(draft.id),
        file=(BytesIO(VERSION), "version-1.docx"),
    )
    assert refused.status_code == 422
    assert "either" in refused.get_data(as_text=True)
    assert agreement.negotiation_rounds == []


def test_the_api_sends_the_reviewed_draft_and_refuses_what_is_not_one(app, world, signed_in, negotiating):
    agreement, draft = negotiating["agreement"], negotiating["draft"]
    elsewhere = factories.agreement(by=world.users["officer"], partners=[world.partner_a], title_fr="Autre MoU")
    db.session.commit()
    assert attach(signed_in("officer"), elsewhere, SECOND, "autre-projet.docx").status_code == 303
    other_draft = drafts_of(elsewhere)[0]
    headers = {"Authorization": f"Bearer {_token(world.users['officer'])}", "Accept-Language": "en"}
    http = app.test_client()
    url = f"/api/v1/agreements/{agreement.id}/negotiation/versions"

    def post(**data):
        db.session.refresh(agreement)
        body = {"version": str(agreement.version), **data}
        return http.post(url, data=body, headers=headers, content_type="multipart/form-data")

    missing, foreign = post(from_draft_id="987654"), post(from_draft_id=str(other_draft.id))
    assert missing.status_code == foreign.status_code == 422
    assert missing.get_json()["errors"] == foreign.get_json()["errors"]
    assert "from_draft_id" in missing.get_json()["errors"]
    neither = post()
    assert neither.status_code == 422 and "Choose a file" in neither.get_data(as_text=True)
    both = post(from_draft_id=str(draft.id), file=(BytesIO(VERSION), "version-1.docx"))
    assert both.status_code == 422 and "either" in both.get_data(as_text=True)
    for_the_partner = post(from_draft_id=str(draft.id), on_behalf_of_partner="true")
    assert for_the_partner.status_code == 422 and "ministry's version" in for_the_partner.get_data(as_text=True)
    sent = post(from_draft_id=str(draft.id))
    assert sent.status_code == 201, sent.get_json()
    [first] = sent.get_json()["versions"]
    assert first["number"] == 1 and first["document"]["name"] == "projet-zephyrin.docx"
    partner = {"Authorization": f"Bearer {_token(world.users['partner'])}"}
    base = f"/api/v1/agreements/{agreement.id}"
    # The partner answers with its own version; the ministry's next one cannot be the draft.
    db.session.refresh(agreement)
    answer = {"version": str(agreement.version), "file": (BytesIO(SECOND), "contre-projet.docx")}
    assert http.post(url, data=answer, headers=partner, content_type="multipart/form-data").status_code == 201
    again = post(from_draft_id=str(draft.id))
    assert again.status_code == 422 and "only as the first version" in again.get_data(as_text=True)
    assert http.get(f"{base}/documents/{first['document']['id']}/content", headers=partner).data == FIRST
    assert http.get(f"{base}/documents/{draft.id}/content", headers=partner).status_code == 404
