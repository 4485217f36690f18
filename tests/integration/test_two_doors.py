"""Two doors, one truth: what a person reads of an agreement through the pages equals what
their API token reads of it, for every role — the agreement's owner, a manager, the legal
approver, an admin, an auditor, a partner of the agreement's organisation and a partner of
another one.

Every piece of an agreement's life carries a marker (notes, summary, approval comments,
approver, negotiation notes and files, signatories, signed copy, deliverable, hand-in note,
feedback, the reason of a move, comments of the shared and internal threads of the agreement
and of a deliverable, a budget line, an indicator, an amendment's proposed terms, delegations).
For each role the test reads every page of the agreement (its page, its printable summary, its
version comparison, each deliverable's page) and every API answer about it (the agreement,
approvals, history, documents, negotiation, signatories, plan, deliverables, moves, threads,
budget, indicators and their values, the amendment), and checks that each marker is visible at
both doors or at neither; that the items counted at each door (approval rounds, thread
messages, hand-ins, indicators, amendment terms) are the same; that the lists (agreements,
deliverables, delegations) hold the same ids; and that a door closed at one side (403/404) is
closed at the other. Internal approval rounds, internal threads and the ministry's notes are
read by the ministry only (unless the workflow shares a round with the partner).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from app.agreements.models import Agreement
from app.core import clock
from app.extensions import db
from app.workflow import engine
from app.workflow.definitions import parse_definition
from tests.integration.test_api import P, api, ids, tokens  # noqa: F401 (fixtures)
from tests.integration.test_api_lifecycle import multipart, ok

ROLES = ["officer", "manager", "legal", "admin", "auditor", "partner", "partner_b"]
MARKERS = {
    "notes": "MARKnotes",
    "summary": "MARKsummary",
    "reason": "MARKreason",
    "reject": "MARKreject",
    "approve": "MARKapprovalcomment",
    "open_approval": "MARKopenapproval",
    "version_note": "MARKversionnote",
    "version_file": "MARKversionfile",
    "signatory": "MARKsignatory",
    "signed_copy": "MARKsignedcopy",
    "deliverable": "MARKdeliverable",
    "hand_in": "MARKhandin",
    "feedback": "MARKfeedback",
    "approver": "MARKapprover",
    "shared_comment": "MARKsharedcomment",
    "internal_comment": "MARKinternalcomment",
    "deliverable_shared_comment": "MARKdelivshared",
    "deliverable_internal_comment": "MARKdelivinternal",
    "budget": "MARKbudget",
    "indicator": "MARKindicator",
    "amendment": "MARKamendment",
}


def build(api, world) -> dict:
    """An MoU taken to active through the API (with a send-back on its way), with a plan, a
    hand-in sent back; and a second one waiting in internal review with one approval given."""
    officer, legal, partner = api("officer"), api("legal"), api("partner")
    world.users["legal"].full_name = "Legal " + MARKERS["approver"]
    db.session.commit()

    def new(title: str) -> int:
        return ok(
            officer.post(
                f"{P}/agreements",
                json={
                    "type": "mou",
                    "title_fr": title,
                    "summary_fr": MARKERS["summary"],
                    "notes": MARKERS["notes"],
                    "parties": [{"organization_id": world.partner_a.id}],
                },
            ),
            201,
        )["id"]

    def move(client, agreement_id, name, **body):
        return ok(client.post(f"{P}/agreements/{agreement_id}/transitions", json={"transition": name, **body}))

    active = new("Accord complet")
    move(officer, active, "submit_for_review", comment=MARKERS["reason"])
    move(legal, active, "approve_review", decision="reject", comment=MARKERS["reject"])
    take_to_active_with_markers(api, world, active, move)
    line = ok(
        officer.post(
            f"{P}/agreements/{active}/deliverables",
            json={
                "title_fr": MARKERS["deliverable"],
                "responsible_organization_id": world.partner_a.id,
                "first_due_on": (clock.today() + timedelta(days=10)).isoformat(),
            },
        ),
        201,
    )
    occurrence = line["occurrences"][0]["id"]
    ok(
        multipart(
            partner,
            f"{P}/deliverables/{occurrence}/submissions",
            {"note": MARKERS["hand_in"]},
            {"files": (b"%PDF-1.4\n%%EOF\n", "rapport.pdf")},
        ),
        201,
    )
    ok(
        officer.post(
            f"{P}/deliverables/{occurrence}/review", json={"decision": "send_back", "comment": MARKERS["feedback"]}
        )
    )
    ok(
        officer.post(
            f"{P}/agreements/{active}/deliverables/{line['id']}/indicators",
            json={"names": {"fr": MARKERS["indicator"]}, "target": "10", "target_scope": "term"},
        ),
        201,
    )
    for audience, marker in (("shared", "shared_comment"), ("internal", "internal_comment")):
        ok(
            multipart(officer, f"{P}/agreements/{active}/threads/{audience}/messages", {"body": MARKERS[marker]}, {}),
            201,
        )
        ok(
            multipart(
                officer,
                f"{P}/deliverables/{occurrence}/threads/{audience}/messages",
                {"body": MARKERS["deliverable_" + marker]},
                {},
            ),
            201,
        )
    amendment = ok(
        officer.post(
            f"{P}/agreements",
            json={
                "type": "amendment",
                "parent_id": active,
                "title_fr": "Avenant n° 1",
                "parties": [{"organization_id": world.partner_a.id}],
            },
        ),
        201,
    )
    ok(
        officer.open(
            f"{P}/agreements/{amendment['id']}/amendment",
            "PUT",
            json={"changes": {"summary_fr": MARKERS["amendment"]}, "version": amendment["version"]},
        )
    )
    waiting = new("Accord en revue")
    ok(
        officer.post(
            f"{P}/agreements/{waiting}/budget-lines",
            json={"organization_id": world.partner_a.id, "label": MARKERS["budget"], "amount": "1000.00"},
        ),
        201,
    )
    move(officer, waiting, "submit_for_review")
    move(legal, waiting, "approve_review", comment=MARKERS["open_approval"])
    ok(
        legal.post(
            f"{P}/delegations",
            json={
                "delegate_id": world.users["manager"].id,
                "starts_on": clock.today().isoformat(),
                "ends_on": (clock.today() + timedelta(days=3)).isoformat(),
            },
        ),
        201,
    )
    return {"active": active, "waiting": waiting, "amendment": amendment["id"]}


def take_to_active_with_markers(api, world, agreement_id, move):
    """take_to_active, with a marked approval, version note and file, signatory and signed copy."""
    officer, legal, manager = api("officer"), api("legal"), api("manager")
    a = f"{P}/agreements/{agreement_id}"
    move(officer, agreement_id, "submit_for_review")
    move(legal, agreement_id, "approve_review", comment=MARKERS["approve"])
    move(manager, agreement_id, "approve_review")
    ok(
        multipart(
            officer,
            f"{a}/negotiation/versions",
            {"note": MARKERS["version_note"]},
            {"file": (b"%PDF-1.4\nv1\n%%EOF\n", MARKERS["version_file"] + ".pdf")},
        ),
        201,
    )
    # The partner accepted by e-mail: the ministry records it, with the e-mail as proof (#12).
    ok(
        multipart(
            officer,
            f"{a}/negotiation/acceptances",
            {"organization_id": str(world.partner_a.id)},
            {"proof": (b"%PDF-1.4\naccord\n%%EOF\n", "accord-du-partenaire.pdf")},
        ),
        201,
    )
    move(officer, agreement_id, "open_signature")
    ok(officer.post(f"{a}/signatories", json={"side": "ministry", "name": "Ministre"}), 201)
    signatories = ok(officer.post(f"{a}/signatories", json={"side": "partner", "name": MARKERS["signatory"]}), 201)[
        "signatories"
    ]
    for signatory in signatories:
        ok(
            officer.post(
                f"{a}/signatories/{signatory['id']}/signature",
                json={"signed_on": (clock.today() - timedelta(days=1)).isoformat()},
            )
        )
    ok(
        multipart(
            officer, f"{a}/signed-copy", {}, {"file": (b"%PDF-1.4\nsigned\n%%EOF\n", MARKERS["signed_copy"] + ".pdf")}
        ),
        201,
    )
    move(officer, agreement_id, "record_signed")
    move(
        officer,
        agreement_id,
        "activate",
        fields={
            "effective_on": clock.today().isoformat(),
            "expires_on": (clock.today() + timedelta(days=400)).isoformat(),
        },
    )


# --- reading both doors ----------------------------------------------------------------------------

MENTION_HELP = re.compile(r'<div class="form-text" id="mention-help-.*?</div>', re.S)


def page_door(client, agreement_id: int, occurrence_ids: set[int]) -> tuple[str, dict[str, int], dict[str, set]]:
    """Every page about the agreement, as one text, each page's status, and what the pages count."""
    texts, statuses = [], {}
    urls = {"agreement": f"/agreements/{agreement_id}", "summary": f"/agreements/{agreement_id}/summary"}
    urls.update({f"deliverable {o}": f"/deliverables/{o}" for o in sorted(occurrence_ids)})
    extra = [f"/agreements/{agreement_id}/compare"]
    for name, url in [*urls.items(), *((url, url) for url in extra)]:
        response = client.get(url)
        if name in urls:
            statuses[name] = response.status_code
        if response.status_code == 200:
            # The writing aid under a message box lists whom the writer may @mention: a form's help,
            # not the agreement's data (the API checks a mention when the message is sent).
            texts.append(MENTION_HELP.sub("", response.get_data(as_text=True)))
    text = "\n".join(texts)
    summary = client.get(f"/agreements/{agreement_id}/summary")
    summary_text = summary.get_data(as_text=True) if summary.status_code == 200 else ""
    counts = {
        "approval rounds": len(re.findall(r'class="list-group-item py-3 summary-round"', summary_text)),
        "messages": {
            int(m) for m in re.findall(r'class="border-bottom py-2 discussion-message" id="message-(\d+)"', text)
        },
        "hand-ins": {int(m) for m in re.findall(r'data-submission="(\d+)"', text)},
        "indicators": {int(m) for m in re.findall(r'data-indicator="(\d+)"', text)},
        "amendment terms": set(re.findall(r'data-term="([a-z_]+)"', text)),
    }
    return text, statuses, counts


