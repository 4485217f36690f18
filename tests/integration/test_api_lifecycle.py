"""The API alone runs an agreement's whole life: an MoU from draft to active, and one
terminated with its notice, each role calling with its own token — no page, no service
called by the test. Also the new operations' refusals (permissions, bad input) as
problem+json, and the partner approvals leak closed at the API door."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from io import BytesIO

from app.agreements.models import Agreement
from app.core import clock
from app.extensions import db
from app.workflow.models import AgreementDocument
from tests import factories
from tests.integration.test_api import PDF, P, api, assert_problem, ids, refreshed, tokens  # noqa: F401 (fixtures)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def multipart(client, url, fields: dict, files: dict):
    data = {
        **{k: str(v) for k, v in fields.items()},
        **{name: (BytesIO(body), filename) for name, (body, filename) in files.items()},
    }
    return client.post(url, data=data, content_type="multipart/form-data")


def move(client, agreement_id, transition, **body):
    return client.post(f"{P}/agreements/{agreement_id}/transitions", json={"transition": transition, **body})


def create_mou(api, world) -> int:
    body = ok(
        api("officer").post(
            f"{P}/agreements",
            json={
                "type": "mou",
                "title_fr": "Mémorandum IA",
                "title_en": "AI memorandum",
                "parties": [{"organization_id": world.partner_a.id}],
            },
        ),
        201,
    )
    assert body["state"] == "draft" and body["owner"]["id"] == world.users["officer"].id
    return body["id"]


def take_to_active(api, world, agreement_id: int) -> dict:
    officer, partner, legal, manager = api("officer"), api("partner"), api("legal"), api("manager")
    a = f"{P}/agreements/{agreement_id}"
    # Internal review: legal and the head of department approve in parallel.
    ok(move(officer, agreement_id, "submit_for_review", comment="Prêt"))
    ok(move(legal, agreement_id, "approve_review", comment="Revoir la clause de confidentialité plus tard"))
    assert ok(move(manager, agreement_id, "approve_review"))["agreement"]["state"] == "negotiation"
    # Negotiation: the ministry sends version 1, the partner answers with version 2, the ministry accepts it.
    assert "file" in assert_problem(multipart(officer, f"{a}/negotiation/versions", {"note": "x"}, {}), 422)["errors"]
    # Before it, the partner waits: the first text is the ministry's (the page said so and took the upload).
    assert ok(partner.get(f"{a}/negotiation"))["can_send_version"] is False
    first = multipart(partner, f"{a}/negotiation/versions", {}, {"file": (PDF + b"v0", "v0.pdf")})
    assert "The ministry sends the first version" in assert_problem(first, 409)["detail"]
    negotiation = ok(
        multipart(
            officer, f"{a}/negotiation/versions", {"note": "Première version"}, {"file": (PDF + b"v1", "v1.pdf")}
        ),
        201,
    )
    assert negotiation["turn"] == "partner" and [v["number"] for v in negotiation["versions"]] == [1]
    assert ok(partner.get(f"{a}/negotiation"))["can_send_version"] is True
    # The ministry cannot accept its own version without saying the partner did.
    assert_problem(officer.post(f"{a}/negotiation/accept", json={}), 409)
    negotiation = ok(
        multipart(partner, f"{a}/negotiation/versions", {"note": "Nos remarques"}, {"file": (PDF + b"v2", "v2.pdf")}),
        201,
    )
    assert negotiation["turn"] == "ministry" and negotiation["versions"][1]["side"] == "partner"
    assert negotiation["versions"][1]["document"]["sha256"] == hashlib.sha256(PDF + b"v2").hexdigest()
    negotiation = ok(officer.post(f"{a}/negotiation/accept", json={}))
    assert negotiation["is_text_locked"] is True and negotiation["versions"][1]["is_agreed"] is True
    assert ok(move(officer, agreement_id, "open_signature"))["agreement"]["state"] == "signature"
    # Signature: two signatories in order, their dates, the signed copy.
    ok(
        officer.post(f"{a}/signatories", json={"side": "ministry", "name": "Amal Seghrouchni", "title": "Ministre"}),
        201,
    )
    signatures = ok(officer.post(f"{a}/signatories", json={"side": "partner", "name": "Arthur Mensch"}), 201)
    first, second = signatures["signatories"]
    assert signatures["can_manage_signatures"] is True and (first["position"], second["position"]) == (1, 2)
    day = clock.today() - timedelta(days=2)
    ok(officer.post(f"{a}/signatories/{first['id']}/signature", json={"signed_on": day.isoformat()}))
    signatures = ok(
        officer.post(
            f"{a}/signatories/{second['id']}/signature", json={"signed_on": (day + timedelta(days=1)).isoformat()}
        )
    )
    assert all(s["signed_on"] for s in signatures["signatories"])
    copy = ok(multipart(officer, f"{a}/signed-copy", {}, {"file": (PDF + b"signed", "signé.pdf")}), 201)
    assert copy["kind"] == "signed_copy" and copy["sha256"] == hashlib.sha256(PDF + b"signed").hexdigest()
    assert (
        ok(move(officer, agreement_id, "record_signed"))["agreement"]["signed_on"]
        == (day + timedelta(days=1)).isoformat()
    )
    # Active from a date the caller gives, then its plan gets one more line.
    activated = ok(
        move(
            officer,
            agreement_id,
            "activate",
            fields={
                "effective_on": clock.today().isoformat(),
                "expires_on": (clock.today() + timedelta(days=730)).isoformat(),
            },
        )
    )
    assert activated["agreement"]["state"] == "active"
    return activated["agreement"]


def test_an_mou_goes_from_draft_to_active_through_the_api_alone(api, world):
    agreement_id = create_mou(api, world)
    take_to_active(api, world, agreement_id)
    officer, partner, manager = api("officer"), api("partner"), api("manager")
    a = f"{P}/agreements/{agreement_id}"
    assert refreshed(Agreement, agreement_id).state == "active"
    # The workflow's default plan, then a line the officer adds and edits.
    plan = ok(officer.get(f"{a}/deliverables"))
    assert len(plan) == 2 and all(line["occurrences"] for line in plan)
    line = ok(
        officer.post(
            f"{a}/deliverables",
            json={
                "title_fr": "Rapport de lancement",
                "responsible_organization_id": world.partner_a.id,
                "first_due_on": (clock.today() + timedelta(days=20)).isoformat(),
            },
        ),
        201,
    )
    assert line["recurrence"] == "once" and len(line["occurrences"]) == 1
    edited = ok(
        officer.patch(
            f"{a}/deliverables/{line['id']}",
            json={"first_due_on": (clock.today() + timedelta(days=40)).isoformat(), "title_en": "Launch report"},
        )
    )
    assert edited["titles"] == {"ar": None, "fr": "Rapport de lancement", "en": "Launch report"}
    assert edited["occurrences"][0]["due_on"] == (clock.today() + timedelta(days=40)).isoformat()
    # A manager waives it with a reason; the partner sees it waived.
    occurrence_id = edited["occurrences"][0]["id"]
    waived = ok(manager.post(f"{P}/deliverables/{occurrence_id}/waive", json={"reason": "Couvert par le rapport T1"}))
    assert waived["status"] == "waived" and waived["waived_reason"] == "Couvert par le rapport T1"
    assert ok(partner.get(f"{P}/deliverables/{occurrence_id}"))["status"] == "waived"
    # Every file the API took is listed and downloads to the same bytes.
    documents = ok(partner.get(f"{a}/documents"))
    assert [d["kind"] for d in documents] == ["text_version", "text_version", "signed_copy"]
    assert partner.get(documents[-1]["download_url"]).data == PDF + b"signed"
    # The partner never read the ministry's review (names and comments), at either door.
    assert ok(partner.get(f"{a}/approvals")) == []
    rounds = ok(officer.get(f"{a}/approvals"))
    assert any(d["comment"] == "Revoir la clause de confidentialité plus tard" for r in rounds for d in r["decisions"])


def test_an_agreement_is_terminated_through_the_api_alone(api, world):
    agreement_id = create_mou(api, world)
    take_to_active(api, world, agreement_id)
    manager = api("manager")
    url = f"{P}/agreements/{agreement_id}/transitions/terminate"
    # As on the page, the move is offered and the notice goes with it.
    option = {o["name"]: o for o in ok(manager.get(f"{P}/agreements/{agreement_id}/transitions"))}["terminate"]
    assert option["allowed"] is True and option["documents"] == ["termination_notice"]
    # Without the notice, or without a reason, nothing changes.
    problem = assert_problem(multipart(manager, url, {"comment": "Manquement grave"}, {}), 422)
    assert "Termination notice" in problem["detail"]
    assert_problem(multipart(manager, url, {}, {"termination_notice": (PDF + b"n", "préavis.pdf")}), 422)
    assert_problem(
        multipart(api("officer"), url, {"comment": "x"}, {"termination_notice": (PDF + b"n", "préavis.pdf")}), 403
    )
    assert refreshed(Agreement, agreement_id).state == "active"
    assert (
        not db.session.query(AgreementDocument).filter_by(agreement_id=agreement_id, kind="termination_notice").count()
    )
    version = refreshed(Agreement, agreement_id).version
    body = ok(
        multipart(
            manager,
            url,
            {"comment": "Manquement grave", "version": version},
            {"termination_notice": (PDF + b"notice", "préavis.pdf")},
        )
    )
    assert body["agreement"]["state"] == "terminated"
    notice = [
        d
        for d in ok(api("partner").get(f"{P}/agreements/{agreement_id}/documents"))
        if d["kind"] == "termination_notice"
    ]
    assert len(notice) == 1 and notice[0]["name"] == "préavis.pdf"
    assert api("partner").get(notice[0]["download_url"]).data == PDF + b"notice"


def test_a_parent_with_children_is_terminated_through_the_api_alone(api, world):
    """Terminate asks what becomes of each child: as multipart (the notice is a file), the choices travel
    in `children`, a JSON object; without them the move is refused naming the child, and nothing moves."""
    agreement_id = create_mou(api, world)
    take_to_active(api, world, agreement_id)
    parent = refreshed(Agreement, agreement_id)
    child = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], type="convention", parent_id=agreement_id
    )
    child.state, child.signed_on, child.effective_on = "active", parent.signed_on, parent.effective_on
    db.session.commit()
    child_id, manager = child.id, api("manager")
    url = f"{P}/agreements/{agreement_id}/transitions/terminate"
    notice = {"termination_notice": (PDF + b"notice", "préavis.pdf")}
    unsaid = assert_problem(multipart(manager, url, {"comment": "Fin"}, dict(notice)), 422)
    assert f"child_{child_id}" in unsaid["errors"]
    bad = assert_problem(multipart(manager, url, {"comment": "Fin", "children": "{11: keep"}, dict(notice)), 422)
    assert "children" in bad["errors"]
    world.users["manager"].language = "fr"  # said in the caller's language, as the rest
    db.session.commit()
    bad = assert_problem(multipart(manager, url, {"comment": "Fin", "children": "[]"}, dict(notice)), 422)
    assert bad["errors"]["children"] == [
        'Donnez un objet JSON associant à chaque identifiant d’accord enfant une action, par exemple {"11": "keep"}.'
    ]
    world.users["manager"].language = "en"
    db.session.commit()
    # Nested past the JSON decoder's depth (RecursionError, not ValueError): refused the same way, not a 500.
    deep = assert_problem(multipart(manager, url, {"comment": "Fin", "children": "[" * 100_000}, dict(notice)), 422)
    assert "children" in deep["errors"]
    assert refreshed(Agreement, agreement_id).state == "active"
    body = ok(
        multipart(manager, url, {"comment": "Fin", "children": json.dumps({str(child_id): "keep"})}, dict(notice))
    )
    assert body["agreement"]["state"] == "terminated" and refreshed(Agreement, child_id).state == "active"


def test_stage_work_is_refused_as_the_pages_refuse_it(api, world, ids):
    a, b, draft = ids["a"], ids["b"], ids["draft"]
    # Another organisation's agreement does not exist for a partner.
    assert_problem(api("partner").get(f"{P}/agreements/{b}/negotiation"), 404)
    assert_problem(api("partner").get(f"{P}/agreements/{b}/signatories"), 404)
    assert_problem(api("partner").get(f"{P}/agreements/{b}/deliverables"), 404)
    assert_problem(
        multipart(api("partner"), f"{P}/agreements/{b}/negotiation/versions", {}, {"file": (PDF, "x.pdf")}), 404
    )
    # Not in negotiation: no version can be sent (409); the auditor may not act at all (403).
    assert_problem(
        multipart(api("officer"), f"{P}/agreements/{draft}/negotiation/versions", {}, {"file": (PDF, "x.pdf")}), 409
    )
    assert_problem(
        multipart(api("auditor"), f"{P}/agreements/{draft}/negotiation/versions", {}, {"file": (PDF, "x.pdf")}), 403
    )
    # Signatories: the ministry side only, and only during the signature stage.
    assert_problem(api("partner").post(f"{P}/agreements/{a}/signatories", json={"side": "partner", "name": "X"}), 403)
    assert_problem(api("officer").post(f"{P}/agreements/{a}/signatories", json={"side": "partner", "name": "X"}), 409)
    assert (
        "side"
        in assert_problem(
            api("officer").post(f"{P}/agreements/{a}/signatories", json={"side": "both", "name": "X"}), 422
        )["errors"]
    )
    # Plans: editors of the agreement; waivers: managers.
    line = {"title_fr": "X", "responsible_organization_id": ids["org_a"], "first_due_on": "2030-01-01"}
    assert_problem(api("partner").post(f"{P}/agreements/{a}/deliverables", json=line), 403)
    assert_problem(api("other_officer").post(f"{P}/agreements/{a}/deliverables", json=line), 403)
    assert (
        "responsible_organization_id"
        in assert_problem(
            api("officer").post(
                f"{P}/agreements/{a}/deliverables", json={**line, "responsible_organization_id": ids["org_b"]}
            ),
            422,
        )["errors"]
    )
    assert_problem(api("officer").post(f"{P}/deliverables/{ids['occ_a']}/waive", json={"reason": "x"}), 403)
    assert_problem(api("partner_b").post(f"{P}/deliverables/{ids['occ_a']}/waive", json={"reason": "x"}), 404)


def test_delegations_through_the_api(api, world):
    legal, manager = api("legal"), api("manager")
    today = clock.today()
    given = ok(
        legal.post(
            f"{P}/delegations",
            json={
                "delegate_id": world.users["manager"].id,
                "starts_on": today.isoformat(),
                "ends_on": (today + timedelta(days=5)).isoformat(),
            },
        ),
        201,
    )
    assert given["delegate"]["id"] == world.users["manager"].id and given["revoked_at"] is None
    assert [d["id"] for d in ok(manager.get(f"{P}/delegations"))["received"]] == [given["id"]]
    # Never to a partner or to oneself, never backwards.
    for body, field in [
        ({"delegate_id": world.users["partner"].id}, "delegate_id"),
        ({"delegate_id": world.users["legal"].id}, "delegate_id"),
        ({"delegate_id": world.users["manager"].id, "ends_on": "2000-01-01"}, "ends_on"),
    ]:
        full = {"starts_on": today.isoformat(), "ends_on": today.isoformat(), **body}
        assert field in assert_problem(legal.post(f"{P}/delegations", json=full), 422)["errors"]
    # Only its own delegator revokes it; partners and auditors have none.
    assert_problem(manager.post(f"{P}/delegations/{given['id']}/revoke"), 404)
    assert ok(legal.post(f"{P}/delegations/{given['id']}/revoke"))["revoked_at"]
    assert_problem(api("partner").get(f"{P}/delegations"), 403)
    assert_problem(
        api("auditor").post(
            f"{P}/delegations",
            json={
                "delegate_id": world.users["manager"].id,
                "starts_on": today.isoformat(),
                "ends_on": today.isoformat(),
            },
        ),
        403,
    )


def test_a_delegation_is_given_once_and_for_at_most_a_year(api, world):
    """The same hand-over twice over the same days listed the colleague twice and outlived the first's
    revocation; one running to 2199 kept a colleague approving in someone's name for good."""
    legal, today = api("legal"), clock.today()

    def given(first: date, last: date):
        body = {"delegate_id": world.users["manager"].id, "starts_on": first.isoformat(), "ends_on": last.isoformat()}
        return legal.post(f"{P}/delegations", json=body)

    first = ok(given(today, today + timedelta(days=10)), 201)
    overlapping = assert_problem(given(today + timedelta(days=10), today + timedelta(days=20)), 422)
    assert "already holds these approvals" in overlapping["errors"]["starts_on"][0]
    # The days after it are free, and the same days again once it is revoked.
    ok(given(today + timedelta(days=11), today + timedelta(days=20)), 201)
    ok(legal.post(f"{P}/delegations/{first['id']}/revoke"))
    ok(given(today, today + timedelta(days=5)), 201)
    # A year at most (a leap year's 366 days included).
    assert "ends_on" in assert_problem(given(today, today + timedelta(days=366)), 422)["errors"]
    assert "ends_on" in assert_problem(given(today, date(2199, 12, 31)), 422)["errors"]
    ok(given(today + timedelta(days=30), today + timedelta(days=30 + 365)), 201)


