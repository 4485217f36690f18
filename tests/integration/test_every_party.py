"""Every partner party: each accepts the negotiated text (the page shows every party still to
answer), an acceptance recorded on a partner's behalf is a separate act with its proof, and each
partner owes, sees and hands in its own deliverables."""

from datetime import date
from io import BytesIO

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.core import clock
from app.core.audit import AuditEvent
from app.core.errors import PermissionDenied, ValidationFailed
from app.extensions import db
from app.workflow import engine, services
from app.workflow.engine import WorkflowError
from tests import factories
from tests.integration.test_api import api, tokens  # noqa: F401  (fixtures)
from tests.support.pages import partner_turns

PDF = b"%PDF-1.4\n%test\n%%EOF\n"


def pdf(name="v.pdf", body=PDF):
    return FileStorage(stream=BytesIO(body), filename=name, content_type="application/pdf")


@pytest.fixture
def two_partners(world):
    agreement = factories.agreement(
        by=world.users["officer"],
        partners=[world.partner_a, world.partner_b],
        state="negotiation",
        title_fr="Accord à trois",
    )
    engine.settle_state(agreement)
    db.session.commit()
    return agreement


def test_each_partner_party_must_accept_before_the_text_locks(world, two_partners):
    agreement, officer = two_partners, world.users["officer"]
    services.send_version(agreement, by=officer, upload=pdf(), note="v1", expected_version=agreement.version)
    db.session.commit()
    waiting = services.waiting_parties(agreement, agreement.negotiation_rounds[-1])
    assert [o.id for o in waiting] == [world.partner_a.id, world.partner_b.id]
    services.accept_version(agreement, by=world.users["partner"], expected_version=agreement.version)
    db.session.commit()
    assert agreement.agreed_round_id is None  # partner B has not answered
    with pytest.raises(WorkflowError, match="already accepted"):
        services.accept_version(agreement, by=world.users["partner"], expected_version=agreement.version)
    services.accept_version(agreement, by=world.users["partner_b"], expected_version=agreement.version)
    db.session.commit()
    assert agreement.agreed_round_id == agreement.negotiation_rounds[-1].id


def test_a_counter_version_from_one_partner_needs_the_others_again(world, two_partners):
    agreement, officer = two_partners, world.users["officer"]
    services.send_version(agreement, by=officer, upload=pdf(), note="v1", expected_version=agreement.version)
    services.accept_version(agreement, by=world.users["partner"], expected_version=agreement.version)
    services.send_version(
        agreement,
        by=world.users["partner_b"],
        upload=pdf("v2.pdf", PDF + b"2"),
        note="v2",
        expected_version=agreement.version,
    )
    db.session.commit()
    waiting = services.waiting_parties(agreement, agreement.negotiation_rounds[-1])
    assert [o.is_home for o in waiting] == [True, False] and waiting[1].id == world.partner_a.id


def _counter_version_from_partner_b(world, agreement):
    """The ministry sends version 1, partner B answers with version 2."""
    services.send_version(
        agreement, by=world.users["officer"], upload=pdf(), note="v1", expected_version=agreement.version
    )
    services.send_version(
        agreement,
        by=world.users["partner_b"],
        upload=pdf("v2.pdf", PDF + b"2"),
        note="v2",
        expected_version=agreement.version,
    )
    db.session.commit()


def test_whose_turn_is_one_rule_for_the_page_the_inbox_and_the_partner_portal(world, two_partners):
    """After partner B's counter-version, the ministry and partner A answer; B waits on nobody's say."""
    from app.workflow.inbox import inbox_for
    from app.workflow.queries import drafts_waiting_on_partner

    agreement, officer = two_partners, world.users["officer"]
    _counter_version_from_partner_b(world, agreement)
    waiting = {o.id for o in services.waiting_parties(agreement, agreement.negotiation_rounds[-1])}

    def turn_in_portal(user):
        return agreement.id in {a.id for a, _round in drafts_waiting_on_partner(user)}

    def turn_in_inbox(user):
        return agreement.id in {item.agreement.id for item in inbox_for(user, clock.today()).items}

    for user in (world.users["partner"], world.users["partner_b"]):
        assert turn_in_portal(user) == (user.organization_id in waiting)
    assert turn_in_portal(world.users["partner"]) and not turn_in_portal(world.users["partner_b"])
    assert world.ministry.id in waiting and turn_in_inbox(officer)