def api_door(client, agreement_id: int, occurrence_ids: set[int]) -> tuple[str, dict[str, int], dict[str, set]]:
    """Every API answer about the agreement, as one text, each answer's status, and what they count."""
    texts, statuses, bodies = [], {}, {}
    a = f"{P}/agreements/{agreement_id}"
    urls = {"agreement": a, "summary": f"{a}/approvals"}
    urls.update({f"deliverable {o}": f"{P}/deliverables/{o}" for o in sorted(occurrence_ids)})
    extra = [
        f"{a}/history",
        f"{a}/documents",
        f"{a}/negotiation",
        f"{a}/signatories",
        f"{a}/deliverables",
        f"{a}/transitions",
        f"{a}/threads/shared/messages",
        f"{a}/threads/internal/messages",
        f"{a}/budget-lines",
        f"{a}/indicators",
        f"{a}/amendment",
    ]
    for o in sorted(occurrence_ids):
        extra += [
            f"{P}/deliverables/{o}/threads/shared/messages",
            f"{P}/deliverables/{o}/threads/internal/messages",
            f"{P}/deliverables/{o}/indicator-values",
        ]
    for name, url in [*urls.items(), *((url, url) for url in extra)]:
        response = client.get(url)
        if name in urls:
            statuses[name] = response.status_code
        if response.status_code == 200:
            bodies[url] = response.get_json()
            texts.append(json.dumps(bodies[url], ensure_ascii=False))
    threads = [body for url, body in bodies.items() if "/threads/" in url]
    counts = {
        "approval rounds": len(bodies.get(f"{a}/approvals", [])),
        "messages": {m["id"] for body in threads for m in body["items"]},
        "hand-ins": {
            s["number"] for o in occurrence_ids for s in bodies.get(f"{P}/deliverables/{o}", {}).get("submissions", [])
        },
        "indicators": {i["id"] for i in bodies.get(f"{a}/indicators", [])}
        | {
            v["indicator_id"]
            for o in occurrence_ids
            for submission in bodies.get(f"{P}/deliverables/{o}/indicator-values", [])
            for v in submission["values"]
        },
        "amendment terms": {t["term"] for t in bodies.get(f"{a}/amendment", {}).get("terms", [])},
    }
    return "\n".join(texts), statuses, counts


