"""Requests an outside sweep of every route (about 37,000 of them, each role, hostile values) answered
with a server error: each is now a clear answer, and nothing is written where it should not be."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app.api.tokens import create_token
from app.extensions import db

ROOT = Path(__file__).resolve().parents[2]
PAST_ANY_ID = str(2**63)  # past what SQLite can even compare


@pytest.mark.parametrize(
    "path",
    [
        "/agreements/?endpoint=x",
        "/deliverables/?endpoint=x&status=unfinished",
        "/portfolio/budget?endpoint=x",
        "/agreements/?endpoint=x&_anchor=y&page=1",
    ],
)
def test_a_query_argument_named_as_url_fors_own_stays_out_of_the_pages_links(signed_in, path):
    response = signed_in("manager").get(path)
    assert response.status_code == 200
    # The export and page links leave it out (the language switch returns to the page as it was asked).
    assert not re.search(r'href="[^"]*endpoint=x', response.get_data(as_text=True))


@pytest.mark.parametrize("digits", ["²", "①", "٣", "2²"])
@pytest.mark.parametrize(
    "path",
    [
        "/choices/agreements?ids={}",
        "/choices/agreements?exclude={}",
        "/agreements/?partner={}",
        "/deliverables/?agreement={}",
        "/deliverables/?partner={}",
        "/agreements/export.csv?partner={}",
        "/portfolio/board?partner={}",
        "/portfolio/board?owner={}",
    ],
)
def test_digits_int_cannot_read_are_no_id(signed_in, path, digits):
    """str.isdigit() takes "²" and "①", which int() refuses: such a filter is no filter, or a 400."""
    response = signed_in("manager").get(path.format(digits))
    assert response.status_code in (200, 400)


def test_a_number_sent_for_an_organisation_in_an_invitation_is_read_or_refused(signed_in, world):
    admin = signed_in("admin")
    response = admin.post(
        "/invitations/new",
        {"email": "new.person@example.org", "role": "partner", "organization_id": "²", "language": "fr"},
    )
    assert response.status_code in (302, 303, 400, 422)


@pytest.mark.parametrize(
    "role, method, path",
    [
        ("officer", "get", "/agreements/{agreement}/documents/" + PAST_ANY_ID),
        ("manager", "post", "/account/delegations/" + PAST_ANY_ID + "/revoke"),
        ("manager", "post", "/approvals/" + PAST_ANY_ID + "/remind"),
        ("officer", "get", "/agreements/" + PAST_ANY_ID),
        ("officer", "get", "/agreements/" + str(2**31)),
    ],
)
def test_an_id_past_what_a_column_holds_names_nothing(signed_in, world, role, method, path):
    client = signed_in(role)
    path = path.format(agreement=world.agreement_a.id)
    response = client.get(path) if method == "get" else client.post(path, csrf_from="/agreements/")
    assert response.status_code == 404


@pytest.fixture
def officer_token(world):
    token = create_token(world.users["officer"], "probe", by=world.users["officer"])[1]
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "body",
    [
        "[" * 50_000 + "]" * 50_000,
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        '{"version": ' + "9" * 5_000 + "}",
        '{"title_fr": "x", "partners": [' + "1" * 4_301 + "]}",
    ],
    ids=["nested-arrays", "nested-objects", "long-version", "long-id"],
)
def test_a_json_body_python_cannot_read_is_a_400(client, world, officer_token, body):
    response = client.post("/api/v1/agreements", data=body, content_type="application/json", headers=officer_token)
    assert response.status_code == 400 and response.is_json
    agreement = world.agreement_a
    response = client.patch(
        f"/api/v1/agreements/{agreement.id}", data=body, content_type="application/json", headers=officer_token
    )
    assert response.status_code == 400 and response.is_json


# --- the workflow simulator (admins) -------------------------------------------------------------


def _simulate(admin, **fields):
    return admin.post(
        "/admin/workflows/simulate",
        {"workflow_type": "mou", "scenario": "", **fields},
        csrf_from="/admin/workflows/simulate",
    )


def _mou_as(workflow_type) -> str:
    body = yaml.safe_load((ROOT / "workflows" / "mou.yaml").read_text(encoding="utf-8"))
    body["type"] = workflow_type
    return yaml.safe_dump(body, allow_unicode=True)


def test_an_edited_definitions_type_is_never_a_file_name(signed_in, tmp_path):
    admin = signed_in("admin")
    for workflow_type in (str(tmp_path / "absolute"), f"../../../../../..{tmp_path}/climbed", "x" * 300):
        response = _simulate(admin, definition=_mou_as(workflow_type))
        assert response.status_code == 422
        assert "is not an agreement type" in response.get_data(as_text=True)
    assert list(tmp_path.iterdir()) == []  # nothing written where the type pointed


@pytest.mark.parametrize(
    "definition",
    [
        "type: mou\nstates: [1, 2]",  # the amendment workflow extends mou: its states must be a mapping
        "type: [mou]\nstates: {}",
        "type: {a: 1}",
        "type: mou\nstates: " + "[" * 5_000 + "]" * 5_000,
    ],
    ids=["states-a-list", "type-a-list", "type-a-mapping", "nested"],
)
def test_a_definition_of_the_wrong_shape_is_a_form_error(signed_in, definition):
    response = _simulate(signed_in("admin"), definition=definition)
    assert response.status_code == 422 and 'id="simulation-problems' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "scenario, message",
    [
        (
            "start: 0001-01-01\nexpires_on: 0001-01-02\neffective_on: 0001-01-01\n"
            "events:\n  - {take: submit_for_review}\n  - {take: approve_review}\n",
            "give a date between 1956 and 2200",
        ),
        ("start: 9999-12-31\n", "give a date between 1956 and 2200"),
        ("start: " + "[" * 5_000 + "]" * 5_000, "not valid YAML"),
    ],
    ids=["year-one", "year-9999", "nested"],
)
def test_a_scenario_out_of_the_calendar_is_a_form_error(signed_in, scenario, message):
    response = _simulate(signed_in("admin"), scenario=scenario)
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_the_simulator_still_walks_a_shipped_workflow_after_refusals(signed_in):
    admin = signed_in("admin")
    _simulate(admin, definition="type: mou\nstates: [1, 2]")
    response = _simulate(admin, scenario=(ROOT / "workflows" / "scenarios" / "mou-short-term.yaml").read_text())
    assert response.status_code == 200 and 'id="simulation-result"' in response.get_data(as_text=True)


# --- what PostgreSQL refuses: NUL in text, numbers past its integers, unpaired surrogates -------------


@pytest.mark.parametrize("ids", ["2147483648", "1,9999999999", "2147483647,4294967296"])
def test_ids_past_what_a_column_holds_are_no_choice_ids(signed_in, ids):
    client = signed_in("officer")
    assert client.get(f"/choices/agreements?ids={ids}").status_code == 400
    assert client.get(f"/choices/organizations?exclude={ids}").status_code == 400


def test_a_message_with_nul_bytes_is_kept_without_them(signed_in, client, world, officer_token):
    from app.discussions.models import DiscussionMessage

    agreement = world.agreement_a
    page = signed_in("officer").post(
        f"/agreements/{agreement.id}/threads/shared/messages",
        {"body": "a\x00b"},
        csrf_from=f"/agreements/{agreement.id}",
    )
    assert page.status_code in (302, 303)
    api = client.post(
        f"/api/v1/agreements/{agreement.id}/threads/internal/messages",
        data={"body": "\x00c\x00d"},
        content_type="multipart/form-data",
        headers=officer_token,
    )
    assert api.status_code == 201
    message_id = api.get_json()["id"]
    edited = client.patch(
        f"/api/v1/agreements/{agreement.id}/threads/internal/messages/{message_id}",
        json={"body": "e\u0000f"},
        headers=officer_token,
    )
    assert edited.status_code == 200
    db.session.expire_all()
    bodies = db.session.scalars(select(DiscussionMessage.body).where(DiscussionMessage.agreement_id == agreement.id))
    assert sorted(bodies) == ["ab", "ef"]


def test_an_unpaired_surrogate_in_json_is_kept_as_a_replacement_character(client, world, officer_token):
    body = '{"type": "mou", "title_fr": "Accord \\ud800 test", "parties": [{"organization_id": %d}]}' % (
        world.partner_a.id
    )
    response = client.post("/api/v1/agreements", data=body, content_type="application/json", headers=officer_token)
    assert response.status_code == 201, response.get_json()
    title = response.get_json()["titles"]["fr"]
    assert title == "Accord \ufffd test"  # one replacement character for the one half of a pair


def test_a_recurring_line_until_past_the_calendar_we_keep_is_refused(world):
    from app.core.errors import ValidationFailed
    from app.deliverables import services

    data = services.PlanData(
        "Rapport", None, None, None, world.ministry.id, "yearly", date(2027, 1, 31), until_on=date(9999, 12, 31)
    )
    with pytest.raises(ValidationFailed) as refused:
        services.plan_deliverable(world.agreement_a, data, by=world.users["officer"])
    assert "until_on" in refused.value.field_errors


def test_a_signing_event_ending_past_the_calendar_we_keep_is_refused(world):
    from app.core.errors import ValidationFailed
    from app.events.services import save_event

    values = {"name_fr": "Cérémonie", "held_on": date(2026, 6, 1), "ends_on": date(9999, 12, 31)}
    with pytest.raises(ValidationFailed) as refused:
        save_event(None, values, by=world.users["officer"])
    assert "ends_on" in refused.value.field_errors


@pytest.mark.parametrize("first, last", [(date(1, 1, 1), date(1, 1, 2)), (date(2030, 1, 1), date(9999, 12, 31))])
def test_a_delegation_past_the_calendar_we_keep_is_refused(world, first, last):
    from app.core.errors import ValidationFailed
    from app.workflow.services import delegate

    with pytest.raises(ValidationFailed) as refused:
        delegate(
            delegator=world.users["manager"],
            delegate_user=world.users["legal"],
            starts_on=first,
            ends_on=last,
            by=world.users["manager"],
        )
    assert set(refused.value.field_errors) & {"starts_on", "ends_on"}


def test_a_signature_date_in_the_future_is_refused_at_both_doors(client, world, officer_token):
    """As the signatory's own date is: an agreement is not signed tomorrow (a draft took 2027-01-01)."""
    from app.core import clock

    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    body = {"type": "mou", "title_fr": "Accord signé demain", "parties": [{"organization_id": world.partner_a.id}]}
    created = client.post("/api/v1/agreements", json={**body, "signed_on": tomorrow}, headers=officer_token)
    assert created.status_code == 422 and "signed_on" in created.get_json()["errors"]
    draft = client.post("/api/v1/agreements", json=body, headers=officer_token).get_json()
    changed = client.patch(
        f"/api/v1/agreements/{draft['id']}",
        json={"signed_on": tomorrow, "version": draft["version"]},
        headers=officer_token,
    )
    assert changed.status_code == 422 and "signed_on" in changed.get_json()["errors"]
    today = client.patch(
        f"/api/v1/agreements/{draft['id']}",
        json={"signed_on": clock.today().isoformat(), "version": draft["version"]},
        headers=officer_token,
    )
    assert today.status_code == 200, today.get_json()


def test_a_delegation_wholly_in_the_past_is_refused(world):
    from app.core.errors import ValidationFailed
    from app.workflow.services import delegate

    with pytest.raises(ValidationFailed) as refused:
        delegate(
            delegator=world.users["manager"],
            delegate_user=world.users["legal"],
            starts_on=date(1999, 12, 10),
            ends_on=date(2000, 12, 4),
            by=world.users["manager"],
        )
    assert "ends_on" in refused.value.field_errors
