"""Parent and child agreements, as the workflow definitions say (workflows/mou.yaml `children:`):
suspending a MoU suspends its lab convention and resuming resumes it; terminating asks, child by
child; no child under an ended parent; no child ending after its parent (refused for the MoU)."""

from datetime import date
from io import BytesIO

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.agreements.services import AgreementData, create_agreement
from app.core.audit import AuditEvent
from app.core.errors import ValidationFailed
from app.extensions import db
from app.workflow import engine, services
from tests import factories
from tests.integration.test_api import api, tokens  # noqa: F401  (fixtures)

PDF = b"%PDF-1.4\n%test\n%%EOF\n"


def _notice():
    return FileStorage(stream=BytesIO(PDF), filename="preavis.pdf", content_type="application/pdf")


@pytest.fixture
def family(world):
    officer = world.users["officer"]
    parent = factories.agreement(
        by=officer,
        partners=[world.partner_a],
        state="active",
        title_fr="MoU Mistral",
        signed_on=date(2025, 2, 10),
        effective_on=date(2025, 2, 10),
        expires_on=date(2030, 2, 10),
    )
    lab = factories.agreement(
        by=officer,
        partners=[world.partner_a],
        type="convention",
        state="active",
        title_fr="Labo JAZARI ROOT",
        parent_id=parent.id,
        signed_on=date(2025, 6, 1),
        effective_on=date(2025, 6, 1),
        expires_on=date(2029, 6, 1),
    )
    other = factories.agreement(
        by=officer,
        partners=[world.partner_a],
        type="convention",
        state="active",
        title_fr="Second labo",
        parent_id=parent.id,
        signed_on=date(2025, 6, 1),
        effective_on=date(2025, 6, 1),
        expires_on=date(2029, 6, 1),
    )
    for agreement in (parent, lab, other):
        engine.settle_state(agreement)
    db.session.commit()
    return parent, lab, other


def _take(agreement, name, user, **kwargs):
    engine.take(agreement, name, by=user, expected_version=agreement.version, **kwargs)
    db.session.commit()


def test_the_rule_is_data_in_the_definitions(app):
    rules = engine.current_definitions()["mou"].children
    assert rules.on_parent == {"suspend": "cascade", "resume": "cascade", "terminate": "ask"}
    assert rules.end_after_parent == "refuse"
    assert engine.current_definitions()["convention"].children == rules  # inherited
    assert engine.current_definitions()["amendment"].children.on_parent == {}


def test_suspending_the_mou_suspends_the_lab_and_resuming_resumes_it(world, family):
    parent, lab, other = family
    manager = world.users["manager"]
    _take(other, "suspend", manager, comment="Own reasons")  # suspended on its own account
    _take(parent, "suspend", manager, comment="Budget freeze")
    assert (parent.state, lab.state, other.state) == ("suspended", "suspended", "suspended")
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.object_id == lab.id, AuditEvent.action == "transition"))
    assert row.changes["with_parent"] == parent.reference and row.actor_id == manager.id
    _take(parent, "resume", manager)
    # The lab suspended with the MoU is resumed; the one suspended on its own stays suspended.
    assert (parent.state, lab.state, other.state) == ("active", "active", "suspended")


def test_terminating_the_mou_asks_what_happens_to_each_child(world, family):
    parent, lab, other = family
    manager = world.users["manager"]
    with pytest.raises(ValidationFailed) as error:
        _take(parent, "terminate", manager, comment="End", documents={"termination_notice": _notice()})
    db.session.rollback()
    assert lab.reference in error.value.message and other.reference in error.value.message
    assert set(error.value.field_errors) == {f"child_{lab.id}", f"child_{other.id}"}
    assert parent.state == "active"
    _take(
        parent,
        "terminate",
        manager,
        comment="End",
        documents={"termination_notice": _notice()},
        child_decisions={lab.id: "terminate", other.id: "keep"},
    )
    assert (parent.state, lab.state, other.state) == ("terminated", "terminated", "active")


def test_the_terminate_form_names_the_running_children_it_cannot_reach(world, family, signed_in):
    """A draft convention under the MoU cannot be terminated: it is not asked about, and the form says it is
    left as it is, so nobody terminates the MoU believing it ends there too. An ended one, and an amendment,
    are not named."""
    parent, lab, _other = family
    officer = world.users["officer"]
    draft = factories.agreement(
        by=officer, partners=[world.partner_a], type="convention", state="draft", parent_id=parent.id
    )
    ended = factories.agreement(
        by=officer, partners=[world.partner_a], type="convention", state="terminated", parent_id=parent.id
    )
    amendment = factories.agreement(by=officer, partners=[world.partner_a], type="amendment", parent_id=parent.id)
    db.session.commit()
    page = signed_in("manager").get(f"/agreements/{parent.id}").get_data(as_text=True)
    terminate = page[page.index('action="/agreements/%d/actions/terminate"' % parent.id) :]
    terminate = terminate[: terminate.index("</form>")]
    assert f'name="child_{lab.id}"' in terminate and f'name="child_{draft.id}"' not in terminate
    left = terminate[terminate.index('class="small text-body-secondary mb-2 children-left"') :]
    left = left[: left.index("</p>")]
    assert draft.reference in left and lab.reference not in left
    assert ended.reference not in left and amendment.reference not in left


