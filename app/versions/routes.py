"""The comparison page between two versions of an agreement's text."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from app.core.permissions import get_agreement_or_404
from app.versions import services

blueprint = Blueprint("versions", __name__)


def pick_documents(agreement, old_id, new_id, user):
    """The two documents asked for (404 when either is not a comparable document of this agreement);
    with none asked for, the last two versions (or documents). Returns (documents, old, new); old/new None when
    fewer than two."""
    documents = services.comparable_documents(agreement, user)
    by_id = {d.id: d for d in documents}
    if old_id is None and new_id is None:
        if len(documents) < 2:
            return documents, None, None
        # The last two versions; with fewer, the last two documents (a version and the signed copy, a draft
        # and the first version): never one document against itself.
        versions = [d for d in documents if d.kind == "text_version"]
        pair = versions if len(versions) > 1 else documents
        return documents, pair[-2], pair[-1]
    try:
        old, new = by_id[int(old_id)], by_id[int(new_id)]
    except (KeyError, TypeError, ValueError):
        abort(404)
    return documents, old, new


@blueprint.route("/agreements/<int:agreement_id>/compare")
@login_required
def compare_versions(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="compare")
    documents, old, new = pick_documents(agreement, request.args.get("old"), request.args.get("new"), current_user)
    old_text = new_text = comparison = None
    if old is not None:
        old_text, new_text, comparison = services.compare_documents(old, new)

    return render_template(
        "versions/compare.html",
        agreement=agreement,
        documents=documents,
        old=old,
        new=new,
        old_text=old_text,
        new_text=new_text,
        comparison=comparison,
        status_message=services.status_message,
    )