def visible(text: str, role: str) -> set[str]:
    markers = {key for key, marker in MARKERS.items() if marker in text}
    if role == "legal":
        markers.discard("approver")  # the signed-in person's own name heads every page
    return markers


def closed(status: int) -> str:
    return "open" if status == 200 else "closed"


@pytest.fixture
def scenario(api, world, ids):
    built = build(api, world)
    plan = ok(api("officer").get(f"{P}/agreements/{built['active']}/deliverables"))
    built["occurrences"] = {o["id"] for line in plan for o in line["occurrences"]}
    return built


AGREEMENTS = ("active", "waiting", "amendment")


@pytest.mark.parametrize("role", ROLES)
def test_pages_and_api_show_the_same_of_each_agreement(api, signed_in, world, scenario, role):
    page, token = signed_in(role), api(role)
    differences = []
    for name in AGREEMENTS:
        agreement_id = scenario[name]
        occurrences = scenario["occurrences"] if name == "active" else set()
        page_text, page_statuses, page_counts = page_door(page, agreement_id, occurrences)
        api_text, api_statuses, api_counts = api_door(token, agreement_id, occurrences)
        for what in page_statuses:
            if closed(page_statuses[what]) != closed(api_statuses[what]):
                differences.append(f"{name} {what}: page {page_statuses[what]}, API {api_statuses[what]}")
        on_page, in_api = visible(page_text, role), visible(api_text, role)
        if on_page != in_api:
            differences.append(
                f"{name}: only on the pages {sorted(on_page - in_api)}, only in the API {sorted(in_api - on_page)}"
            )
        for what in page_counts:
            if page_counts[what] != api_counts[what]:
                differences.append(f"{name} {what}: pages {page_counts[what]}, API {api_counts[what]}")
    assert not differences, "\n".join(differences)


