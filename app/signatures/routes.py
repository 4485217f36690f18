"""Checking a signed copy's digital signatures again, on an admin's demand."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_login import current_user, login_required

from app.core.forms import Form
from app.core.i18n import gettext as _
from app.core.permissions import can, get_agreement_or_404, get_document_or_404
from app.core.responses import done, form_errors, refused
from app.signatures import services

blueprint = Blueprint("signatures", __name__)


@blueprint.route("/agreements/<int:agreement_id>/documents/<int:document_id>/check-signatures", methods=["POST"])
@login_required
def recheck_signatures(agreement_id: int, document_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="recheck_signatures")
    document = get_document_or_404(agreement, document_id, current_user, kind="signed_copy")
    page = url_for("agreements.view_agreement", agreement_id=agreement.id, _anchor="signature-heading")
    form = Form()
    if not form.validate_on_submit():
        return refused(page, form_errors(form))
    check = services.check_signatures(document, by=current_user)
    return done(
        page,
        _("Digital signatures checked again: %(result)s.", result=services.STATUS_LABELS[check.status]),
        {"signature_status": check.status},
    )


@blueprint.app_template_global()
def signature_checks(agreement) -> dict:
    return services.checks_for(agreement)


@blueprint.app_template_global()
def may_recheck_signatures(agreement) -> bool:
    return can(current_user, "agreement.recheck_signatures", agreement)


@blueprint.app_template_global()
def signature_status_label(status: str) -> str:
    return str(services.STATUS_LABELS.get(status, status))


@blueprint.app_template_global()
def signature_explained(signature: dict) -> list[str]:
    return services.describe(signature)


@blueprint.app_template_filter("from_iso")
def from_iso(value: str | None):
    """A moment stored as ISO text in a check's JSON, back to a datetime for the `moment` macro."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