def test_an_agreement_signed_before_sharaka_is_recorded_without_review_or_negotiation(api, world):
    """The July 2025 ceremony's agreements were signed before Sharaka: a manager takes one from its draft straight
    to the signature stage, saying why (an officer may not, nor anyone without a reason); its signatories are
    recorded with their 2025 dates and its signed copy, then it is marked signed and activated as of then."""
    from app.core.audit import AuditEvent

    agreement_id = create_mou(api, world)
    officer, manager, partner = api("officer"), api("manager"), api("partner")
    a = f"{P}/agreements/{agreement_id}"
    assert_problem(move(officer, agreement_id, "record_signed_elsewhere", comment="Signé en juillet 2025"), 403)
    assert_problem(move(manager, agreement_id, "record_signed_elsewhere"), 422)
    assert refreshed(Agreement, agreement_id).state == "draft"
    why = "Signé le 15 juillet 2025, avant Sharaka"
    moved = ok(move(manager, agreement_id, "record_signed_elsewhere", comment=why))
    assert moved["agreement"]["state"] == "signature"
    assert ok(partner.get(a))["state"] == "signature"  # past the ministry's own stages: shown to its partner
    # It had no negotiation here to go back to (back to draft stays open, to correct a mistake).
    options = {o["name"]: o for o in ok(manager.get(f"{a}/transitions"))}
    assert not options["back_to_negotiation"]["allowed"] and options["back_to_draft"]["allowed"]
    assert "not negotiated in Sharaka" in options["back_to_negotiation"]["reasons"][0]
    assert_problem(move(manager, agreement_id, "back_to_negotiation", comment="Une clause"), 422)
    ok(officer.post(f"{a}/signatories", json={"side": "ministry", "name": "Amal El Fallah Seghrouchni"}), 201)
    signatures = ok(officer.post(f"{a}/signatories", json={"side": "partner", "name": "Signataire A"}), 201)
    for signatory in signatures["signatories"]:
        ok(officer.post(f"{a}/signatories/{signatory['id']}/signature", json={"signed_on": "2025-07-15"}))
    ok(multipart(officer, f"{a}/signed-copy", {}, {"file": (PDF + b"juillet", "signé.pdf")}), 201)
    assert ok(move(officer, agreement_id, "record_signed"))["agreement"]["signed_on"] == "2025-07-15"
    fields = {"effective_on": "2025-07-15", "expires_on": "2028-07-15"}
    assert ok(move(officer, agreement_id, "activate", fields=fields))["agreement"]["state"] == "active"
    trail = db.select(AuditEvent.comment).where(
        AuditEvent.object_id == agreement_id, AuditEvent.object_type == "agreements"
    )
    assert why in db.session.scalars(trail).all()


