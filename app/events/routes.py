from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app.agreements.models import Agreement, SigningEvent
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.permissions import get_event_or_404, require, visible_agreements_clause, visible_events_clause
from app.events import services
from app.events.forms import SigningEventForm
from app.extensions import db

blueprint = Blueprint("events", __name__, url_prefix="/events")


@blueprint.route("/")
@login_required
def list_events():
    require(current_user, "event.list")
    counts = (
        select(Agreement.signing_event_id, func.count(Agreement.id).label("n"))
        .where(visible_agreements_clause(current_user))
        .group_by(Agreement.signing_event_id)
        .subquery()
    )
    rows = db.session.execute(
        select(SigningEvent, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.signing_event_id == SigningEvent.id)
        .where(visible_events_clause(current_user))
        .order_by(SigningEvent.held_on.desc())
    ).all()
    return render_template("events/list.html", rows=rows)


@blueprint.route("/<int:event_id>")
@login_required
def view_event(event_id: int):
    event = get_event_or_404(event_id, current_user)
    agreements = db.session.scalars(
        select(Agreement)
        .where(Agreement.signing_event_id == event.id, visible_agreements_clause(current_user))
        .order_by(Agreement.reference)
    ).all()
    return render_template("events/detail.html", event=event, agreements=agreements)


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def create_event():
    require(current_user, "event.create")
    return _edit(None)


@blueprint.route("/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit_event(event_id: int):
    return _edit(get_event_or_404(event_id, current_user, need="edit"))


def _edit(event):
    form = SigningEventForm(obj=event if request.method == "GET" else None)
    if request.method == "GET":
        form.show(event, services.FIELDS)
    if form.validate_on_submit():
        with refusal_shown_on(form, edited=(event, services.FIELDS)):
            seen = (form.seen.data or None) if event else None
            event = services.save_event(event, form.data, by=current_user, seen=seen)
            flash(_("Signing event saved."), "success")
            return redirect(url_for("events.view_event", event_id=event.id))
    status = form_status(form)
    return render_template("events/form.html", form=form, event=event), status
