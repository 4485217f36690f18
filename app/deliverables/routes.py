"""Deliverables: the portfolio list, one occurrence's page, hand-ins, reviews, the partner portal."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.auth.kept_pages import kept_page
from app.choices.services import fill
from app.core import clock
from app.core.dates import within_calendar
from app.core.errors import DomainError
from app.core.forms import form_status, refusal_shown_on, without_invalid_filters
from app.core.i18n import gettext as _
from app.core.i18n import isolate
from app.core.pagination import paginate
from app.core.permissions import (
    get_agreement_or_404,
    get_occurrence_or_404,
    is_ministry,
    require,
    sees_deliverables_of,
)
from app.core.responses import done, form_errors, refusals_return_to, return_here_if_refused
from app.core.storage import send_stored
from app.deliverables import before_sharaka, services
from app.deliverables.falling_due import due_window, falls_due, shown_status_of
from app.deliverables.forms import DeliverableFilterForm, PlanForm, ReviewForm, SubmissionForm, WaiveForm
from app.deliverables.models import STATUS_LABELS, Occurrence, SubmissionFile
from app.deliverables.term import past_date_warning
from app.exports.routes import exported
from app.extensions import db
from app.organizations.models import Organization
from app.workflow.queries import drafts_waiting_on_partner

blueprint = Blueprint("deliverables", __name__)


@blueprint.route("/portal")
@login_required
@kept_page
def portal():
    require(current_user, "portal.view")
    today = clock.today()
    return render_template(
        "deliverables/portal.html",
        today=today,
        window=due_window(),
        your_turn=drafts_waiting_on_partner(current_user),
        **services.partner_home(current_user, today),
    )


@blueprint.route("/deliverables/")
@login_required
@kept_page
def list_deliverables():
    require(current_user, "deliverable.list")
    today = clock.today()
    form, filters = _read_filters()
    if form.errors:
        flash(_("Some filters were not valid and were ignored."), "warning")
    page = paginate(services.occurrences_query(current_user, filters, today), per_page=50, grows_with_portfolio=True)
    return render_template("deliverables/list.html", form=form, page=page, today=today, window=due_window())


@blueprint.route("/deliverables/export.<any(csv, xlsx):fmt>", methods=["GET", "POST"])
@login_required
def export_deliverables(fmt: str):
    require(current_user, "deliverable.list")
    # Exactly the list on screen: invalid filters are ignored there, so here too.
    return exported("deliverables", _read_filters()[1], fmt)


def _read_filters() -> tuple[DeliverableFilterForm, services.OccurrenceFilters]:
    """The list's filters from the query string; an invalid one is ignored (the form says which)."""
    form = DeliverableFilterForm(request.args)
    _fill_filter_choices(form)
    without_invalid_filters(form)
    return form, services.OccurrenceFilters(
        status=form.status.data or None,
        agreement_id=int(form.agreement.data) if form.agreement.data else None,
        partner_id=int(form.partner.data) if form.partner.data else None,
        due_before=form.due_before.data,
        due_after=form.due_after.data,
        owner_id=current_user.id if form.mine.data and is_ministry(current_user) else None,
    )


@blueprint.route("/deliverables/<int:occurrence_id>")
@login_required
def view_occurrence(occurrence_id: int):
    occurrence = get_occurrence_or_404(occurrence_id, current_user)
    return render_template(
        "deliverables/detail.html",
        occurrence=occurrence,
        today=clock.today(),
        window=due_window(),
        submission_form=SubmissionForm(),
        review_form=ReviewForm(),
        waive_form=WaiveForm(),
    )


def _page(occurrence_id: int) -> str:
    return url_for("deliverables.view_occurrence", occurrence_id=occurrence_id)


def _back(occurrence_id: int, message: str):
    return done(_page(occurrence_id), message)


