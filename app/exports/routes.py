"""The exports written off the request: their progress and their download (each person's own)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import NotFound

from app.core import clock
from app.core.errors import ValidationFailed, error_response
from app.core.exports import download
from app.core.i18n import current_language, ngettext
from app.core.i18n import gettext as _
from app.core.permissions import get_export_or_404, require
from app.core.responses import done, refused
from app.core.storage import send_stored
from app.exports import services

blueprint = Blueprint("exports", __name__, url_prefix="/exports")


def exported(list_name: str, filters, fmt: str):
    """The list `list_name` as filtered, as a spreadsheet: sent at once when short, else written in the
    background (export_in_background). The caller has checked that the reader may read the list."""
    source, today = services.exportable(list_name), clock.today()
    if services.needs_background(current_user, list_name, filters, today):
        return export_in_background(list_name, filters, fmt)
    headings, rows = source.table(current_user, filters, today)
    return download(headings, rows, fmt=fmt, name=list_name, title=source.title())


def export_in_background(list_name: str, filters, fmt: str):
    """Queue the spreadsheet of a list too long for the request, and follow it on its own page. Asked by a
    link (a GET), the page asks to confirm: a page viewed writes nothing, and a link on another site must
    not queue work in a signed-in person's name. The confirmation posts back to the same address."""
    if request.method != "POST":
        source = services.exportable(list_name)
        return render_template(
            "exports/confirm.html",
            source=source,
            described=source.described(filters),
            list_url=url_for(source.list_endpoint, **source.as_arguments(filters)),
            action=request.full_path,
        )
    try:
        job = services.request_export(current_user, list_name, filters, language=current_language(), fmt=fmt)
    except ValidationFailed as error:
        return refused(url_for("exports.list_exports"), error)
    return done(
        url_for("exports.view_export", export_id=job.id),
        _("The list is long: its spreadsheet is being prepared. You will be notified when it is ready."),
    )


@blueprint.route("/")
@login_required
def list_exports():
    require(current_user, "export.view")
    jobs = services.recent_exports(current_user)
    return render_template("exports/list.html", jobs=[(job, services.filters_of(job)[0]) for job in jobs])


def _kept_export(export_id):
    """The reader's export, or the page that says why a link from the "ready" e-mail no longer opens it
    (the same for an id that never was: it tells a prober nothing)."""
    try:
        return get_export_or_404(export_id, current_user)
    except NotFound:
        hours = current_app.config["EXPORT_KEEP_HOURS"]
        message = ngettext(
            "This spreadsheet is no longer kept: spreadsheets are kept %(num)s hour, and forgotten when your role "
            "or what you may see changes. Ask for it again from its list.",
            "This spreadsheet is no longer kept: spreadsheets are kept %(num)s hours, and forgotten when your role "
            "or what you may see changes. Ask for it again from its list.",
            hours,
        )
        abort(make_response(error_response(404, message)))


@blueprint.route("/<export_id>")
@login_required
def view_export(export_id):
    return _export_page(_kept_export(export_id))


def _export_page(job):
    described, arguments = services.filters_of(job)
    return render_template(
        "exports/view.html",
        job=job,
        source=services.exportable(job.list_name),
        described=described,
        list_url=url_for(services.exportable(job.list_name).list_endpoint, **arguments),
    )


@blueprint.route("/<export_id>/download")
@login_required
def download_export(export_id):
    job = _kept_export(export_id)
    if job.status != "done" or job.stored_file is None:
        return _export_page(job), 409
    return send_stored(job.stored_file, job.file_name or f"sharaka-export.{job.fmt}")