def test_the_counted_items_are_there_to_compare(api, signed_in, scenario):
    """The counts above must not agree by being empty: the owner finds every kind at both doors."""
    for door, client in ((page_door, signed_in("officer")), (api_door, api("officer"))):
        active = door(client, scenario["active"], scenario["occurrences"])[2]
        amendment = door(client, scenario["amendment"], set())[2]
        assert active["approval rounds"] == 2 and len(active["messages"]) == 4, door.__name__
        assert active["hand-ins"] and active["indicators"], door.__name__
        assert amendment["amendment terms"] == {"summary_fr"}, door.__name__


def expected_markers(role: str) -> set[str]:
    """What each role reads (at both doors): the test must not pass by showing nothing anywhere."""
    if role == "partner_b":
        return set()
    shared = {
        "summary",
        "version_note",
        "version_file",
        "signatory",
        "signed_copy",
        "deliverable",
        "hand_in",
        "feedback",
        "shared_comment",
        "deliverable_shared_comment",
        "budget",
        "indicator",
        "amendment",
    }
    if role == "partner":
        # Not the amendment's proposed terms nor the budget of the agreement in review: both are still in the
        # ministry's own stages (its draft, its internal review), not shown to the partners yet.
        return shared - {"amendment", "budget"}
    internal = {
        "notes",
        "reason",
        "reject",
        "approve",
        "open_approval",
        "approver",
        "internal_comment",
        "deliverable_internal_comment",
    }
    return shared | internal - ({"approver"} if role == "legal" else set())


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_what_it_should(api, signed_in, scenario, role):
    for door, client in ((api_door, api(role)), (page_door, signed_in(role))):
        texts = []
        for name in AGREEMENTS:
            occurrences = scenario["occurrences"] if name == "active" else set()
            texts.append(door(client, scenario[name], occurrences)[0])
        assert visible("\n".join(texts), role) == expected_markers(role), door.__name__


def listed_on_page(client, url: str, pattern: str) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200
    return {int(found) for found in re.findall(pattern, response.get_data(as_text=True))}