@blueprint.route("/deliverables/<int:occurrence_id>/submissions", methods=["POST"])
@login_required
@refusals_return_to(_page)
def submit(occurrence_id: int):
    occurrence = get_occurrence_or_404(occurrence_id, current_user, need="submit")
    form = SubmissionForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    kept_once: list[dict] = []
    services.submit(
        occurrence,
        request.files.getlist("files"),
        note=form.note.data,
        by=current_user,
        expected_version=form.version.data,
        indicator_values=request.form,
        on_kept_once=lambda name, same_as: kept_once.append({"name": name, "same_as": same_as}),
    )
    # The page says it waits for the ministry (its status box): the message only confirms, and names a
    # file chosen twice (the same bytes under another name: an annex that is the report again, say).
    said = [_("Handed in: thank you.")] + [
        _(
            "“%(name)s” is the same file as “%(same_as)s”: it is kept once.",
            name=isolate(twice["name"]),
            same_as=isolate(twice["same_as"]),
        )
        for twice in kept_once
    ]
    return done(_page(occurrence_id), " ".join(said), {"kept_once": kept_once})


@blueprint.route("/deliverables/<int:occurrence_id>/review", methods=["POST"])
@login_required
@refusals_return_to(_page)
def review(occurrence_id: int):
    occurrence = get_occurrence_or_404(occurrence_id, current_user, need="review")
    form = ReviewForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.review(
        occurrence,
        decision=form.decision.data,
        feedback=form.feedback.data,
        by=current_user,
        expected_version=form.version.data,
    )
    message = _("Accepted.") if form.decision.data == "accept" else _("Sent back with your feedback.")
    return _back(occurrence_id, message)


@blueprint.route("/deliverables/<int:occurrence_id>/waive", methods=["POST"])
@login_required
@refusals_return_to(_page)
def waive(occurrence_id: int):
    occurrence = get_occurrence_or_404(occurrence_id, current_user, need="waive")
    form = WaiveForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    services.waive(occurrence, reason=form.reason.data, by=current_user, expected_version=form.version.data)
    return _back(occurrence_id, _("Waived."))


@blueprint.route("/deliverables/files/<int:file_id>")
@login_required
def download_file(file_id: int):
    record = db.session.get(SubmissionFile, file_id)
    if record is None:
        abort(404)
    get_occurrence_or_404(record.submission.occurrence_id, current_user)  # the same door as the page
    return send_stored(record.stored_file, record.original_name)


@blueprint.route("/agreements/<int:agreement_id>/deliverables/new", methods=["GET", "POST"])
@login_required
def plan_deliverable(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    return _plan(agreement, None)


@blueprint.route("/agreements/<int:agreement_id>/deliverables/<int:deliverable_id>/edit", methods=["GET", "POST"])
@login_required
def edit_plan(agreement_id: int, deliverable_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    return _plan(agreement, services.plan_line_of(agreement, deliverable_id))


@blueprint.route("/agreements/<int:agreement_id>/deliverables/<int:deliverable_id>/delete", methods=["POST"])
@login_required
def remove_plan_line(agreement_id: int, deliverable_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    line = services.plan_line_of(agreement, deliverable_id)
    plan_page = url_for("agreements.view_agreement", agreement_id=agreement.id, _anchor="deliverables")
    return_here_if_refused(plan_page)
    title = line.title
    services.remove_plan_line(line, by=current_user)
    return done(plan_page, _("“%(title)s” is removed from the plan, with its due dates.", title=title))


def _plan(agreement, deliverable):
    form = PlanForm(obj=deliverable if request.method == "GET" else None)
    home = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)))
    choices = [(p.organization_id, p.organization.name) for p in agreement.parties]
    if home is not None:
        choices.insert(0, (home.id, home.name))
    form.responsible_organization_id.choices = choices
    if request.method == "GET" and deliverable is None:
        partner = next(iter(agreement.partner_organization_ids), None)
        form.responsible_organization_id.data = partner
    if request.method == "GET":
        form.show(deliverable, services.PLAN_FIELDS)
    if form.validate_on_submit():
        data = services.PlanData(
            title_fr=form.title_fr.data,
            title_ar=form.title_ar.data,
            title_en=form.title_en.data,
            description=form.description.data,
            responsible_organization_id=form.responsible_organization_id.data,
            recurrence=form.recurrence.data,
            first_due_on=form.first_due_on.data,
            until_on=form.until_on.data,
        )
        with refusal_shown_on(
            form, catching=DomainError, edited=(deliverable, services.PLAN_FIELDS) if deliverable else None
        ):
            if deliverable is None:
                saved = services.plan_deliverable(agreement, data, by=current_user)
            else:
                saved = services.update_plan(deliverable, data, by=current_user, seen=form.seen.data or None)
            flash(_("The deliverables plan is saved."), "success")
            warning = past_date_warning(agreement, saved.first_due_on, clock.today())
            if warning:
                flash(warning, "warning")
            return redirect(
                url_for("agreements.view_agreement", agreement_id=agreement.id, _anchor="deliverables"), 303
            )
    status = form_status(form)
    return render_template(
        "deliverables/plan_form.html", form=form, agreement=agreement, deliverable=deliverable
    ), status


