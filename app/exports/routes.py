"""The exports written off the request: their progress and their download (each person's own)."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from flask_login import current_user, login_required

from app.core.i18n import current_language
from app.core.i18n import gettext as _
from app.core.permissions import get_export_or_404, require
from app.core.responses import done
from app.core.storage import send_stored
from app.exports import services

blueprint = Blueprint("exports", __name__, url_prefix="/exports")


def export_in_background(list_name: str, filters):
    """Queue the spreadsheet of a list too long for the request, and follow it on its own page."""
    job = services.request_export(current_user, list_name, filters, language=current_language())
    return done(
        url_for("exports.view_export", export_id=job.id),
        _("The list is long: its spreadsheet is being prepared. You will be notified when it is ready."),
    )


@blueprint.route("/")
@login_required
def list_exports():
    require(current_user, "export.view")
    return render_template("exports/list.html", jobs=services.recent_exports(current_user))


@blueprint.route("/<export_id>")
@login_required
def view_export(export_id):
    job = get_export_or_404(export_id, current_user)
    return render_template("exports/view.html", job=job, source=services.exportable(job.list_name))


@blueprint.route("/<export_id>/download")
@login_required
def download_export(export_id):
    job = get_export_or_404(export_id, current_user)
    if job.status != "done" or job.stored_file is None:
        return render_template("exports/view.html", job=job, source=services.exportable(job.list_name)), 409
    return send_stored(job.stored_file, job.file_name or "sharaka-export.xlsx")
