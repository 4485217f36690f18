"""/api/v1/agreements/{id}/…: the work done inside a stage, as the agreement's page does it —
moves that carry a document (multipart), the draft text before the negotiation, negotiation
versions, signatories and signatures, the signed copy, an amendment's changes. Each call loads
and checks the agreement as the page does and calls the same service; what it shows comes from
the page's own panel."""

from __future__ import annotations

from app.agreements import amendments
from app.api import work_schemas as ws
from app.api.agreements import moved, organization_ref, person, present, present_document
from app.api.core import LOCATION_HEADER, api_blueprint, api_user, conditional, errors, expected_version, uploaded
from app.api.schemas import DocumentSchema, TransitionResultSchema
from app.core.i18n import gettext as _
from app.core.permissions import get_agreement_or_404
from app.workflow import drafts, engine, services
from app.workflow.presenter import build_panel

blueprint = api_blueprint(
    "stages",
    "Work inside an agreement's stages: moves with documents, the draft text, negotiation "
    "versions, signatories and signatures, the signed copy, amendments.",
)


@blueprint.route("/agreements/<int:agreement_id>/transitions/<transition>", methods=["POST"])
@blueprint.arguments(ws.MoveFormSchema, location="form", content_type="multipart/form-data")
@blueprint.response(200, TransitionResultSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def take_transition_with_documents(form, agreement_id: int, transition: str):
    """Take a move with the documents it asks for (multipart: `termination_notice` for terminate), its
    dates and comment; or decide an approval. The same move as the page's action form."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    values = {name: form.get(name) for name in ("signed_on", "effective_on", "expires_on")}
    documents = {"termination_notice": form.get("termination_notice")}
    engine.act(
        agreement,
        transition[:60],
        by=user,
        decision=form.get("decision"),
        comment=form.get("comment"),
        values=values,
        documents=documents,
        expected_version=expected_version(agreement, form),
        child_decisions=form.get("children") or {},
        step=form.get("step"),
    )
    return moved(agreement, transition[:60], form["past_due"], user)


# --- the draft text, before the negotiation ------------------------------------------------------


@blueprint.route("/agreements/<int:agreement_id>/drafts", methods=["POST"])
@blueprint.arguments(ws.DraftTextFormSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, DocumentSchema, headers=LOCATION_HEADER)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def attach_draft_text(form, agreement_id: int):
    """Attach the agreement's draft text (multipart `file`: DOCX, ODT or PDF) while the ministry drafts and reviews
    it: it becomes the draft under review. Those who edit the agreement; a partner never sees it. The document
    as the documents list shows it, its download at `Location`."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="edit")
    version = expected_version(agreement, form)
    document = drafts.attach_draft_text(agreement, uploaded("file", many=False), by=user, expected_version=version)
    attached = present_document(document)
    return attached, {"Location": attached["download_url"]}


# --- negotiation -------------------------------------------------------------------------------


def present_negotiation(agreement) -> dict:
    panel = build_panel(agreement, api_user())
    rounds = panel.negotiation_rounds
    return {
        "is_text_locked": panel.is_text_locked,
        "awaited_parties": [organization_ref(o) | {"is_ministry": o.is_home} for o in panel.waiting_parties],
        "turn": services.side_awaited(panel.waiting_parties),
        "your_side": panel.user_side,
        "can_send_version": panel.can_send_version,
        "can_accept_version": panel.can_accept_version,
        "version": agreement.version,
        "versions": [
            {
                "id": r.id,
                "number": r.number,
                "side": r.side,
                "sent_by": person(r.sent_by),
                "sent_at": r.sent_at,
                "note": r.note,
                "document": present_document(r.document) if r.document else None,
                "ministry_accepted_by": person(r.ministry_accepted_by),
                "ministry_accepted_at": r.ministry_accepted_at,
                "partner_accepted_by": person(r.partner_accepted_by),
                "partner_accepted_at": r.partner_accepted_at,
                "is_agreed": r.is_agreed,
            }
            for r in rounds
        ],
    }


# Reading the negotiation and accepting a version: app/api/negotiation.py (every party's acceptance).


@blueprint.route("/agreements/<int:agreement_id>/negotiation/versions", methods=["POST"])
@blueprint.arguments(ws.SendVersionFormSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, ws.NegotiationSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def send_version(form, agreement_id: int):
    """Send a new version of the text (multipart `file`, or for the ministry's first version `from_draft_id`, a draft
    text sent as reviewed; optional `note`); the other side's turn begins."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    draft_id = form.get("from_draft_id")
    services.send_version(
        agreement,
        by=user,
        upload=form.get("file"),
        note=form.get("note"),
        expected_version=expected_version(agreement, form),
        on_behalf_of_partner=form.get("on_behalf_of_partner", False),
        from_draft=drafts.draft_text_named(agreement, draft_id, user) if draft_id is not None else None,
    )
    return present_negotiation(agreement)


# --- signatures --------------------------------------------------------------------------------


def present_signatures(agreement) -> dict:
    panel = build_panel(agreement, api_user())
    # A partner signatory is said to sign for an organisation only when it is one of the partner parties.
    signing = {s for party in panel.signing_parties for s in party.signatories}
    return {
        "can_manage_signatures": panel.can_manage_signatures,
        "version": agreement.version,
        "signatories": [
            {
                "id": s.id,
                "position": s.position,
                "side": s.side,
                "organization": organization_ref(s.organization) if s.side == "partner" and s in signing else None,
                "name": s.name,
                "title": s.title,
                "signed_on": s.signed_on,
                "recorded_at": s.recorded_at,
            }
            for s in sorted(panel.signatories, key=lambda s: s.position)
        ],
        "parties": [
            {
                "side": "ministry" if party.is_ministry else "partner",
                "organization": None if party.is_ministry else organization_ref(party.organization),
                "is_signed": party.is_signed,
                "signed_on": party.signed_on,
            }
            for party in panel.signing_parties
        ],
    }


@blueprint.route("/agreements/<int:agreement_id>/signatories", methods=["GET"])
@blueprint.response(200, ws.SignaturesSchema)
@errors(blueprint, 403, 404)
def list_signatories(agreement_id: int):
    """Who signs, in order, and when they signed."""
    return present_signatures(get_agreement_or_404(agreement_id, api_user()))


@blueprint.route("/agreements/<int:agreement_id>/signatories", methods=["POST"])
@blueprint.arguments(ws.SignatoryInputSchema)
@blueprint.response(201, ws.SignaturesSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def add_signatory(payload, agreement_id: int):
    """Plan one more signatory (the ministry side, during the signature stage); they sign in order."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    services.require_ministry_side(agreement, user)
    services.add_signatory(
        agreement,
        by=user,
        side=payload["side"],
        organization_id=payload.get("organization_id"),
        name=payload["name"],
        title=payload.get("title"),
        expected_version=expected_version(agreement, payload),
    )
    return present_signatures(agreement)


@blueprint.route("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/signature", methods=["POST"])
@blueprint.arguments(ws.SignatureInputSchema)
@blueprint.response(200, ws.SignaturesSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def record_signature(payload, agreement_id: int, signatory_id: int):
    """Record that a signatory signed on `signed_on` (never in the future, never before the one before)."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    services.require_ministry_side(agreement, user)
    services.record_signature(
        agreement,
        signatory_id,
        by=user,
        signed_on=payload["signed_on"],
        expected_version=expected_version(agreement, payload),
    )
    return present_signatures(agreement)


@blueprint.route("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/signature", methods=["DELETE"])
@blueprint.response(200, ws.SignaturesSchema)
@errors(blueprint, 403, 404, 409, 422)
@conditional(blueprint)
def withdraw_signature(agreement_id: int, signatory_id: int):
    """Take back a signature recorded in error, with those recorded after it (they sign in order)."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    services.withdraw_signature(agreement, signatory_id, by=user, expected_version=expected_version(agreement, {}))
    return present_signatures(agreement)


@blueprint.route("/agreements/<int:agreement_id>/signatories/<int:signatory_id>", methods=["DELETE"])
@blueprint.response(200, ws.SignaturesSchema)
@errors(blueprint, 403, 404, 409, 422)
@conditional(blueprint)
def remove_signatory(agreement_id: int, signatory_id: int):
    """Strike out a signatory named in error, while they have not signed (a signed one is taken back first)."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    services.remove_signatory(agreement, signatory_id, by=user, expected_version=expected_version(agreement, {}))
    return present_signatures(agreement)


@blueprint.route("/agreements/<int:agreement_id>/signed-copy", methods=["POST"])
@blueprint.arguments(ws.SignedCopyFormSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, DocumentSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def upload_signed_copy(form, agreement_id: int):
    """Store the scan of the signed agreement (multipart `file`), with its SHA-256."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    services.require_ministry_side(agreement, user)
    document = services.upload_signed_copy(
        agreement, form.get("file"), by=user, expected_version=expected_version(agreement, form)
    )
    return present_document(document)


@blueprint.route("/agreements/<int:agreement_id>/amendment", methods=["POST"])
@blueprint.arguments(ws.AmendmentInputSchema)
@blueprint.response(200, TransitionResultSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def set_amendment(payload, agreement_id: int):
    """Say what a draft amendment changes in its parent (for now: the parent's end date)."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="edit")
    amendments.set_amendment_changes(
        agreement,
        new_expires_on=payload["new_expires_on"],
        by=user,
        expected_version=expected_version(agreement, payload),
    )
    return {"agreement": present(agreement), "message": _("The amendment's changes are saved.")}
