"""/api/v1/agreements: the list, one agreement, its moves, approvals, history and documents."""

from __future__ import annotations

from flask import abort, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.agreements import importing, renewals, services
from app.agreements.forms import AgreementFilterForm
from app.agreements.models import Agreement
from app.api import schemas
from app.api import work_schemas as ws
from app.api.core import (
    ETAG_HEADER,
    api_blueprint,
    api_user,
    conditional,
    errors,
    expected_version,
    file_download,
    page_of,
    refuse_filters_pages_refuse,
    with_etag,
)
from app.core import clock
from app.core.audit import history_for
from app.core.i18n import gettext as _
from app.core.permissions import (
    can,
    get_agreement_or_404,
    get_document_or_404,
    sees_deliverables_of,
    viewable_agreement_ids,
    visible_documents_clause,
)
from app.core.storage import send_stored
from app.deliverables.before_sharaka import (
    brings_into_force,
    follow_choice,
    past_due_at_activation,
    past_due_message,
    settled_message,
)
from app.extensions import db
from app.workflow import engine
from app.workflow.models import AgreementDocument, ApprovalRound

blueprint = api_blueprint("agreements", "Agreements, their workflow moves, approvals, history and documents.")


def texts(obj, name: str) -> dict:
    return {lang: getattr(obj, f"{name}_{lang}", None) for lang in ("ar", "fr", "en")}


def person(user) -> dict | None:
    return {"id": user.id, "name": user.full_name} if user is not None else None


def organization_ref(organization) -> dict:
    return {"id": organization.id, "name": organization.name, "acronym": organization.acronym}


def linked_ids(agreements) -> list[int | None]:
    """The agreements each of `agreements` names (its parent, what it renews, its renewals)."""
    return [
        linked
        for agreement in agreements
        for linked in (agreement.parent_id, agreement.renewal_of_id, *(r.id for r in agreement.renewals))
    ]


def present(agreement: Agreement, viewable: set[int] | None = None) -> dict:
    """The agreement as the API gives it. `viewable`: which of its linked agreements the caller may see
    (viewable_agreement_ids of its linked_ids, asked once for a whole page), else asked here."""
    user = api_user()
    if viewable is None:
        viewable = viewable_agreement_ids(user, linked_ids([agreement]))
    return {
        "id": agreement.id,
        "reference": agreement.reference,
        "type": agreement.type,
        "state": agreement.state,
        "state_label": engine.state_label(agreement),
        "title": agreement.title,
        "titles": texts(agreement, "title"),
        "summaries": texts(agreement, "summary"),
        "notes": agreement.notes if can(user, "agreement.notes") else None,
        "owner": person(agreement.owner),
        # As on the page: a parent the caller may not see is not named.
        "parent_id": agreement.parent_id if agreement.parent_id in viewable else None,
        "signing_event_id": agreement.signing_event_id,
        "signed_on": agreement.signed_on,
        "effective_on": agreement.effective_on,
        "expires_on": agreement.expires_on,
        "state_entered_at": agreement.state_entered_at,
        "parties": [{"organization": organization_ref(p.organization), "role": p.role} for p in agreement.parties],
        "renewal": {
            **renewals.current_terms(agreement),
            "notice_deadline": agreement.notice_deadline,
            "non_renewal_on": agreement.non_renewal_on,
            "non_renewal_by": agreement.non_renewal_by,
            "non_renewal_organization_id": agreement.non_renewal_organization_id,
            "renewal_of_id": agreement.renewal_of_id if agreement.renewal_of_id in viewable else None,
            "renewal_ids": [r.id for r in agreement.renewals if r.id in viewable],
        },
        "version": agreement.version,
        "created_at": agreement.created_at,
        "updated_at": agreement.updated_at,
        "url": url_for("agreements.view_agreement", agreement_id=agreement.id),
    }


@blueprint.route("/agreements", methods=["GET"])
@blueprint.arguments(schemas.AgreementQuerySchema, location="query", as_kwargs=True)
@blueprint.response(200, schemas.page_schema(schemas.AgreementSchema, "AgreementPage"))
@errors(blueprint, 400, 403)
def list_agreements(page, per_page, **filters):
    """The agreements the caller may see, filtered, newest first."""
    user = api_user()
    if not can(user, "agreement.list"):
        abort(403)
    refuse_filters_pages_refuse(AgreementFilterForm, ("signed_after", "signed_before", "ends_after", "ends_before"))
    query = services.agreements_query(
        user,
        services.AgreementFilters(
            **services.state_filters(filters.get("state")),
            type=filters.get("type"),
            partner_id=filters.get("partner"),
            year=filters.get("year"),
            q=filters.get("q"),
            signed_after=filters.get("signed_after"),
            signed_before=filters.get("signed_before"),
            ends_after=filters.get("ends_after"),
            ends_before=filters.get("ends_before"),
        ),
    )
    # Each item names its renewals: read for the whole page at once.
    result = page_of(query.options(selectinload(Agreement.renewals)), {"page": page, "per_page": per_page})
    viewable = viewable_agreement_ids(user, linked_ids(result["items"]))  # one question for the page
    result["items"] = [present(a, viewable) for a in result["items"]]
    return result


