"""/api/v1/agreements/<id>/negotiation: the versions of the text, each party's acceptance, and
the two ways to accept — for one's own party, or (ministry staff) for a partner with its proof."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, fields, validate

from app.api import work_schemas as ws
from app.api.agreements import organization_ref, person
from app.api.core import api_blueprint, api_user, conditional, errors, expected_version, uploaded
from app.api.schemas import MAX_ID, StrictSchema
from app.api.stages import present_negotiation
from app.core.permissions import get_agreement_or_404
from app.workflow import services

blueprint = api_blueprint("negotiation", "The negotiated text: every party's acceptance, in turn.")


class AcceptanceSchema(Schema):
    organization = fields.Dict()
    side = fields.String()
    accepted_by = fields.Dict(allow_none=True)
    accepted_at = fields.DateTime()
    on_behalf = fields.Boolean(metadata={"description": "Recorded by ministry staff, with a proof document."})
    proof_document_id = fields.Integer(allow_none=True)


class RoundSchema(Schema):
    number = fields.Integer()
    side = fields.String()
    sent_at = fields.DateTime()
    acceptances = fields.List(fields.Nested(AcceptanceSchema))


class NegotiationWithPartiesSchema(ws.NegotiationSchema):
    """The versions and the caller's possible answers (ws.NegotiationSchema), with every party's acceptance."""

    locked = fields.Boolean()
    rounds = fields.List(fields.Nested(RoundSchema))
    waiting = fields.List(
        fields.Dict(), metadata={"description": "The parties still to answer: `awaited_parties` without `is_ministry`."}
    )


class AcceptInputSchema(StrictSchema):
    version = fields.Integer(strict=True, validate=validate.Range(1, MAX_ID))


class RecordInputSchema(Schema):
    """Multipart: the partner party and the proof of its acceptance (e.g. its e-mail)."""

    class Meta:
        unknown = EXCLUDE

    organization_id = fields.Integer(required=True, validate=validate.Range(1, MAX_ID))
    version = fields.Integer(validate=validate.Range(1, MAX_ID))
    proof = Upload(metadata={"description": "The document that proves the acceptance."})


def present(agreement) -> dict:
    negotiation = present_negotiation(agreement)
    return {
        **negotiation,
        "locked": agreement.agreed_round_id is not None,
        "version": agreement.version,
        "waiting": [{key: party[key] for key in ("id", "name", "acronym")} for party in negotiation["awaited_parties"]],
        "rounds": [
            {
                "number": r.number,
                "side": r.side,
                "sent_at": r.sent_at,
                "acceptances": [
                    {
                        "organization": organization_ref(a.organization),
                        "side": a.side,
                        "accepted_by": person(a.accepted_by),
                        "accepted_at": a.accepted_at,
                        "on_behalf": a.is_on_behalf,
                        "proof_document_id": a.proof_document_id,
                    }
                    for a in r.acceptances
                ],
            }
            for r in agreement.negotiation_rounds
        ],
    }


@blueprint.route("/agreements/<int:agreement_id>/negotiation", methods=["GET"])
@blueprint.response(200, NegotiationWithPartiesSchema)
@errors(blueprint, 403, 404)
def get_negotiation(agreement_id: int):
    """The versions exchanged, who accepted each, and which parties must still answer."""
    return present(get_agreement_or_404(agreement_id, api_user()))


@blueprint.route("/agreements/<int:agreement_id>/negotiation/accept", methods=["POST"])
@blueprint.arguments(AcceptInputSchema)
@blueprint.response(200, NegotiationWithPartiesSchema)
@errors(blueprint, 400, 403, 404, 409, 422)
@conditional(blueprint)
def accept_version(payload, agreement_id: int):
    """Accept the latest version for one's own party (the ministry, or one's partner organisation)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="act")
    services.accepting_party(agreement, api_user())
    services.accept_version(agreement, by=api_user(), expected_version=expected_version(agreement, payload))
    return present(agreement)


@blueprint.route("/agreements/<int:agreement_id>/negotiation/acceptances", methods=["POST"])
@blueprint.arguments(RecordInputSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, NegotiationWithPartiesSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def record_acceptance(form, agreement_id: int):
    """Ministry staff record a partner party's acceptance given outside Sharaka, with its proof (field `proof`)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="act")
    services.require_recording_acceptances(agreement, api_user())
    services.record_acceptance_on_behalf(
        agreement,
        organization_id=form["organization_id"],
        proof=uploaded("proof", many=False),
        by=api_user(),
        expected_version=expected_version(agreement, form),
    )
    return present(agreement)
