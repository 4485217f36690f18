"""Attaching an agreement's draft text (app/workflow/drafts.py). Registered on the workflow blueprint."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user, login_required

from app.core.i18n import gettext as _
from app.core.permissions import get_agreement_or_404
from app.core.responses import done, form_errors, refusals_return_to
from app.workflow import drafts
from app.workflow.forms import DraftTextForm
from app.workflow.routes import blueprint


def _draft_panel(agreement_id: int) -> str:
    return url_for("agreements.view_agreement", agreement_id=agreement_id, _anchor="draft-text-heading")


@blueprint.route("/agreements/<int:agreement_id>/draft-texts", methods=["POST"])
@login_required
@refusals_return_to(_draft_panel)
def attach_draft_text(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    form = DraftTextForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    document = drafts.attach_draft_text(agreement, form.file.data, by=current_user, expected_version=form.version.data)
    return done(
        _draft_panel(agreement.id),
        _("Draft text attached: it is now the draft under review."),
        {"document_id": document.id, "version": agreement.version},
    )
