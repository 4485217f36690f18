"""/api/v1/…/threads: the discussion threads of agreements and deliverables (same services and
permissions as the pages: an internal thread is 404 for a partner)."""

from __future__ import annotations

from flask import abort, url_for
from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, Schema, fields

from app.api.agreements import person
from app.api.core import api_blueprint, api_user, errors, file_download, uploaded
from app.api.schemas import PersonSchema, StrictSchema, SubmissionFileSchema, Text
from app.core.permissions import (
    can_download_attachment,
    get_agreement_or_404,
    get_message_or_404,
    get_occurrence_or_404,
    require_thread,
)
from app.core.storage import send_stored
from app.discussions import services
from app.discussions.models import AUDIENCES, DiscussionAttachment
from app.discussions.services import MAX_ATTACHMENTS, MAX_BODY
from app.extensions import db

blueprint = api_blueprint(
    "discussions",
    "Discussion threads on agreements and deliverables: internal to the ministry or shared with the partner parties.",
)
# A plain path parameter (the OpenAPI document names it {audience}): `internal` or `shared`, else 404.
AUDIENCE = "<audience>"


class RevisionSchema(Schema):
    body = fields.String()
    written_at = fields.DateTime()
    replaced_at = fields.DateTime()


class MessageSchema(Schema):
    id = fields.Integer()
    audience = fields.String(metadata={"description": "internal (ministry only) or shared (with the partners)"})
    author = fields.Nested(PersonSchema, allow_none=True)
    body = fields.String()
    created_at = fields.DateTime()
    edited_at = fields.DateTime(allow_none=True)
    is_edited = fields.Boolean()
    mentions = fields.List(fields.Nested(PersonSchema))
    attachments = fields.List(fields.Nested(SubmissionFileSchema))  # the same shape: a stored file
    earlier_versions = fields.List(fields.Nested(RevisionSchema))


class ThreadSchema(Schema):
    items = fields.List(fields.Nested(MessageSchema))


class MessageInputSchema(Schema):
    """A new message (multipart: `body`, and `files` repeated for attachments)."""

    class Meta:
        unknown = EXCLUDE

    # Not required here: the service says what is missing, after who-may-write is decided.
    body = Text(
        MAX_BODY, load_default=None, metadata={"description": "Mention someone with @ and their e-mail address."}
    )
    files = fields.List(
        Upload(),
        metadata={"description": f"Up to {MAX_ATTACHMENTS} attachments (repeat the field), MAX_UPLOAD_MB in all."},
    )


class MessagePatchSchema(StrictSchema):
    body = Text(MAX_BODY, required=True)


def present(message) -> dict:
    return {
        "id": message.id,
        "audience": message.audience,
        "author": person(message.author),
        "body": message.body,
        "created_at": message.created_at,
        "edited_at": message.edited_at,
        "is_edited": message.is_edited,
        "mentions": [person(m.user) for m in message.mentions],
        "attachments": [
            {
                "id": a.id,
                "name": a.original_name,
                "sha256": a.stored_file.sha256,
                "size": a.stored_file.size,
                "download_url": url_for("api_discussions.download_attachment", attachment_id=a.id),
            }
            for a in message.attachments
        ],
        "earlier_versions": [
            {"body": r.body, "written_at": r.written_at, "replaced_at": r.replaced_at} for r in message.revisions
        ],
    }


def _subject(agreement_id=None, occurrence_id=None, audience="shared"):
    if audience not in AUDIENCES:
        abort(404)
    if occurrence_id is not None:
        occurrence = get_occurrence_or_404(occurrence_id, api_user())
        agreement = occurrence.deliverable.agreement
    else:
        agreement, occurrence = get_agreement_or_404(agreement_id, api_user()), None
    require_thread(api_user(), agreement, audience, of_deliverable=occurrence is not None)
    return agreement, occurrence


def _list(agreement, occurrence, audience):
    return {"items": [present(m) for m in services.thread_messages(agreement, occurrence, audience)]}


