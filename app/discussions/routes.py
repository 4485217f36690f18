"""Pages of the discussion threads: post and edit messages, download attachments.

The threads themselves are drawn by templates/discussions/_threads.html inside the agreement
and deliverable pages."""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for
from flask_login import current_user, login_required

from app.core.i18n import gettext as _
from app.core.permissions import (
    can_download_attachment,
    can_edit_message,
    can_post_in_thread,
    can_read_thread,
    get_agreement_or_404,
    get_message_or_404,
    get_occurrence_or_404,
    require_thread,
)
from app.core.responses import done, return_here_if_refused
from app.core.storage import send_stored
from app.discussions import services
from app.discussions.models import AUDIENCES, DiscussionAttachment
from app.extensions import db

blueprint = Blueprint("discussions", __name__)
AUDIENCE = "<any(internal, shared):audience>"


def _thread_page(agreement, occurrence, audience: str, anchor: str = "") -> str:
    if occurrence is not None:
        page = url_for("deliverables.view_occurrence", occurrence_id=occurrence.id, thread=audience)
    else:
        page = url_for("agreements.view_agreement", agreement_id=agreement.id, thread=audience)
    return page + (anchor or f"#thread-{audience}")


def _subject(agreement_id: int | None, occurrence_id: int | None):
    if occurrence_id is not None:
        occurrence = get_occurrence_or_404(occurrence_id, current_user)
        return occurrence.deliverable.agreement, occurrence
    return get_agreement_or_404(agreement_id, current_user), None


def _post(agreement_id=None, occurrence_id=None, audience="shared"):
    agreement, occurrence = _subject(agreement_id, occurrence_id)
    require_thread(current_user, agreement, audience, of_deliverable=occurrence is not None)
    if not can_post_in_thread(current_user, agreement, audience, of_deliverable=occurrence is not None):
        abort(403)
    page = _thread_page(agreement, occurrence, audience)
    return_here_if_refused(page)
    message = services.post_message(
        agreement,
        occurrence=occurrence,
        audience=audience,
        body=request.form.get("body"),
        uploads=request.files.getlist("files"),
        by=current_user,
    )
    return done(
        _thread_page(agreement, occurrence, audience, f"#message-{message.id}"),
        _("Message posted."),
        {"id": message.id},
    )


def _edit(message_id, agreement_id=None, occurrence_id=None, audience="shared"):
    agreement, occurrence = _subject(agreement_id, occurrence_id)
    require_thread(current_user, agreement, audience, of_deliverable=occurrence is not None)
    message = get_message_or_404(
        message_id, current_user, agreement_id=agreement.id, occurrence_id=occurrence.id if occurrence else None
    )
    if message.audience != audience or (occurrence is None and message.occurrence_id is not None):
        abort(404)
    page = _thread_page(agreement, occurrence, audience, f"#message-{message.id}")
    return_here_if_refused(page)
    services.edit_message(
        message, body=request.form.get("body"), by=current_user, agreement=agreement, occurrence=occurrence
    )
    return done(page, _("Message edited; the earlier text is kept."), {"id": message.id})


@blueprint.route(f"/agreements/<int:agreement_id>/threads/{AUDIENCE}/messages", methods=["POST"])
@login_required
def post_agreement_message(agreement_id: int, audience: str):
    return _post(agreement_id=agreement_id, audience=audience)


@blueprint.route(f"/agreements/<int:agreement_id>/threads/{AUDIENCE}/messages/<int:message_id>/edit", methods=["POST"])
@login_required
def edit_agreement_message(agreement_id: int, audience: str, message_id: int):
    return _edit(message_id, agreement_id=agreement_id, audience=audience)


@blueprint.route(f"/deliverables/<int:occurrence_id>/threads/{AUDIENCE}/messages", methods=["POST"])
@login_required
def post_deliverable_message(occurrence_id: int, audience: str):
    return _post(occurrence_id=occurrence_id, audience=audience)


@blueprint.route(
    f"/deliverables/<int:occurrence_id>/threads/{AUDIENCE}/messages/<int:message_id>/edit", methods=["POST"]
)
@login_required
def edit_deliverable_message(occurrence_id: int, audience: str, message_id: int):
    return _edit(message_id, occurrence_id=occurrence_id, audience=audience)


@blueprint.route("/discussions/attachments/<int:attachment_id>")
@login_required
def download_attachment(attachment_id: int):
    attachment = db.session.get(DiscussionAttachment, attachment_id)
    if attachment is None or not can_download_attachment(current_user, attachment.message):
        abort(404)
    return send_stored(attachment.stored_file, attachment.original_name)


@blueprint.app_template_global()
def discussion_threads(agreement, occurrence=None):
    """The threads the signed-in person may read here, for templates/discussions/_threads.html."""
    threads = []
    for audience in reversed(AUDIENCES):  # shared first: everyone's
        if not can_read_thread(current_user, agreement, audience, of_deliverable=occurrence is not None):
            continue
        may_post = can_post_in_thread(current_user, agreement, audience, of_deliverable=occurrence is not None)
        base = (
            url_for("discussions.post_deliverable_message", occurrence_id=occurrence.id, audience=audience)
            if occurrence is not None
            else url_for("discussions.post_agreement_message", agreement_id=agreement.id, audience=audience)
        )
        threads.append(
            {
                "audience": audience,
                "messages": services.thread_messages(agreement, occurrence, audience),
                "may_post": may_post,
                "post_url": base,
                "people": services.mentionable_people(agreement, occurrence, audience, current_user)
                if may_post
                else [],
            }
        )
    return {
        "threads": threads,
        # The shared thread is one for every party: a partner is told when other organisations read it too.
        "has_other_parties": sum(1 for party in agreement.parties if not party.organization.is_home) > 1,
        "limit_mb": services.upload_limit_mb(),
        "may_edit": lambda message: can_edit_message(current_user, message),
    }