def test_an_acceptance_on_a_partners_behalf_needs_its_proof_and_says_who_recorded_it(world, two_partners):
    agreement, officer = two_partners, world.users["officer"]
    services.send_version(agreement, by=officer, upload=pdf(), note="v1", expected_version=agreement.version)
    db.session.commit()
    with pytest.raises(ValidationFailed) as error:
        services.record_acceptance_on_behalf(
            agreement, organization_id=world.partner_a.id, proof=None, by=officer, expected_version=agreement.version
        )
    assert "proof" in error.value.field_errors
    with pytest.raises(ValidationFailed) as error:
        services.record_acceptance_on_behalf(
            agreement,
            organization_id=world.ministry.id,
            proof=pdf("mail.pdf"),
            by=officer,
            expected_version=agreement.version,
        )
    assert "organization_id" in error.value.field_errors
    with pytest.raises(PermissionDenied):
        services.record_acceptance_on_behalf(
            agreement,
            organization_id=world.partner_b.id,
            proof=pdf("mail.pdf"),
            by=world.users["partner"],
            expected_version=agreement.version,
        )
    db.session.rollback()
    services.record_acceptance_on_behalf(
        agreement,
        organization_id=world.partner_a.id,
        proof=pdf("courriel.pdf"),
        by=officer,
        expected_version=agreement.version,
    )
    db.session.commit()
    acceptance = agreement.negotiation_rounds[-1].acceptances[-1]
    assert acceptance.is_on_behalf and acceptance.proof_document.original_name == "courriel.pdf"
    row = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.object_id == agreement.id, AuditEvent.action == "negotiation_version_accepted")
        .order_by(AuditEvent.id.desc())
    )
    assert row.actor_id == officer.id
    assert row.changes["on_behalf_of"] == world.partner_a.name and row.changes["proof"] == "courriel.pdf"


def _post(client, agreement, path, data):
    db.session.refresh(agreement)
    return client.post(
        f"/agreements/{agreement.id}/{path}",
        data={"version": str(agreement.version), **data},
        csrf_from=f"/agreements/{agreement.id}",
        content_type="multipart/form-data",
    )


