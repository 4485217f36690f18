"""/api/v1: an agreement's deliverables plan (list, add, change or remove a line), waivers, and the caller's
delegations — the same checks and services as the agreement's page and the delegations page."""

from __future__ import annotations

from flask import abort
from sqlalchemy import select

from app.api import work_schemas as ws
from app.api.agreements import organization_ref, person, texts
from app.api.core import api_blueprint, api_user, conditional, errors, expected_version
from app.api.deliverables import present as present_occurrence
from app.api.schemas import OccurrenceSchema
from app.auth.models import User
from app.core import clock
from app.core.permissions import get_agreement_or_404, get_occurrence_or_404, require, sees_deliverables_of
from app.deliverables import services as deliverables
from app.deliverables.falling_due import shown_status_of
from app.deliverables.models import Deliverable
from app.extensions import db
from app.workflow import services as workflow
from app.workflow.models import Delegation

blueprint = api_blueprint("plans", "Deliverable plans, waivers and delegations of approvals.")

PLAN_FIELDS = (
    "title_fr",
    "title_ar",
    "title_en",
    "description",
    "responsible_organization_id",
    "recurrence",
    "first_due_on",
    "until_on",
)


def present_line(line: Deliverable) -> dict:
    today = clock.today()
    return {
        "id": line.id,
        "title": line.title,
        "titles": texts(line, "title"),
        "description": line.description,
        "responsible": organization_ref(line.responsible_organization),
        "recurrence": line.recurrence,
        "first_due_on": line.first_due_on,
        "until_on": line.until_on,
        "occurrences": [
            {
                "id": o.id,
                "due_on": o.due_on,
                "status": o.status,
                "shown_status": shown_status_of(o, today),
            }
            for o in line.occurrences
        ],
    }


def _plan(agreement, reader) -> list[dict]:
    """The plan's lines; none for a reader who does not see this agreement's deliverables (as the page)."""
    if not sees_deliverables_of(reader, agreement.id):
        return []
    lines = db.session.scalars(
        select(Deliverable).where(Deliverable.agreement_id == agreement.id).order_by(Deliverable.id)
    ).all()
    return [present_line(line) for line in lines]


@blueprint.route("/agreements/<int:agreement_id>/deliverables", methods=["GET"])
@blueprint.response(200, ws.PlanLineSchema(many=True))
@errors(blueprint, 403, 404)
def list_plan(agreement_id: int):
    """The agreement's deliverables plan: each line with its due dates."""
    return _plan(get_agreement_or_404(agreement_id, api_user()), api_user())


@blueprint.route("/agreements/<int:agreement_id>/deliverables", methods=["POST"])
@blueprint.arguments(ws.PlanInputSchema)
@blueprint.response(201, ws.PlanLineSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
def plan_deliverable(payload, agreement_id: int):
    """Add a line to the plan (one-off, or recurring until `until_on` or the agreement's end)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    line = deliverables.plan_deliverable(
        agreement, deliverables.PlanData(**{name: payload.get(name) for name in PLAN_FIELDS}), by=api_user()
    )
    return present_line(line)


@blueprint.route("/agreements/<int:agreement_id>/deliverables/<int:deliverable_id>", methods=["PATCH"])
@blueprint.arguments(ws.PlanPatchSchema)
@blueprint.response(200, ws.PlanLineSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
def edit_plan(payload, agreement_id: int, deliverable_id: int):
    """Change a plan line; the fields not sent keep their values. Settled due dates are kept."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    line = deliverables.plan_line_of(agreement, deliverable_id)
    values = {name: payload.get(name, getattr(line, name)) for name in PLAN_FIELDS}
    deliverables.update_plan(line, deliverables.PlanData(**values), by=api_user())
    return present_line(line)


@blueprint.route("/agreements/<int:agreement_id>/deliverables/<int:deliverable_id>", methods=["DELETE"])
@blueprint.response(204)
@errors(blueprint, 403, 404, 409, 422)
def delete_plan_line(agreement_id: int, deliverable_id: int):
    """Remove a line entered by mistake, with its due dates (those who plan, until the agreement ends).
    Refused (409) once something was handed in for it or written about one of its due dates."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    deliverables.remove_plan_line(deliverables.plan_line_of(agreement, deliverable_id), by=api_user())


@blueprint.route("/deliverables/<int:occurrence_id>/waive", methods=["POST"])
@blueprint.arguments(ws.WaiveInputSchema)
@blueprint.response(200, OccurrenceSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def waive_deliverable(payload, occurrence_id: int):
    """Release the responsible party from one due date, with a reason (managers)."""
    occurrence = get_occurrence_or_404(occurrence_id, api_user(), need="waive")
    deliverables.waive(
        occurrence, reason=payload["reason"], by=api_user(), expected_version=expected_version(occurrence, payload)
    )
    return present_occurrence(occurrence)


# --- delegations -------------------------------------------------------------------------------


def present_delegation(delegation: Delegation) -> dict:
    return {
        "id": delegation.id,
        "delegator": person(delegation.delegator),
        "delegate": person(delegation.delegate),
        "starts_on": delegation.starts_on,
        "ends_on": delegation.ends_on,
        "created_at": delegation.created_at,
        "revoked_at": delegation.revoked_at,
    }


def _delegations(user) -> dict:
    given = db.session.scalars(
        select(Delegation)
        .where(Delegation.delegator_id == user.id)
        .order_by(Delegation.starts_on.desc(), Delegation.id.desc())
    ).all()
    received = db.session.scalars(
        select(Delegation)
        .where(Delegation.delegate_id == user.id)
        .order_by(Delegation.starts_on.desc(), Delegation.id.desc())
    ).all()
    return {"given": [present_delegation(d) for d in given], "received": [present_delegation(d) for d in received]}


@blueprint.route("/delegations", methods=["GET"])
@blueprint.response(200, ws.DelegationsSchema)
@errors(blueprint, 403)
def list_delegations():
    """The approvals the caller handed to colleagues, and those handed to the caller."""
    require(api_user(), "delegation.manage")
    return _delegations(api_user())


@blueprint.route("/delegations", methods=["POST"])
@blueprint.arguments(ws.DelegationInputSchema)
@blueprint.response(201, ws.DelegationSchema)
@errors(blueprint, 400, 403, 409, 413, 422)
def create_delegation(payload):
    """Hand the caller's approvals to an active ministry colleague from `starts_on` to `ends_on` (inclusive)."""
    user = api_user()
    require(user, "delegation.manage")
    colleague = db.session.get(User, payload["delegate_id"])
    delegation = workflow.delegate(
        delegator=user, delegate_user=colleague, starts_on=payload["starts_on"], ends_on=payload["ends_on"], by=user
    )
    return present_delegation(delegation)


@blueprint.route("/delegations/<int:delegation_id>/revoke", methods=["POST"])
@blueprint.response(200, ws.DelegationSchema)
@errors(blueprint, 403, 404)
def revoke_delegation(delegation_id: int):
    """End one of the caller's delegations now."""
    user = api_user()
    require(user, "delegation.manage")
    delegation = db.session.get(Delegation, delegation_id)
    if delegation is None or delegation.delegator_id != user.id:  # someone else's does not exist for you
        abort(404)
    workflow.revoke_delegation(delegation, by=user)
    return present_delegation(delegation)