def test_a_line_planned_on_the_draft_before_its_signature_keeps_it_from_being_marked_signed(api, world):
    """A one-off due 1 January 2020 was planned on a draft (no date yet to compare it with), the agreement then
    recorded as signed outside Sharaka weeks ago and activated: the line was born years overdue, and reminded,
    while the same date planned after the signature is refused. The move into "signed" is refused now,
    naming the line and what to change, in the list of moves as in the move itself; moved, the line lets it on."""
    agreement_id = create_mou(api, world)
    officer, manager = api("officer"), api("manager")
    a = f"{P}/agreements/{agreement_id}"
    signed_on = (clock.today() - timedelta(days=17)).isoformat()
    line = {"title_fr": "Rapport de lancement", "responsible_organization_id": world.partner_a.id}
    planned = ok(officer.post(f"{a}/deliverables", json={**line, "first_due_on": "2020-01-01"}), 201)
    ok(move(manager, agreement_id, "record_signed_elsewhere", comment="Signé en novembre, avant Sharaka"))
    ok(officer.post(f"{a}/signatories", json={"side": "ministry", "name": "Amal El Fallah Seghrouchni"}), 201)
    signatures = ok(officer.post(f"{a}/signatories", json={"side": "partner", "name": "Signataire A"}), 201)
    for signatory in signatures["signatories"]:
        ok(officer.post(f"{a}/signatories/{signatory['id']}/signature", json={"signed_on": signed_on}))
    ok(multipart(officer, f"{a}/signed-copy", {}, {"file": (PDF + b"novembre", "signé.pdf")}), 201)
    options = {o["name"]: o for o in ok(officer.get(f"{a}/transitions"))}
    assert not options["record_signed"]["allowed"]
    said = " ".join(options["record_signed"]["reasons"])
    assert "Rapport de lancement" in said and "January 1, 2020" in said and "first due date" in said
    assert "Rapport de lancement" in assert_problem(move(officer, agreement_id, "record_signed"), 422)["detail"]
    assert refreshed(Agreement, agreement_id).state == "signature"
    ok(officer.patch(f"{a}/deliverables/{planned['id']}", json={"first_due_on": signed_on}))
    ok(move(officer, agreement_id, "record_signed"))
    fields = {"effective_on": signed_on, "expires_on": "2029-11-20"}
    assert ok(move(officer, agreement_id, "activate", fields=fields))["agreement"]["state"] == "active"
    assert [o["due_on"] for o in ok(officer.get(f"{a}/deliverables"))[0]["occurrences"]] == [signed_on]


