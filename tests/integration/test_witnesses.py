"""A witness organisation attested an agreement's signing: its users see the agreement, not the deliverables
the partners hand in (their files, threads, indicators), unless it answers for one of them itself. Found by
an outside probe: a witness ministry's user downloaded the partner's hand-in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.agreements.models import AgreementParty
from app.api.tokens import create_token
from app.core import clock
from app.deliverables import services as deliverables
from app.discussions import services as discussions
from app.discussions.models import DiscussionAttachment
from app.extensions import db
from app.notifications.calendar import build_calendar
from tests import factories
from tests.conftest import SignedInClient
from tests.integration.test_api import PDF, upload

TODAY = clock.today()


def _plan(agreement, responsible, title, by):
    return factories.plan_line(agreement, by, responsible=responsible, title=title).occurrences[0]


@pytest.fixture
def witnessed(world):
    """Agreement A witnessed by another ministry; partner A's report on it handed in, with a thread."""
    officer, partner = world.users["officer"], world.users["partner"]
    witness = factories.organization("witness-ministry", kind="ministry", name_fr="Ministère témoin")
    db.session.add(AgreementParty(agreement_id=world.agreement_a.id, organization_id=witness.id, role="witness"))
    witness_user = factories.user("partner", witness, email="reader@witness.example")
    occurrence = _plan(world.agreement_a, world.partner_a, "Rapport Zanzibar", officer)
    db.session.commit()
    deliverables.submit(
        occurrence,
        [upload(PDF + b"the partner's report", "zanzibar.pdf")],
        note="Note du partenaire",
        by=partner,
        expected_version=occurrence.version,
    )
    message = discussions.post_message(
        world.agreement_a,
        occurrence=occurrence,
        audience="shared",
        body="Brouillon joint",
        uploads=[upload(PDF + b"thread", "brouillon.pdf")],
        by=partner,
    )
    db.session.commit()
    attachment = db.session.scalar(select(DiscussionAttachment).where(DiscussionAttachment.message_id == message.id))
    return witness, witness_user, occurrence, attachment


def test_a_witness_sees_the_agreement_not_the_partners_deliverables(app, world, witnessed):
    witness, reader, occurrence, attachment = witnessed
    seen = SignedInClient(app, reader)
    agreement = world.agreement_a
    assert seen.get(f"/agreements/{agreement.id}").status_code == 200
    assert "Rapport Zanzibar" not in seen.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    # The pages: the list, the occurrence, its hand-in's file, the thread's attachment, the portal, search.
    assert f"/deliverables/{occurrence.id}" not in seen.get("/deliverables/").get_data(as_text=True)
    assert seen.get(f"/deliverables/{occurrence.id}").status_code == 404
    handed_in = occurrence.latest_submission.files[0]
    assert seen.get(f"/deliverables/files/{handed_in.id}").status_code == 404
    assert seen.get(f"/discussions/attachments/{attachment.id}").status_code == 404
    assert "Rapport Zanzibar" not in seen.get("/portal").get_data(as_text=True)
    assert "Rapport Zanzibar" not in seen.get("/search?q=zanzibar").get_data(as_text=True)
    # The API and the calendar feed.
    _token, secret = create_token(reader, "script", by=reader)
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    api = app.test_client()
    assert api.get("/api/v1/deliverables", headers=headers).get_json()["items"] == []
    assert api.get(f"/api/v1/deliverables/{occurrence.id}", headers=headers).status_code == 404
    assert api.get(f"/api/v1/agreements/{agreement.id}/deliverables", headers=headers).get_json() == []
    assert api.get(f"/api/v1/agreements/{agreement.id}", headers=headers).status_code == 200
    assert "Rapport Zanzibar" not in build_calendar(reader, TODAY).decode()
    # The partner and the ministry still see it all.
    for who in (world.users["partner"], world.users["officer"]):
        assert SignedInClient(app, who).get(f"/deliverables/files/{handed_in.id}").status_code == 200


def test_a_witness_answering_for_a_deliverable_works_on_the_agreement(app, world, witnessed):
    witness, reader, occurrence, _attachment = witnessed
    own = _plan(world.agreement_a, witness, "Attestation du témoin", world.users["officer"])
    db.session.commit()
    seen = SignedInClient(app, reader)
    listing = seen.get("/deliverables/").get_data(as_text=True)
    assert f"/deliverables/{own.id}" in listing and f"/deliverables/{occurrence.id}" in listing
    assert seen.get(f"/deliverables/{occurrence.id}").status_code == 200


def test_a_co_signatory_sees_the_deliverables(app, world):
    co_signatory = factories.organization("co-signatory", name_fr="Cosignataire")
    db.session.add(
        AgreementParty(agreement_id=world.agreement_a.id, organization_id=co_signatory.id, role="co_signatory")
    )
    reader = factories.user("partner", co_signatory, email="reader@co-signatory.example")
    occurrence = _plan(world.agreement_a, world.partner_a, "Rapport commun", world.users["officer"])
    db.session.commit()
    assert SignedInClient(app, reader).get(f"/deliverables/{occurrence.id}").status_code == 200