def test_through_the_pages_every_party_is_shown_until_it_answers(world, two_partners, signed_in):
    agreement = two_partners
    officer, partner_a, partner_b = signed_in("officer"), signed_in("partner"), signed_in("partner_b")
    assert _post(officer, agreement, "negotiation/versions", {"file": (BytesIO(PDF), "v1.pdf")}).status_code == 303
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Still to accept version 1 or answer with a new one:" in page
    status = page.split("Still to accept version 1")[1].split("</p>")[0]
    assert world.partner_a.name in status and world.partner_b.name in status
    # No pre-ticked box: the officer's own accept form has nothing to tick, and the
    # acceptance for a partner is its own form, with a file.
    assert 'name="on_behalf_of_partner" value="y" checked' not in page and "accept-on-behalf" not in page
    assert 'id="record-acceptance"' in page and 'name="proof"' in page
    # Each partner's portal shows it as their turn until it answers.
    assert f'data-agreement="{agreement.reference}"' in partner_turns(partner_a)
    assert _post(partner_a, agreement, "negotiation/accept", {}).status_code == 303
    assert agreement.reference not in partner_turns(partner_a)
    assert f'data-agreement="{agreement.reference}"' in partner_turns(partner_b)
    status = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True).split("Still to accept")[1]
    assert world.partner_b.name in status.split("</p>")[0] and world.partner_a.name not in status.split("</p>")[0]
    # The officer records partner B's acceptance from its e-mail: the text locks.
    response = _post(officer, agreement, "negotiation/acceptances", {"organization_id": str(world.partner_b.id)})
    assert "proof" in officer.get(response.headers["Location"]).get_data(as_text=True).lower()  # no proof: refused
    db.session.refresh(agreement)
    assert agreement.agreed_round_id is None
    response = _post(
        officer,
        agreement,
        "negotiation/acceptances",
        {"organization_id": str(world.partner_b.id), "proof": (BytesIO(PDF + b"mail"), "courriel-B.pdf")},
    )
    assert response.status_code == 303
    db.session.refresh(agreement)
    assert agreement.agreed_round_id is not None
    page = officer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f"recorded by {world.users['officer'].full_name} on behalf of {world.partner_b.name}" in page
    assert f"Recorded by {world.users['officer'].full_name} on behalf of {world.partner_b.name}" in page  # history
    # A partner cannot record for another, and another organisation cannot see the agreement at all.
    response = _post(
        partner_a,
        agreement,
        "negotiation/acceptances",
        {"organization_id": str(world.partner_b.id), "proof": (BytesIO(PDF), "x.pdf")},
    )
    assert "ministry staff record a partner" in partner_a.get(response.headers["Location"]).get_data(as_text=True)
    outsider = factories.user("partner", factories.organization("outsider"))
    db.session.commit()
    assert (
        signed_in(outsider)
        .post(f"/agreements/{agreement.id}/negotiation/acceptances", data={"version": "1"}, csrf_from="/agreements/")
        .status_code
        == 404
    )