@blueprint.route("/agreements", methods=["POST"])
@blueprint.arguments(schemas.AgreementInputSchema)
@blueprint.response(201, schemas.AgreementSchema)
@errors(blueprint, 400, 403, 409, 413, 422)
def create_agreement(payload):
    """Create a draft agreement (ministry editors)."""
    user = api_user()
    if not can(user, "agreement.create"):
        abort(403)
    agreement = services.create_agreement(_data(payload, None), by=user)
    return present(agreement)


@blueprint.route("/agreements/import", methods=["POST"])
@blueprint.arguments(ws.ImportFormSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, ws.ImportResultSchema)
@errors(blueprint, 400, 403, 413, 422)
def import_agreements(form):
    """Import agreements from a spreadsheet, every row or none (managers and admins; the columns: the
    Agreements → Import page). `check=true` answers 200 with each row's verdict and writes nothing; a refused
    file answers 422 with the errors of each row ("row_4.partners")."""
    user = api_user()
    if not can(user, "agreement.import"):
        abort(403)
    content, filename = importing.read_upload(form.get("file"))
    if form.get("check"):
        return _imported(importing.check(content, filename, by=user)), 200
    return _imported(importing.import_agreements(content, filename, by=user, reason=form.get("reason")))


def _imported(result: importing.ImportResult) -> dict:
    return {
        "ok": result.ok,
        "file_errors": result.file_errors,
        "rows": [
            {
                "row": row.number,
                "title": row.title,
                "errors": row.errors,
                "agreement": present(row.agreement) if row.agreement is not None else None,
            }
            for row in result.rows
        ],
    }


@blueprint.route("/agreements/<int:agreement_id>", methods=["GET"])
@blueprint.response(200, schemas.AgreementSchema, headers=ETAG_HEADER)
@errors(blueprint, 403, 404)
def get_agreement(agreement_id: int):
    """The agreement, its ETag its version: send it back as If-Match with a change (412 if it changed since)."""
    agreement = get_agreement_or_404(agreement_id, api_user())
    return with_etag(present(agreement), agreement)


@blueprint.route("/agreements/<int:agreement_id>", methods=["PATCH"])
@blueprint.arguments(schemas.AgreementPatchSchema)
@blueprint.response(200, schemas.AgreementSchema, headers=ETAG_HEADER)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def update_agreement(payload, agreement_id: int):
    """Change some fields; the others keep their values. Send the ETag as If-Match (412), or `version` (409), to
    be told of a concurrent edit."""
    agreement = get_agreement_or_404(agreement_id, api_user(), need="edit")
    version = expected_version(agreement, payload)
    payload.pop("version", None)
    services.update_agreement(agreement, _data(payload, agreement), by=api_user(), expected_version=version)
    return with_etag(present(agreement), agreement)


def _data(payload: dict, agreement: Agreement | None) -> services.AgreementData:
    """The service's plain values: the payload over the agreement's current ones (for PATCH)."""
    current = {}
    if agreement is not None:
        current = {name: getattr(agreement, name) for name in services.TERM_FIELDS}
        current["parties"] = [(p.organization_id, p.role) for p in agreement.parties]
    values = {**current, **{k: v for k, v in payload.items() if k != "parties"}}
    if "parties" in payload:
        values["parties"] = [(p["organization_id"], p["role"]) for p in payload["parties"] or []]
    return services.AgreementData(**values)


# --- workflow -----------------------------------------------------------------------------


def present_option(option, agreement) -> dict:
    transition = option.transition
    # As on the page: a document the move asks for is sent with it (multipart), so it blocks nothing here.
    reasons = [str(r) for r in option.reasons]
    return {
        "name": transition.name,
        "label": engine.label(transition.label),
        "allowed": option.is_allowed and not reasons,
        "reasons": list(dict.fromkeys(reasons)),
        "comment": transition.comment,
        "fields_": list(transition.fields),
        "documents": list(transition.documents),
        "is_approval": transition.approval is not None,
        "approval_step": option.approval_step.name if option.approval_step else None,
        "acting_for": option.acting_for.full_name if option.acting_for else None,
        "target": transition.target,
        "past_due": past_due_of(agreement, transition),
    }


def past_due_of(agreement, transition) -> dict | None:
    """As the page's activation form says it: the reports the move, in force from the date the agreement has
    (or its signature's), would leave due before today; None for any other move, or none."""
    if not brings_into_force(transition) or not sees_deliverables_of(api_user(), agreement.id):
        return None
    dates = past_due_at_activation(agreement, agreement.effective_on or agreement.signed_on, clock.today())
    if not dates:
        return None
    return {"count": len(dates), "first_due_on": dates[0], "message": past_due_message(dates)}


def moved(agreement, transition_name: str, past_due: str, by) -> dict:
    """The answer to a move taken through the API (JSON or multipart), after what was chosen for the reports
    it left due before today (before_sharaka.follow_choice)."""
    settled = follow_choice(agreement, transition_name, past_due, by=by, today=clock.today())
    message = _("The agreement is now in the stage “%(state)s”.", state=engine.state_label(agreement))
    return {
        "agreement": present(agreement),
        "message": f"{message} {settled_message(settled)}" if settled else message,
        "settled_before_sharaka": [occurrence.id for occurrence in settled],
    }