def _post(agreement, occurrence, audience, form):
    services.require_posting(agreement, occurrence, audience, api_user())
    message = services.post_message(
        agreement,
        occurrence=occurrence,
        audience=audience,
        body=form.get("body"),
        uploads=uploaded("files"),
        by=api_user(),
    )
    return present(message)


def _patch(agreement, occurrence, audience, message_id, payload):
    message = get_message_or_404(
        message_id, api_user(), agreement_id=agreement.id, occurrence_id=occurrence.id if occurrence else None
    )
    if message.audience != audience or (occurrence is None and message.occurrence_id is not None):
        abort(404)
    services.edit_message(message, body=payload["body"], by=api_user(), agreement=agreement, occurrence=occurrence)
    return present(message)


@blueprint.route(f"/agreements/<int:agreement_id>/threads/{AUDIENCE}/messages", methods=["GET"])
@blueprint.response(200, ThreadSchema)
@errors(blueprint, 403, 404)
def list_agreement_messages(agreement_id: int, audience: str):
    """The messages of an agreement's thread, oldest first (internal: ministry only)."""
    return _list(*_subject(agreement_id=agreement_id, audience=audience), audience)


@blueprint.route(f"/agreements/<int:agreement_id>/threads/{AUDIENCE}/messages", methods=["POST"])
@blueprint.arguments(MessageInputSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, MessageSchema)
@errors(blueprint, 400, 403, 404, 413, 422)
def post_agreement_message(form, agreement_id: int, audience: str):
    """Post a message; mentioned people are notified, attachments follow the upload rules."""
    return _post(*_subject(agreement_id=agreement_id, audience=audience), audience, form)


@blueprint.route(f"/agreements/<int:agreement_id>/threads/{AUDIENCE}/messages/<int:message_id>", methods=["PATCH"])
@blueprint.arguments(MessagePatchSchema)
@blueprint.response(200, MessageSchema)
@errors(blueprint, 400, 403, 404, 422)
def edit_agreement_message(payload, agreement_id: int, audience: str, message_id: int):
    """Change your own message's text; the earlier text is kept and the message shows as edited."""
    return _patch(*_subject(agreement_id=agreement_id, audience=audience), audience, message_id, payload)


@blueprint.route(f"/deliverables/<int:occurrence_id>/threads/{AUDIENCE}/messages", methods=["GET"])
@blueprint.response(200, ThreadSchema)
@errors(blueprint, 403, 404)
def list_deliverable_messages(occurrence_id: int, audience: str):
    """The messages of a deliverable's thread, oldest first (internal: ministry only)."""
    return _list(*_subject(occurrence_id=occurrence_id, audience=audience), audience)


@blueprint.route(f"/deliverables/<int:occurrence_id>/threads/{AUDIENCE}/messages", methods=["POST"])
@blueprint.arguments(MessageInputSchema, location="form", content_type="multipart/form-data")
@blueprint.response(201, MessageSchema)
@errors(blueprint, 400, 403, 404, 413, 422)
def post_deliverable_message(form, occurrence_id: int, audience: str):
    """Post a message on a deliverable's thread."""
    return _post(*_subject(occurrence_id=occurrence_id, audience=audience), audience, form)


@blueprint.route(f"/deliverables/<int:occurrence_id>/threads/{AUDIENCE}/messages/<int:message_id>", methods=["PATCH"])
@blueprint.arguments(MessagePatchSchema)
@blueprint.response(200, MessageSchema)
@errors(blueprint, 400, 403, 404, 422)
def edit_deliverable_message(payload, occurrence_id: int, audience: str, message_id: int):
    """Change your own message on a deliverable's thread (the earlier text is kept)."""
    return _patch(*_subject(occurrence_id=occurrence_id, audience=audience), audience, message_id, payload)


@blueprint.route("/discussions/attachments/<int:attachment_id>/content", methods=["GET"])
@file_download(blueprint)
@errors(blueprint, 403, 404)
def download_attachment(attachment_id: int):
    """An attachment of a message the caller may read."""
    attachment = db.session.get(DiscussionAttachment, attachment_id)
    if attachment is None or not can_download_attachment(api_user(), attachment.message):
        abort(404)
    return send_stored(attachment.stored_file, attachment.original_name)
