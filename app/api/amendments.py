"""/api/v1/agreements/{id}/amendment: what an amendment changes in its parent, side by side with the
parent's current terms, and other amendments changing the same terms; the same service as the page."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields, validate

from app.agreements import amendments
from app.agreements.models import NOTICE_UNITS, PARTY_ROLES, RENEWAL_TERMS
from app.api.budget import BudgetLineInputSchema
from app.api.core import ETAG_HEADER, api_blueprint, api_user, conditional, errors, expected_version, with_etag
from app.api.schemas import MAX_ID, Id, StrictSchema, Text
from app.core.permissions import get_agreement_or_404

blueprint = api_blueprint("amendments", "What an amendment changes in its parent agreement.")


class ProposedPartySchema(StrictSchema):
    organization_id = Id(required=True)
    role = fields.String(required=True, validate=validate.OneOf(tuple(PARTY_ROLES)))


class RenewalTermsInputSchema(StrictSchema):
    renewal_terms = fields.String(required=True, validate=validate.OneOf(RENEWAL_TERMS))
    renewal_months = fields.Integer(strict=True, allow_none=True)
    notice_period = fields.Integer(strict=True, allow_none=True)
    notice_unit = fields.String(allow_none=True, validate=validate.OneOf(NOTICE_UNITS))


class AmendmentChangesInputSchema(StrictSchema):
    """The parent's terms as the amendment would set them; only what differs from today is kept."""

    title_ar = Text(500, allow_none=True)
    title_fr = Text(500, allow_none=True)
    title_en = Text(500, allow_none=True)
    summary_ar = Text(20000, allow_none=True)
    summary_fr = Text(20000, allow_none=True)
    summary_en = Text(20000, allow_none=True)
    effective_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    parties = fields.List(
        fields.Nested(ProposedPartySchema),
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={"description": "Every party after the amendment."},
    )
    budget_lines = fields.List(
        fields.Nested(BudgetLineInputSchema),
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "The whole budget after the amendment."},
    )
    renewal = fields.Nested(
        RenewalTermsInputSchema,
        allow_none=True,
        metadata={"description": "The renewal terms and notice period after the amendment."},
    )


class AmendmentTermsInputSchema(StrictSchema):
    changes = fields.Nested(AmendmentChangesInputSchema, required=True)
    version = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "The version you read; the change is refused (409) if the amendment changed since."},
    )


class TermSchema(Schema):
    term = fields.String()
    label = fields.String()
    current = fields.Raw(allow_none=True)
    proposed = fields.Raw(allow_none=True)


class PlanEffectSchema(Schema):
    deliverable = fields.Integer()
    title = fields.String()
    added = fields.List(fields.String())
    cancelled = fields.List(fields.String())
    kept = fields.List(fields.String(), metadata={"description": "Handed in already: never touched."})


class OverlapSchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    state = fields.String()
    terms = fields.List(fields.String())


class AmendmentSchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    parent_id = fields.Integer(allow_none=True)
    state = fields.String()
    version = fields.Integer()
    changes = fields.Dict(metadata={"description": "Term → proposed value, as stored."})
    terms = fields.List(fields.Nested(TermSchema), metadata={"description": "Side by side with the parent."})
    plan = fields.List(fields.Nested(PlanEffectSchema))
    overlaps = fields.List(
        fields.Nested(OverlapSchema), metadata={"description": "Other amendments in progress changing the same terms."}
    )


def _plain(value):
    return value.isoformat() if isinstance(value, date) else value


def present(amendment) -> dict:
    shown = amendments.shown_to(amendment, api_user())
    return {
        "id": amendment.id,
        "reference": amendment.reference,
        "parent_id": shown.parent_id,
        "state": amendment.state,
        "version": amendment.version,
        "changes": amendment.amendment_changes or {},
        "terms": [
            {"term": row.name, "label": row.label, "current": _plain(row.current), "proposed": _plain(row.proposed)}
            for row in shown.rows
        ],
        "plan": shown.plan,
        "overlaps": [
            {"id": s.id, "reference": s.reference, "state": s.state, "terms": terms} for s, terms in shown.overlaps
        ],
    }


def _amendment_or_404(agreement_id: int, need: str = "view"):
    from flask import abort

    agreement = get_agreement_or_404(agreement_id, api_user(), need=need)
    if agreement.type != "amendment":
        abort(404)
    return agreement


@blueprint.route("/agreements/<int:agreement_id>/amendment", methods=["GET"])
@blueprint.response(200, AmendmentSchema, headers=ETAG_HEADER)
@errors(blueprint, 403, 404)
def get_amendment(agreement_id: int):
    """What the amendment changes, next to its parent's current terms; its ETag the amendment's version."""
    amendment = _amendment_or_404(agreement_id)
    return with_etag(present(amendment), amendment)


@blueprint.route("/agreements/<int:agreement_id>/amendment", methods=["PUT"])
@blueprint.arguments(AmendmentTermsInputSchema)
@blueprint.response(200, AmendmentSchema)
@errors(blueprint, 400, 403, 404, 409, 422)
@conditional(blueprint)
def put_amendment(payload, agreement_id: int):
    """Say what the amendment changes (only while it is a draft); replaces what was said before."""
    amendment = _amendment_or_404(agreement_id, need="edit")
    changes = dict(payload["changes"])
    if changes.get("parties") is not None:
        changes["parties"] = [[p["organization_id"], p["role"]] for p in changes["parties"]]
    amendments.set_changes(amendment, changes, by=api_user(), expected_version=expected_version(amendment, payload))
    return present(amendment)