def _fill_filter_choices(form: DeliverableFilterForm) -> None:
    form.status.choices = [("", _("All statuses")), *services.status_filters().items()]
    fill(form.agreement, "planned", current_user, blank=("", _("All agreements")), text_values=True)
    fill(form.partner, "any-organization", current_user, blank=("", _("Everyone")), text_values=True)


@blueprint.app_template_global()
def deliverable_status(occurrence, today=None):
    """(status key, label) as shown today."""
    today = today or clock.today()
    # A row the calendar read as columns knows its own (DueOccurrence); an occurrence loaded whole is asked here.
    key = shown_status_of(occurrence, today) if isinstance(occurrence, Occurrence) else occurrence.status_on(today)
    return key, str(STATUS_LABELS[key])


@blueprint.app_template_global()
def owed_now(occurrence, today=None) -> bool:
    """Whether what `occurrence` asks is owed today: its agreement runs (falling_due). A row the calendar
    read as columns (DueOccurrence) knows it."""
    today = today or clock.today()
    if isinstance(occurrence, Occurrence):
        return falls_due(occurrence.deliverable.agreement, today)
    return occurrence.falls_due


@blueprint.app_template_global()
def owed_count(agreement) -> int:
    return services.owed_count(agreement)


@blueprint.app_template_global()
def takes_hand_ins(agreement) -> bool:
    return services.takes_hand_ins(agreement)


@blueprint.app_template_global()
def brings_into_force(transition) -> bool:
    return before_sharaka.brings_into_force(transition)


@blueprint.app_template_global()
def past_due_warning(agreement, effective_on, expires_on=None) -> str | None:
    """What the activation form says of the reports its move, in force from `effective_on` (to `expires_on`),
    would leave due before today (an agreement signed before Sharaka), or None."""
    if not sees_deliverables_of(current_user, agreement.id):
        return None
    dates = before_sharaka.past_due_at_activation(agreement, effective_on, clock.today(), expires_on)
    return before_sharaka.past_due_message(dates) if dates else None


@blueprint.route("/agreements/<int:agreement_id>/past-due")
@login_required
def past_due_preview(agreement_id: int):
    """The activation form's warning again for the dates typed in it (?effective_on=&expires_on=): {"message"},
    null when nothing would fall before today. A date that is not one counts as not typed: the move says why."""
    agreement = get_agreement_or_404(agreement_id, current_user, need="act")
    effective_on, expires_on = (_typed_date(request.args.get(name)) for name in ("effective_on", "expires_on"))
    return {"message": past_due_warning(agreement, effective_on, expires_on)}


def _typed_date(text: str | None) -> date | None:
    try:
        day = date.fromisoformat((text or "")[:10])
    except ValueError:
        return None
    return day if within_calendar(day) else None


@blueprint.app_template_global()
def agreement_deliverables(agreement):
    if not sees_deliverables_of(current_user, agreement.id):
        return []
    return list(getattr(agreement, "deliverables", []))


@blueprint.app_template_global()
def can_plan_deliverables(agreement):
    return services.plan_refusal(agreement, current_user) is None


@blueprint.app_template_global()
def can_remove_plan_line(line):
    return services.removal_refusal(line, current_user) is None