def test_a_plan_line_is_removed_through_the_api_until_something_is_handed_in(api, world, ids):
    """DELETE …/deliverables/{id}, as the page's "Remove": for those who plan, refused once handed in."""
    from app.deliverables.models import Occurrence

    officer, a = api("officer"), f"{P}/agreements/{ids['draft']}"
    line = {"title_fr": "Saisi par erreur", "responsible_organization_id": world.partner_a.id}
    planned = ok(officer.post(f"{a}/deliverables", json={**line, "first_due_on": "2030-01-01"}), 201)

    def remove(client, agreement_id, line_id):
        return client.open(f"{P}/agreements/{agreement_id}/deliverables/{line_id}", "DELETE")

    assert_problem(remove(api("auditor"), ids["draft"], planned["id"]), 403)
    assert_problem(remove(api("partner"), ids["draft"], planned["id"]), 403)
    assert_problem(remove(officer, ids["a"], planned["id"]), 404)  # not a line of that agreement
    assert remove(officer, ids["draft"], planned["id"]).status_code == 204
    assert ok(officer.get(f"{a}/deliverables")) == []
    assert_problem(remove(officer, ids["draft"], planned["id"]), 404)
    handed_in = refreshed(Occurrence, ids["done_a"]).deliverable_id
    assert "handed in" in assert_problem(remove(officer, ids["a"], handed_in), 409)["detail"]