def test_the_terminate_form_lists_each_child_with_no_choice_made(world, family, signed_in):
    parent, lab, other = family
    manager = signed_in("manager")
    page = manager.get(f"/agreements/{parent.id}").get_data(as_text=True)
    assert "What happens to each child agreement?" in page
    assert "“Suspend” here does the same to each child agreement that can follow." in page
    assert "“Terminate” here asks you what happens to each child agreement." in page
    assert f'name="child_{lab.id}" value="terminate"' in page and f'name="child_{other.id}" value="keep"' in page
    assert "checked" not in page.split("What happens to each child agreement?")[1].split("</fieldset>")[0]
    url = f"/agreements/{parent.id}/actions/terminate"
    form = {"version": str(parent.version), "comment": "Fin", "termination_notice": (BytesIO(PDF), "preavis.pdf")}
    response = manager.post(
        url, data=form, csrf_from=f"/agreements/{parent.id}", content_type="multipart/form-data", follow_redirects=True
    )
    assert "Decide what happens to each child agreement" in response.get_data(as_text=True)
    db.session.expire_all()
    assert parent.state == "active"
    form = {
        "version": str(parent.version),
        "comment": "Fin",
        "termination_notice": (BytesIO(PDF), "preavis.pdf"),
        f"child_{lab.id}": "terminate",
        f"child_{other.id}": "keep",
    }
    response = manager.post(url, data=form, csrf_from=f"/agreements/{parent.id}", content_type="multipart/form-data")
    assert response.status_code == 303
    db.session.expire_all()
    assert (parent.state, lab.state, other.state) == ("terminated", "terminated", "active")
    # A partner of another organisation cannot probe the move.
    assert signed_in("partner_b").post(url, data={"version": "1"}, csrf_from="/agreements/").status_code == 404


def test_the_api_takes_the_decisions_per_child(world, family, api):
    parent, lab, other = family
    services.attach_document(parent, "termination_notice", _notice(), by=world.users["manager"])
    db.session.commit()
    url = f"/api/v1/agreements/{parent.id}/transitions"
    response = api("manager").post(url, json={"transition": "terminate", "comment": "Fin"})
    assert response.status_code == 422 and lab.reference in response.get_json()["detail"]
    response = api("manager").post(
        url,
        json={"transition": "terminate", "comment": "Fin", "children": {str(lab.id): "keep", str(other.id): "explode"}},
    )
    assert response.status_code == 422 and other.reference in response.get_json()["detail"]
    response = api("manager").post(
        url,
        json={
            "transition": "terminate",
            "comment": "Fin",
            "children": {str(lab.id): "keep", str(other.id): "terminate"},
        },
    )
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    assert (parent.state, lab.state, other.state) == ("terminated", "active", "terminated")


def _child(world, parent, **values):
    data = AgreementData(
        type="convention",
        title_fr="Nouveau labo",
        parties=[(world.partner_a.id, "partner")],
        parent_id=parent.id,
        **values,
    )
    return create_agreement(data, by=world.users["officer"])


def test_no_child_under_an_ended_parent_nor_ending_after_it(world, family, signed_in):
    parent, lab, other = family
    with pytest.raises(ValidationFailed) as error:
        _child(world, parent, expires_on=date(2031, 1, 1))
    assert "after the end of the parent agreement" in error.value.field_errors["expires_on"][0]
    assert _child(world, parent, expires_on=date(2029, 1, 1)).parent_id == parent.id
    parent.state = "terminated"
    db.session.commit()
    with pytest.raises(ValidationFailed) as error:
        _child(world, parent)
    assert "has ended" in error.value.field_errors["parent_id"][0]
    # The same through the page: the field at fault says why.
    response = signed_in("officer").post(
        "/agreements/new",
        data={
            "type": "convention",
            "title_fr": "Labo",
            "partners": [str(world.partner_a.id)],
            "parent_id": str(parent.id),
        },
    )
    assert response.status_code == 422 and "has ended" in response.get_data(as_text=True)
