"""A workflow whose every state is renamed and relabelled, with one state more, works on every
page, report, reminder, export and API answer without a code change: Python knows states only
through the definitions' tags, kinds and labels (app/workflow/engine.py).

The definitions are today's workflows/*.yaml with the states renamed, written to a directory of
their own that a second app loads through its WORKFLOWS_DIR setting; the test body sees the same
definitions. One MoU goes from draft to in force and then to a final state through the pages,
another through the API alone."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta, timezone
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from flask import g

from app.agreements.models import Agreement
from app.core import clock
from app.extensions import db
from app.notifications.models import Notification
from app.notifications.reminders import preview, run_pass
from app.workflow import engine
from tests import factories
from tests.conftest import SignedInClient, make_test_app
from tests.integration.test_api import ApiClient, P, tokens  # noqa: F401 (fixture)
from tests.support.pages import partner_turns

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
PDF = b"%PDF-1.4\n%renamed\n%%EOF\n"
# Today's state → its new name and English label; none of them appears in Python.
RENAMED = {
    "draft": ("brouillon", "Rough copy"),
    "internal_review": ("revue", "In-house review"),
    "negotiation": ("pourparlers", "Talks"),
    "signature": ("paraphe", "Initialling"),
    "signed": ("scelle", "Sealed"),
    "active": ("en_vigueur", "Live"),
    "suspended": ("gele", "Frozen"),
    "expired": ("echu", "Lapsed"),
    "terminated": ("resilie", "Rescinded"),
    "closed": ("clos", "Wound up"),
    "cancelled": ("abandonne", "Dropped"),
}
# The state more: between the talks and the signature, a legal check with its own move.
EXTRA = ("verification", "Legal vetting")


def _renamed(name: str) -> str:
    return RENAMED[name][0] if name in RENAMED else name


def renamed_definition(data: dict) -> dict:
    """One workflow file's body with its states renamed and relabelled (and the MoU's extra state)."""
    if "states" in data:
        states = {}
        for name, spec in data["states"].items():
            spec = dict(spec)
            spec["label"] = {**spec["label"], "en": RENAMED[name][1]}
            states[_renamed(name)] = spec
            if name == "negotiation" and data["type"] == "mou":
                states[EXTRA[0]] = {
                    "kind": "working",
                    "sla_days": 5,
                    "label": {"en": EXTRA[1], "fr": "Vérification juridique", "ar": "التدقيق القانوني"},
                }
        data["states"] = states
    for transition in data.get("transitions") or []:
        transition["from"] = [_renamed(s) for s in transition["from"]]
        transition["to"] = _renamed(transition["to"])
        if "approval" in transition:
            transition["approval"]["reject_to"] = _renamed(transition["approval"]["reject_to"])
        if data["type"] == "mou" and transition["name"] == "open_signature":
            transition["to"] = EXTRA[0]
        if data["type"] == "mou" and transition["name"] == "cancel":
            transition["from"].append(EXTRA[0])
    if data["type"] == "mou":
        data["transitions"].append(
            {
                "name": "vet",
                "from": [EXTRA[0]],
                "to": _renamed("signature"),
                "roles": ["owner", "manager"],
                "label": {
                    "en": "Vetted: on to signature",
                    "fr": "Vérifié : vers la signature",
                    "ar": "تم التدقيق: إلى التوقيع",
                },
            }
        )
    return data


@pytest.fixture(scope="session")
def renamed_app(app, database_url, tmp_path_factory):
    """The app as started with WORKFLOWS_DIR pointing at the renamed definitions (same database)."""
    directory = tmp_path_factory.mktemp("renamed_workflows")
    for path in sorted(WORKFLOWS.glob("*.yaml")):
        data = renamed_definition(yaml.safe_load(path.read_text(encoding="utf-8")))
        (directory / path.name).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return make_test_app(database_url, UPLOAD_DIR=app.config["UPLOAD_DIR"], WORKFLOWS_DIR=str(directory))


@pytest.fixture
def renamed(renamed_app, test_body_app, monkeypatch):
    """The test body runs on the renamed definitions too (the world was built on today's)."""
    monkeypatch.setitem(test_body_app.extensions, "sharaka.workflows", renamed_app.extensions["sharaka.workflows"])
    g.pop("sharaka_definitions_in_use", None)
    g.pop("sharaka_workflow_versions", None)
    return renamed_app


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def act(client, agreement, name, **data):
    db.session.refresh(agreement)
    response = client.post(
        f"/agreements/{agreement.id}/actions/{name}",
        data={"version": str(agreement.version), **data},
        csrf_from=f"/agreements/{agreement.id}",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.refresh(agreement)
    return agreement.state


def post(client, agreement, path, data):
    db.session.refresh(agreement)
    response = client.post(
        f"/agreements/{agreement.id}/{path}",
        data={"version": str(agreement.version), **data},
        csrf_from=f"/agreements/{agreement.id}",
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def multipart(client, url, fields: dict, files: dict):
    data = {
        **{k: str(v) for k, v in fields.items()},
        **{name: (BytesIO(body), filename) for name, (body, filename) in files.items()},
    }
    return client.post(url, data=data, content_type="multipart/form-data")


def api_move(client, agreement_id: int, transition: str, **body) -> dict:
    return ok(client.post(f"{P}/agreements/{agreement_id}/transitions", json={"transition": transition, **body}))


@pytest.mark.own_world  # its agreements on the renamed definitions alone: today's names are in use nowhere
def test_a_renamed_workflow_runs_through_the_pages(renamed, world):
    officer, legal, manager, partner = (
        SignedInClient(renamed, world.users[r]) for r in ("officer", "legal", "manager", "partner")
    )
    mou = factories.agreement(
        by=world.users["officer"], partners=[world.partner_a], title_fr="MoU renommé", state="brouillon"
    )  # the factory would say "draft"
    db.session.commit()
    assert mou.state == "brouillon" and engine.state_label(mou) == "Rough copy"
    assert "Rough copy" in page(officer, f"/agreements/{mou.id}")
    # Still editable in its first states (tagged editable), as a draft is.
    assert "Edit" in page(officer, f"/agreements/{mou.id}")

    assert act(officer, mou, "submit_for_review") == "revue"
    assert mou.reference in page(legal, "/inbox")
    act(legal, mou, "approve_review", decision="approve")
    assert act(manager, mou, "approve_review", decision="approve") == "pourparlers"

    # The talks are the negotiation (tagged negotiating): versions, turns, the partner's portal.
    post(officer, mou, "negotiation/versions", {"file": (BytesIO(PDF), "v1.pdf"), "note": "v1"})
    assert f'data-agreement="{mou.reference}"' in partner_turns(partner)
    post(partner, mou, "negotiation/accept", {})
    assert act(officer, mou, "open_signature") == "verification"
    agreement_page = page(officer, f"/agreements/{mou.id}")
    assert "Legal vetting" in agreement_page and "Vetted: on to signature" in agreement_page
    # The board has a column for the new state, the agreement in it.
    board = page(manager, "/portfolio/board")
    assert "Legal vetting" in board and mou.reference in board
    assert act(officer, mou, "vet") == "paraphe"

    # Initialling is the signature (tagged signing): signatories sign, the signed copy.
    for side, name in (("ministry", "La ministre"), ("partner", "Le PDG")):
        post(officer, mou, "signatories", {"side": side, "name": name})
    db.session.refresh(mou)
    for signatory in mou.signatories:
        post(officer, mou, f"signatories/{signatory.id}/sign", {"signed_on": (clock.today()).isoformat()})
    post(officer, mou, "signed-copy", {"file": (BytesIO(PDF + b"signed"), "signé.pdf")})
    assert act(officer, mou, "record_signed") == "scelle"
    expires = clock.today() + timedelta(days=20)
    assert (
        act(officer, mou, "activate", effective_on=clock.today().isoformat(), expires_on=expires.isoformat())
        == "en_vigueur"
    )

    # In force (tagged in_force and running): its plan, the dashboards, the exports, the reminders.
    agreement_page = page(officer, f"/agreements/{mou.id}")
    assert "Live" in agreement_page and "Quarterly progress report" in agreement_page
    assert "Initialling" in agreement_page  # the signature stage, folded among the earlier ones
    dashboard = page(manager, "/dashboard")
    assert "Live" in dashboard and mou.reference in dashboard  # counted by state; ending within 90 days
    assert mou.reference in page(officer, "/dashboard")
    for url in ("/portfolio/board", "/portfolio/timeline"):
        assert mou.reference in page(manager, url), url
    for url in ("/portfolio/calendar", "/portfolio/analytics", "/inbox"):
        page(manager, url)
    listed = page(manager, "/agreements/?state=en_vigueur")
    assert mou.reference in listed and "Live" in listed
    exported = manager.get("/agreements/export.csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row for row in rows if row and row[0] == mou.reference][0][3] == "Live"
    now = datetime.combine(clock.today(), time(9), tzinfo=timezone.utc)
    kinds = {c.notice.kind for c in preview(now) if c.notice.object_id == mou.id}
    assert "agreement_ending" in kinds  # in force, ending in 20 days
    report = run_pass(now)
    assert report.errors == 0
    assert db.session.query(Notification).filter_by(kind="agreement_ending", user_id=world.users["officer"].id).count()

    # Wound up (a final state tagged ended_early): out of force, its bar ends today.
    assert act(officer, mou, "close", comment="Objectifs atteints") == "clos"
    assert "Wound up" in page(officer, f"/agreements/{mou.id}")
    assert "Wound up" in page(manager, "/dashboard")
    assert "Wound up" in page(manager, "/portfolio/board")
    page(manager, "/portfolio/timeline")


@pytest.mark.own_world  # its agreements on the renamed definitions alone: today's names are in use nowhere
def test_a_renamed_workflow_runs_through_the_api(renamed, world, tokens):  # noqa: F811
    officer, legal, manager, partner = (
        ApiClient(renamed, tokens[r]) for r in ("officer", "legal", "manager", "partner")
    )
    created = ok(
        officer.post(
            f"{P}/agreements",
            json={
                "type": "mou",
                "title_fr": "Mémorandum renommé",
                "parties": [{"organization_id": world.partner_a.id}],
            },
        ),
        201,
    )
    agreement_id, a = created["id"], f"{P}/agreements/{created['id']}"
    assert (created["state"], created["state_label"]) == ("brouillon", "Rough copy")
    api_move(officer, agreement_id, "submit_for_review")
    api_move(legal, agreement_id, "approve_review")
    assert api_move(manager, agreement_id, "approve_review")["agreement"]["state"] == "pourparlers"
    negotiation = ok(multipart(officer, f"{a}/negotiation/versions", {"note": "v1"}, {"file": (PDF, "v1.pdf")}), 201)
    assert negotiation["turn"] == "partner"  # the talks are a negotiation (tagged negotiating)
    ok(partner.post(f"{a}/negotiation/accept", json={}))
    moved = api_move(officer, agreement_id, "open_signature")["agreement"]
    assert (moved["state"], moved["state_label"]) == ("verification", "Legal vetting")
    # Left in the extra state past its SLA (5 days), it is reminded as stalled.
    later = datetime.combine(clock.today() + timedelta(days=8), time(9), tzinfo=timezone.utc)
    assert "agreement_stalled" in {c.notice.kind for c in preview(later) if c.notice.object_id == agreement_id}
    assert api_move(officer, agreement_id, "vet")["agreement"]["state"] == "paraphe"
    for side, name in (("ministry", "La ministre"), ("partner", "Le PDG")):
        signatories = ok(officer.post(f"{a}/signatories", json={"side": side, "name": name}), 201)["signatories"]
    for signatory in signatories:
        ok(officer.post(f"{a}/signatories/{signatory['id']}/signature", json={"signed_on": clock.today().isoformat()}))
    ok(multipart(officer, f"{a}/signed-copy", {}, {"file": (PDF + b"signed", "signé.pdf")}), 201)
    assert api_move(officer, agreement_id, "record_signed")["agreement"]["state"] == "scelle"
    active = api_move(
        officer,
        agreement_id,
        "activate",
        fields={
            "effective_on": clock.today().isoformat(),
            "expires_on": (clock.today() + timedelta(days=400)).isoformat(),
        },
    )
    assert (active["agreement"]["state"], active["agreement"]["state_label"]) == ("en_vigueur", "Live")
    # In force and running: its default plan was made; filters by the new names, refuses the old.
    assert len(ok(officer.get(f"{a}/deliverables"))) == 2
    listed = ok(manager.get(f"{P}/agreements?state=en_vigueur"))
    items = listed["items"] if isinstance(listed, dict) else listed
    assert agreement_id in [item["id"] for item in items]
    assert manager.get(f"{P}/agreements?state=active").status_code == 400  # a value no list takes
    # Rescinded with its notice (a final state tagged ended_early).
    version = ok(manager.get(a))["version"]
    body = ok(
        multipart(
            manager,
            f"{a}/transitions/terminate",
            {"comment": "Manquement grave", "version": version},
            {"termination_notice": (PDF + b"notice", "préavis.pdf")},
        )
    )
    assert (body["agreement"]["state"], body["agreement"]["state_label"]) == ("resilie", "Rescinded")
    assert ok(partner.get(a))["state_label"] == "Rescinded"
    assert db.session.get(Agreement, agreement_id).state == "resilie"


def test_a_version_frozen_before_states_had_tags_borrows_todays(world):
    """Agreements pinned to a definition stored before tags existed still count as in force."""
    import copy

    from sqlalchemy import select

    from app.workflow import engine, queries
    from app.workflow.definitions import checksum_of
    from app.workflow.models import WorkflowVersion

    body = copy.deepcopy(engine.current_definitions()["mou"].body)
    for spec in body["states"].values():
        spec.pop("tags", None)
    version = WorkflowVersion(type="mou", version=999, checksum=checksum_of(body), body=body)
    db.session.add(version)
    agreement = world.agreement_a
    agreement.workflow_version = version
    agreement.state = "active"
    db.session.flush()
    engine.forget_definitions_in_use()
    assert engine.state_has(agreement, "in_force") and not engine.state_has(agreement, "editable")
    assert agreement.id in db.session.scalars(select(Agreement.id).where(queries.in_state_tagged("in_force"))).all()
