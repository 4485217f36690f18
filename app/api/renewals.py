"""/api/v1/agreements/{id}/non-renewal and /renewals: a notice of non-renewal, and "Renew" (a linked
renewal agreement prefilled from the current one); the same services as the agreement's page."""

from __future__ import annotations

from app.agreements import renewals, renewing
from app.api import schemas
from app.api.agreements import present
from app.api.core import api_blueprint, api_user, conditional, errors, expected_version
from app.api.work_schemas import NonRenewalFormSchema
from app.core.permissions import get_agreement_or_404, require

blueprint = api_blueprint("renewals", "Renewals: notice of non-renewal and renewal agreements.")


@blueprint.route("/agreements/<int:agreement_id>/non-renewal", methods=["POST"])
@blueprint.json_or_multipart(schemas.NonRenewalInputSchema, NonRenewalFormSchema)
@blueprint.response(200, schemas.AgreementSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def record_non_renewal(payload, agreement_id: int):
    """Record that one side gave notice of non-renewal (by the notice deadline): a tacit renewal no
    longer happens and the notice reminders stop. JSON, or multipart with the notice itself attached
    (field `document`, the same files as the page takes)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    document = payload.get("document")
    renewals.record_non_renewal(
        agreement,
        by=api_user(),
        given_on=payload["given_on"],
        side=payload["side"],
        organization_id=payload.get("organization_id"),
        upload=document if document and document.filename else None,
        expected_version=expected_version(agreement, payload),
    )
    return present(agreement)


@blueprint.route("/agreements/<int:agreement_id>/non-renewal/withdrawal", methods=["POST"])
@blueprint.arguments(schemas.NonRenewalWithdrawalSchema)
@blueprint.response(200, schemas.AgreementSchema)
@errors(blueprint, 400, 403, 404, 409, 422)
@conditional(blueprint)
def withdraw_non_renewal(payload, agreement_id: int):
    """Take back a notice of non-renewal recorded in error, with the reason (kept in the history)."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    renewals.withdraw_non_renewal(
        agreement,
        by=api_user(),
        reason=payload["reason"],
        expected_version=expected_version(agreement, payload),
    )
    return present(agreement)


@blueprint.route("/agreements/<int:agreement_id>/renewals", methods=["POST"])
@blueprint.response(201, schemas.AgreementSchema)
@errors(blueprint, 403, 404, 409, 422)
def renew_agreement(agreement_id: int):
    """Start a renewal agreement prefilled from this one (type, titles, summaries, parties, renewal terms,
    budget lines and plan, starting on its end date), linked both ways; answers the new draft."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    require(api_user(), "agreement.create")
    return present(renewing.renew(agreement, by=api_user()))