def test_each_partner_owes_sees_and_hands_in_its_own_deliverables(world, signed_in):
    officer = world.users["officer"]
    agreement = factories.agreement(
        by=officer, partners=[world.partner_a, world.partner_b], state="signed", signed_on=date(2026, 1, 10)
    )
    engine.settle_state(agreement)
    db.session.commit()
    engine.take(
        agreement,
        "activate",
        by=officer,
        values={"effective_on": date(2026, 1, 15), "expires_on": date(2028, 1, 15)},
        expected_version=agreement.version,
    )
    db.session.commit()
    reports = [d for d in agreement.deliverables if d.title_en == "Quarterly progress report"]
    assert sorted(d.responsible_organization_id for d in reports) == sorted([world.partner_a.id, world.partner_b.id])
    own_b = next(d for d in reports if d.responsible_organization_id == world.partner_b.id)
    occurrence = own_b.occurrences[0]
    partner_b = signed_in("partner_b")
    assert partner_b.get(f"/deliverables/{occurrence.id}").status_code == 200
    url = f"/deliverables/{occurrence.id}/submissions"
    response = partner_b.post(
        url,
        data={"version": str(occurrence.version), "files": (BytesIO(PDF + b"B"), "rapport-B.pdf")},
        csrf_from=f"/deliverables/{occurrence.id}",
        content_type="multipart/form-data",
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    db.session.refresh(occurrence)
    assert occurrence.status == "submitted"
    # Partner A cannot hand in B's.
    other = next(d for d in reports if d.responsible_organization_id == world.partner_b.id).occurrences[1]
    response = signed_in("partner").post(
        f"/deliverables/{other.id}/submissions",
        data={"version": str(other.version), "files": (BytesIO(PDF), "x.pdf")},
        csrf_from=f"/deliverables/{other.id}",
        content_type="multipart/form-data",
    )
    assert response.status_code in (403, 422)
    db.session.refresh(other)
    assert other.status == "pending"
    # Reminders go to the party responsible: B's report reminds B's users, never A's.
    from datetime import datetime, time, timedelta, timezone

    from app.notifications.reminders import preview

    moment = datetime.combine(own_b.occurrences[1].due_on - timedelta(days=7), time(9), tzinfo=timezone.utc)
    reminded = {(c.object_id, c.recipient.id) for c in preview(moment) if c.object_type == "deliverable_occurrences"}
    ids_b = {o.id for o in own_b.occurrences}
    assert any(obj in ids_b and person == world.users["partner_b"].id for obj, person in reminded)
    assert not any(obj in ids_b and person == world.users["partner"].id for obj, person in reminded)


def test_the_api_shows_every_party_and_records_on_behalf_only_with_proof(world, two_partners, api):
    agreement = two_partners
    services.send_version(
        agreement, by=world.users["officer"], upload=pdf(), note="v1", expected_version=agreement.version
    )
    db.session.commit()
    url = f"/api/v1/agreements/{agreement.id}/negotiation"
    body = api("partner").get(url).get_json()
    assert [o["id"] for o in body["waiting"]] == [world.partner_a.id, world.partner_b.id]
    assert api("partner").post(url + "/accept", json={}).status_code == 200
    again = api("partner").post(url + "/accept", json={})
    assert again.status_code == 409 and "already accepted" in again.get_json()["detail"]
    response = api("officer").post(
        url + "/acceptances", data={"organization_id": str(world.partner_b.id)}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "proof" in response.get_json()["errors"]
    response = api("partner").post(
        url + "/acceptances",
        data={"organization_id": str(world.partner_b.id), "proof": (BytesIO(PDF), "mail.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    response = api("officer").post(
        url + "/acceptances",
        data={"organization_id": str(world.partner_b.id), "proof": (BytesIO(PDF + b"B"), "mail-B.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["waiting"] == [] and body["locked"] is True  # the ministry's own version: every party has accepted
    recorded = body["rounds"][-1]["acceptances"][-1]
    assert recorded["on_behalf"] and recorded["organization"]["id"] == world.partner_b.id
    assert api("partner_b").get(url).status_code == 200
    assert api("partner").get(f"/api/v1/agreements/{world.agreement_b.id}/negotiation").status_code == 404


def test_the_page_and_the_api_await_the_same_parties(world, two_partners, signed_in, api):
    """Whose turn it is comes from one rule (services.awaited_parties): after partner B's counter-version
    and the ministry's acceptance, partner A alone is awaited, though the latest version came from a partner."""
    agreement, officer = two_partners, world.users["officer"]
    url = f"/api/v1/agreements/{agreement.id}/negotiation"

    def awaited_on_the_page(role):
        page = signed_in(role).get(f"/agreements/{agreement.id}").get_data(as_text=True)
        status = page.split('id="negotiation-heading"')[1].split("</p>")[0]
        return {name for name in (world.ministry.name, world.partner_a.name, world.partner_b.name) if name in status}

    def awaited_through_the_api(role):
        body = api(role).get(url).get_json()
        assert [p["id"] for p in body["waiting"]] == [p["id"] for p in body["awaited_parties"]]
        return [(p["id"], p["is_ministry"]) for p in body["awaited_parties"]], body["turn"]

    assert awaited_through_the_api("officer") == ([(world.ministry.id, True)], "ministry")  # no version yet
    _counter_version_from_partner_b(world, agreement)
    for role in ("officer", "partner", "partner_b"):
        assert awaited_through_the_api(role) == ([(world.ministry.id, True), (world.partner_a.id, False)], "ministry")
    services.accept_version(agreement, by=officer, expected_version=agreement.version)
    db.session.commit()
    for role in ("officer", "partner", "partner_b", "auditor"):
        assert awaited_through_the_api(role) == ([(world.partner_a.id, False)], "partner")
        assert awaited_on_the_page(role) == {world.partner_a.name}
    services.accept_version(agreement, by=world.users["partner"], expected_version=agreement.version)
    db.session.commit()
    body = api("partner_b").get(url).get_json()
    assert body["awaited_parties"] == [] and body["turn"] is None and body["is_text_locked"]


def test_a_witness_or_co_signatory_takes_no_part_in_the_negotiation(world):
    """Only the partner parties answer for the text: a user of an organisation that is a witness (or a
    co-signatory) sees the agreement but may neither send a version nor accept one (found by an outside
    probe: a witness's version was recorded as if the ministry had entered it on a partner's behalf)."""
    from app.agreements.models import AgreementParty
    from app.workflow.queries.turns import drafts_waiting_on_partner

    for role in ("witness", "co_signatory"):
        agreement = factories.agreement(
            by=world.users["officer"], partners=[world.partner_a], state="negotiation", title_fr=f"Accord {role}"
        )
        agreement.parties.append(AgreementParty(organization_id=world.partner_b.id, role=role))
        engine.settle_state(agreement)
        db.session.commit()
        services.send_version(
            agreement, by=world.users["officer"], upload=pdf(), note="v1", expected_version=agreement.version
        )
        db.session.commit()
        outsider = world.users["partner_b"]
        with pytest.raises(PermissionDenied):
            services.send_version(
                agreement, by=outsider, upload=pdf("v2.pdf", PDF + b"2"), note="v2", expected_version=agreement.version
            )
        with pytest.raises(PermissionDenied):
            services.accept_version(agreement, by=outsider, expected_version=agreement.version)
        db.session.rollback()
        assert [r.number for r in agreement.negotiation_rounds] == [1]
        assert services.side_of(outsider, agreement) is None
        # Nor is it their turn on their portal, as it is the partner party's.
        assert agreement.id not in {a.id for a, _round in drafts_waiting_on_partner(outsider)}
        assert agreement.id in {a.id for a, _round in drafts_waiting_on_partner(world.users["partner"])}


def test_a_portal_shows_the_feedback_on_its_own_organisations_hand_ins_only(world, signed_in):
    """On an agreement shared by two partners, the ministry's word on what partner A handed in is A's:
    partner B's portal does not list it among its latest reviews, as if it were B's."""
    from app.deliverables import services as deliverables
    from tests.integration.test_api import PDF, plan, upload

    both = [world.partner_a, world.partner_b]
    shared = factories.agreement(by=world.users["officer"], partners=both, state="active", title_fr="Accord à trois")
    engine.settle_state(shared)
    db.session.commit()
    occurrence = plan(shared, world.partner_a, world.users["manager"], days=40)
    partner, manager = world.users["partner"], world.users["manager"]
    deliverables.submit(occurrence, [upload(PDF)], note=None, by=partner, expected_version=occurrence.version)
    deliverables.review(
        occurrence,
        decision="send_back",
        feedback="Il manque les indicateurs",
        by=manager,
        expected_version=occurrence.version,
    )
    db.session.commit()
    assert "Il manque les indicateurs" in signed_in("partner").get("/portal").get_data(as_text=True)
    assert "Il manque les indicateurs" not in signed_in("partner_b").get("/portal").get_data(as_text=True)


def _record_form(page: str) -> str:
    return page.split('id="record-acceptance"')[1].split("</form>")[0]


def test_the_record_acceptance_form_marks_its_partner_required_and_picks_the_only_one_left(
    world, two_partners, signed_in
):
    agreement = two_partners
    officer, partner_a = signed_in("officer"), signed_in("partner")
    assert _post(officer, agreement, "negotiation/versions", {"file": (BytesIO(PDF), "v1.pdf")}).status_code == 303
    form = _record_form(officer.get(f"/agreements/{agreement.id}").get_data(as_text=True))
    label = form.split('for="record-organization"')[1].split("</label>")[0]
    assert '<span class="text-danger" aria-hidden="true">*</span>' in label  # as the proof's label is
    assert "selected" not in form  # two partners left: the officer chooses
    assert _post(partner_a, agreement, "negotiation/accept", {}).status_code == 303
    form = _record_form(officer.get(f"/agreements/{agreement.id}").get_data(as_text=True))
    assert f'<option value="{world.partner_b.id}" selected>' in form
    assert f'value="{world.partner_a.id}"' not in form