def listed_in_api(client, url: str) -> set[int]:
    body = ok(client.get(url))
    assert body["total"] == len(body["items"])
    return {item["id"] for item in body["items"]}


@pytest.mark.parametrize("role", ROLES)
def test_lists_hold_the_same_items_at_both_doors(api, signed_in, scenario, role):
    page, token = signed_in(role), api(role)
    agreements_page = listed_on_page(page, "/agreements/", r'class="reference fw-semibold" href="/agreements/(\d+)"')
    assert agreements_page == listed_in_api(token, f"{P}/agreements?per_page=100")
    assert (scenario["active"] in agreements_page) is (role != "partner_b")
    deliverables_page = listed_on_page(page, "/deliverables/", r'data-occurrence="(\d+)"')
    assert deliverables_page == listed_in_api(token, f"{P}/deliverables?per_page=100")
    assert scenario["occurrences"] & deliverables_page or role == "partner_b"
    assert listed_on_page(page, "/events/", r'class="fw-semibold" href="/events/(\d+)"') == listed_in_api(
        token, f"{P}/signing-events?per_page=100"
    )
    assert listed_on_page(page, "/organizations/", r'class="fw-semibold" href="/organizations/(\d+)"') == listed_in_api(
        token, f"{P}/organizations?per_page=100"
    )


@pytest.mark.parametrize("role", ROLES)
def test_delegations_are_the_same_at_both_doors(api, signed_in, world, scenario, role):
    page = signed_in(role).get("/account/delegations")
    answer = api(role).get(f"{P}/delegations")
    assert closed(page.status_code) == closed(answer.status_code)
    if answer.status_code != 200:
        return
    body = answer.get_json()
    shown = {int(found) for found in re.findall(r'data-delegation="(\d+)"', page.get_data(as_text=True))}
    assert shown == {d["id"] for d in body["given"] + body["received"]}
    assert shown or role not in ("legal", "manager")  # the scenario's delegation, at both doors


def test_a_round_the_workflow_shares_is_read_by_the_partner_at_both_doors(app, api, signed_in, world, monkeypatch):
    """`shared_with_partner: true` on an approval opens its rounds to the agreement's partners, at both doors."""
    definitions = dict(app.extensions["sharaka.workflows"])
    body = json.loads(json.dumps(definitions["mou"].body))
    next(t for t in body["transitions"] if t["name"] == "approve_review")["approval"]["shared_with_partner"] = True
    for state in body["states"].values():  # a review shared with the partners is no longer the ministry's own
        state["tags"] = [tag for tag in state.get("tags", []) if tag != "internal"]
    definitions["mou"] = parse_definition(body, "mou.yaml (shared review)")
    monkeypatch.setitem(app.extensions, "sharaka.workflows", definitions)
    officer, legal = api("officer"), api("legal")
    agreement_id = ok(
        officer.post(
            f"{P}/agreements",
            json={"type": "mou", "title_fr": "Revue partagée", "parties": [{"organization_id": world.partner_a.id}]},
        ),
        201,
    )["id"]
    ok(officer.post(f"{P}/agreements/{agreement_id}/transitions", json={"transition": "submit_for_review"}))
    ok(
        legal.post(
            f"{P}/agreements/{agreement_id}/transitions",
            json={"transition": "approve_review", "comment": MARKERS["open_approval"]},
        )
    )
    shared = engine.definition_for(db.session.get(Agreement, agreement_id)).transition("approve_review")
    assert shared.approval.shared_with_partner
    for marker in ("open_approval", "reject"):
        if marker == "reject":  # a round closed by a send-back stays shared
            ok(
                api("manager").post(
                    f"{P}/agreements/{agreement_id}/transitions",
                    json={"transition": "approve_review", "decision": "reject", "comment": MARKERS["reject"]},
                )
            )
        for role, sees in (("partner", True), ("partner_b", False), ("manager", True)):
            page_text = page_door(signed_in(role), agreement_id, set())[0]
            api_text = api_door(api(role), agreement_id, set())[0]
            assert (MARKERS[marker] in page_text) is sees, (marker, role)
            assert (MARKERS[marker] in api_text) is sees, (marker, role)
