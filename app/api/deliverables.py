"""/api/v1/deliverables: what is owed, hand-ins (multipart upload) and reviews."""

from __future__ import annotations

from flask import abort, request, url_for
from sqlalchemy.orm import selectinload

from app.api import schemas
from app.api.agreements import organization_ref, person, texts
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
    uploaded,
    with_etag,
)
from app.core import clock
from app.core.permissions import can, get_occurrence_or_404
from app.core.storage import send_stored
from app.deliverables import services
from app.deliverables.falling_due import shown_status_of
from app.deliverables.forms import DeliverableFilterForm
from app.deliverables.models import (
    STATUS_LABELS,
    Occurrence,
    Submission,
    SubmissionFile,
)
from app.extensions import db

blueprint = api_blueprint("deliverables", "Deliverables owed under active agreements, hand-ins and reviews.")


def present(occurrence: Occurrence) -> dict:
    today = clock.today()
    deliverable, agreement = occurrence.deliverable, occurrence.deliverable.agreement
    shown = shown_status_of(occurrence, today)
    return {
        "id": occurrence.id,
        "agreement": {"id": agreement.id, "reference": agreement.reference, "title": agreement.title},
        "deliverable": {
            "id": deliverable.id,
            "title": deliverable.title,
            "titles": texts(deliverable, "title"),
            "recurrence": deliverable.recurrence,
        },
        "responsible": organization_ref(deliverable.responsible_organization),
        "due_on": occurrence.due_on,
        "status": occurrence.status,
        "shown_status": shown,
        "status_label": str(STATUS_LABELS[shown]),
        "waived_reason": occurrence.waived_reason,
        "version": occurrence.version,
        "submissions": [
            {
                "number": s.number,
                "submitted_at": s.submitted_at,
                "submitted_by": person(s.submitted_by),
                "note": s.note,
                "decision": s.decision,
                "feedback": s.feedback,
                "reviewed_at": s.reviewed_at,
                "files": [
                    {
                        "id": f.id,
                        "name": f.original_name,
                        "sha256": f.stored_file.sha256,
                        "size": f.stored_file.size,
                        "download_url": url_for("api_deliverables.download_file", file_id=f.id),
                    }
                    for f in s.files
                ],
            }
            for s in occurrence.submissions
        ],
        "url": url_for("deliverables.view_occurrence", occurrence_id=occurrence.id),
    }


@blueprint.route("/deliverables", methods=["GET"])
@blueprint.arguments(schemas.OccurrenceQuerySchema, location="query", as_kwargs=True)
@blueprint.response(200, schemas.page_schema(schemas.OccurrenceSchema, "OccurrencePage"))
@errors(blueprint, 400, 403)
def list_deliverables(page, per_page, **filters):
    """Due dates of deliverables on agreements the caller may see, soonest first."""
    user = api_user()
    if not can(user, "deliverable.list"):
        abort(403)
    refuse_filters_pages_refuse(DeliverableFilterForm, ("due_after", "due_before"))
    query = services.occurrences_query(
        user,
        services.OccurrenceFilters(
            status=filters.get("status"),
            agreement_id=filters.get("agreement"),
            partner_id=filters.get("responsible"),
            due_before=filters.get("due_before"),
            due_after=filters.get("due_after"),
        ),
        clock.today(),
    )
    # What present() reads of each hand-in, loaded for the whole page at once.
    query = query.options(
        selectinload(Occurrence.submissions).joinedload(Submission.submitted_by),
        selectinload(Occurrence.submissions).selectinload(Submission.files),
    )
    result = page_of(query, {"page": page, "per_page": per_page})
    result["items"] = [present(o) for o in result["items"]]
    return result


@blueprint.route("/deliverables/<int:occurrence_id>", methods=["GET"])
@blueprint.response(200, schemas.OccurrenceSchema, headers=ETAG_HEADER)
@errors(blueprint, 403, 404)
def get_deliverable(occurrence_id: int):
    occurrence = get_occurrence_or_404(occurrence_id, api_user())
    return with_etag(present(occurrence), occurrence)


@blueprint.route("/deliverables/<int:occurrence_id>/submissions", methods=["POST"])
@blueprint.arguments(schemas.SubmissionInputSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, schemas.HandInSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def submit_deliverable(form, occurrence_id: int):
    """Hand in one or more files (multipart field `files`, repeated) with an optional note, and the value
    achieved for each of the deliverable's indicators (field `indicator_<id>`, required when it has any).
    A file with the same bytes as one sent before it is kept once: `kept_once` names each."""
    occurrence = get_occurrence_or_404(occurrence_id, api_user(), need="submit")
    uploads = uploaded("files")
    kept_once: list[dict] = []
    services.submit(
        occurrence,
        uploads,
        note=form.get("note"),
        by=api_user(),
        expected_version=expected_version(occurrence, form),
        indicator_values=request.form,
        on_kept_once=lambda name, same_as: kept_once.append({"name": name, "same_as": same_as}),
    )
    return {**present(occurrence), "kept_once": kept_once}


@blueprint.route("/deliverables/<int:occurrence_id>/review", methods=["POST"])
@blueprint.arguments(schemas.ReviewInputSchema)
@blueprint.response(200, schemas.OccurrenceSchema)
@errors(blueprint, 400, 403, 404, 409, 413, 422)
@conditional(blueprint)
def review_deliverable(payload, occurrence_id: int):
    """Accept the latest hand-in, or send it back with a comment the partner reads."""
    occurrence = get_occurrence_or_404(occurrence_id, api_user(), need="review")
    services.review(
        occurrence,
        decision=payload["decision"],
        feedback=payload.get("comment"),
        by=api_user(),
        expected_version=expected_version(occurrence, payload),
    )
    return present(occurrence)


@blueprint.route("/deliverables/files/<int:file_id>/content", methods=["GET"])
@file_download(blueprint)
@errors(blueprint, 403, 404)
def download_file(file_id: int):
    record = db.session.get(SubmissionFile, file_id)
    if record is None:
        abort(404)
    get_occurrence_or_404(record.submission.occurrence_id, api_user())  # the same door as the page
    return send_stored(record.stored_file, record.original_name)