@blueprint.route("/agreements/<int:agreement_id>/transitions", methods=["GET"])
@blueprint.response(200, schemas.TransitionOptionSchema(many=True))
@errors(blueprint, 403, 404)
def list_transitions(agreement_id: int):
    """The moves the caller may see from the agreement's stage: allowed now, or blocked and why."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user)
    if not can(user, "agreement.act", agreement):
        return []
    return [present_option(o, agreement) for o in engine.actions_for(agreement, user, clock.today())]


@blueprint.route("/agreements/<int:agreement_id>/transitions", methods=["POST"])
@blueprint.arguments(schemas.TransitionInputSchema)
@blueprint.response(200, schemas.TransitionResultSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def take_transition(payload, agreement_id: int):
    """Take a move (or decide an approval). 409 when it is no longer possible or the agreement changed.
    A move that asks for a document (terminate: the termination notice) is sent as multipart to
    /agreements/{agreement_id}/transitions/{transition}."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="act")
    engine.act(
        agreement,
        str(payload["transition"])[:60],
        by=user,
        decision=payload.get("decision"),
        comment=payload.get("comment"),
        values=payload.get("fields_") or {},
        documents={},
        expected_version=expected_version(agreement, payload),
        child_decisions=payload.get("children") or {},
        step=payload.get("step"),
    )
    return moved(agreement, str(payload["transition"])[:60], payload["past_due"], user)


@blueprint.route("/agreements/<int:agreement_id>/approvals", methods=["GET"])
@blueprint.response(200, schemas.ApprovalRoundSchema(many=True))
@errors(blueprint, 403, 404)
def list_approvals(agreement_id: int):
    """Every approval round of the agreement with its decisions, newest first. Approvals are the
    ministry's internal work: a partner sees only the rounds its workflow shares with partners."""
    agreement = get_agreement_or_404(agreement_id, api_user())
    rounds = db.session.scalars(
        select(ApprovalRound)
        .where(ApprovalRound.agreement_id == agreement.id)
        .order_by(ApprovalRound.requested_at.desc(), ApprovalRound.id.desc())
    ).all()
    return [
        {
            "id": r.id,
            "transition": r.transition,
            "from_state": r.from_state,
            "status": r.status,
            "requested_at": r.requested_at,
            "requested_by": person(r.requested_by),
            "closed_at": r.closed_at,
            "decisions": [
                {
                    "step": d.step,
                    "decision": d.decision,
                    "by": person(d.approver),
                    "counted_for": person(d.counted_user),
                    "comment": d.comment,
                    "decided_at": d.decided_at,
                }
                for d in r.decisions
            ],
        }
        for r in engine.visible_rounds(agreement, api_user(), rounds)
    ]


@blueprint.route("/agreements/<int:agreement_id>/history", methods=["GET"])
@blueprint.response(200, schemas.AuditEventSchema(many=True))
@errors(blueprint, 403, 404)
def list_history(agreement_id: int):
    """The agreement's audit trail, newest first (ministry staff)."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user)
    if not can(user, "agreement.history", agreement):
        abort(403)
    return [
        {
            "id": e.id,
            "occurred_at": e.occurred_at,
            "actor": e.actor_label,
            "action": e.action,
            "changes": e.changes or {},
            "comment": e.comment,
        }
        for e in history_for("agreements", agreement.id)
    ]


@blueprint.route("/agreements/<int:agreement_id>/documents", methods=["GET"])
@blueprint.response(200, schemas.DocumentSchema(many=True))
@errors(blueprint, 403, 404)
def list_documents(agreement_id: int):
    """Text versions, the signed copy and other files of the agreement."""
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="documents")
    documents = db.session.scalars(
        select(AgreementDocument)
        .where(AgreementDocument.agreement_id == agreement.id, visible_documents_clause(user))
        .order_by(AgreementDocument.uploaded_at, AgreementDocument.id)
    )
    return [present_document(d) for d in documents]


def present_document(document: AgreementDocument) -> dict:
    return {
        "id": document.id,
        "kind": document.kind,
        "name": document.original_name,
        "sha256": document.stored_file.sha256,
        "size": document.stored_file.size,
        "content_type": document.stored_file.content_type,
        "uploaded_at": document.uploaded_at,
        "uploaded_by": person(document.uploaded_by),
        "download_url": url_for(
            "api_agreements.download_document", agreement_id=document.agreement_id, document_id=document.id
        ),
    }


@blueprint.route("/agreements/<int:agreement_id>/documents/<int:document_id>/content", methods=["GET"])
@file_download(blueprint)
@errors(blueprint, 403, 404)
def download_document(agreement_id: int, document_id: int):
    user = api_user()
    agreement = get_agreement_or_404(agreement_id, user, need="documents")
    document = get_document_or_404(agreement, document_id, user)
    return send_stored(document.stored_file, document.original_name)
