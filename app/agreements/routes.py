from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.agreements import importing, renewals, renewing, services
from app.agreements.forms import AgreementFilterForm, AgreementForm, ImportForm, NonRenewalForm
from app.agreements.models import (
    AGREEMENT_TYPES,
    NOTICE_SIDES,
    Agreement,
    fill_party_fields,
    parties_of_form,
)
from app.agreements.summary import build_summary
from app.audit.names import names_for
from app.auth.kept_pages import kept_page
from app.choices.services import fill
from app.core import clock
from app.core.audit import history_for
from app.core.errors import ConcurrentChange, ValidationFailed
from app.core.exports import download
from app.core.forms import apply_field_errors, chosen_id, form_status, refusal_shown_on, without_invalid_filters
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.pagination import paginate
from app.core.permissions import (
    can,
    edits_own_agreements_only,
    get_agreement_or_404,
    require,
)
from app.core.responses import done, form_errors, refusals_return_to
from app.exports.routes import exported
from app.extensions import db
from app.workflow.engine import draft_needs, state_labels

blueprint = Blueprint("agreements", __name__, url_prefix="/agreements")


@blueprint.route("/")
@login_required
@kept_page
def list_agreements():
    require(current_user, "agreement.list")
    form, filters = _read_filters()
    if form.errors:
        flash(_("Some filters were not valid and were ignored."), "warning")
    page = paginate(services.agreements_query(current_user, filters), grows_with_portfolio=True)
    return render_template("agreements/list.html", form=form, page=page)


@blueprint.route("/export.<any(csv, xlsx):fmt>", methods=["GET", "POST"])
@login_required
def export_agreements(fmt: str):
    require(current_user, "agreement.list")
    # Exactly the list on screen: invalid filters are ignored there, so here too.
    return exported("agreements", _read_filters()[1], fmt)


def _read_filters() -> tuple[AgreementFilterForm, services.AgreementFilters]:
    """The list's filters from the query string; an invalid one is ignored (the form says which)."""
    form = AgreementFilterForm(request.args)
    _fill_filter_choices(form)
    without_invalid_filters(form)
    return form, services.AgreementFilters(
        **services.state_filters(form.state.data),
        signed_after=form.signed_after.data,
        signed_before=form.signed_before.data,
        ends_after=form.ends_after.data,
        ends_before=form.ends_before.data,
        type=form.type.data or None,
        partner_id=int(form.partner.data) if form.partner.data else None,
        year=int(form.year.data) if form.year.data else None,
        q=form.q.data or None,
    )


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def create_agreement():
    require(current_user, "agreement.create")
    form = AgreementForm()
    if request.method == "GET":
        if edits_own_agreements_only(current_user):
            form.owner_id.data = current_user.id
        _start_from_link(form)
    _fill_form_choices(form, agreement=None)
    if form.validate_on_submit():
        with refusal_shown_on(form):
            agreement = services.create_agreement(_form_data(form), by=current_user)
            flash(_("Agreement %(ref)s created.", ref=agreement.reference), "success")
            return redirect(url_for("agreements.view_agreement", agreement_id=agreement.id))
    elif form.is_submitted():
        _add_rule_errors(form, agreement=None)
    status = form_status(form)
    return render_template("agreements/form.html", form=form, agreement=None), status


@blueprint.route("/import", methods=["GET", "POST"])
@login_required
def import_agreements():
    require(current_user, "agreement.import")
    form, result = ImportForm(), None
    if form.validate_on_submit():
        with refusal_shown_on(form):
            content, filename = importing.read_upload(form.file.data)
            if form.action.data == "import":
                made = importing.import_agreements(content, filename, by=current_user, reason=form.reason.data)
                # A page of its own to come back to: a second click or a reload is answered with this redirect
                # (app/core/receipts.py), instead of the same file sent again and refused as already there.
                ids = ",".join(str(row.agreement.id) for row in made.rows)
                message = ngettext("%(num)s agreement imported.", "%(num)s agreements imported.", len(made.rows))
                return done(url_for("agreements.import_agreements", imported=ids), message)
            result = importing.check(content, filename, by=current_user)
        refusal = getattr(form, "service_refusal", None)
        if isinstance(refusal, importing.ImportRefused):
            result = refusal.result
    imported = []
    if request.method == "GET":  # what an import just made (its redirect names them)
        imported = importing.agreements_named(request.args.get("imported", ""), current_user)
    return _import_page(form, result=result, imported=imported), form_status(form)


def _import_page(form: ImportForm, **shown) -> str:
    return render_template(
        "agreements/import.html",
        form=form,
        column_help=importing.COLUMN_HELP,
        max_rows=importing.MAX_ROWS,
        max_columns=importing.MAX_COLUMNS,
        **shown,
    )


@blueprint.route("/import/template.<any(csv, xlsx):fmt>")
@login_required
def import_template(fmt: str):
    require(current_user, "agreement.import")
    headings, rows = importing.template_rows()
    return download(headings, rows, fmt=fmt, name="import-template", title=_("Agreements"))


def _start_from_link(form: AgreementForm) -> None:
    """A link may open the form with its type and parent chosen (an agreement's "Amend":
    ?type=amendment&parent_id=…); an amendment then starts with its parent's parties. A parent the save would
    refuse (services.parent_refusals: not signed, ended, or unknown to the reader, one they may not see
    included) is not chosen, and the form says why at once; the save checks the parent as always."""
    if request.args.get("type") in AGREEMENT_TYPES:
        form.type.data = request.args["type"]
    parent_id = chosen_id(request.args.get("parent_id"))
    if parent_id is None:
        return
    link = services.AgreementData(type=form.type.data, parent_id=parent_id)
    refusals = services.parent_refusals(link, agreement=None, by=current_user)
    for message in refusals.get("parent_id", []):
        flash(_("The link's parent agreement is not chosen: %(reason)s", reason=message), "warning")
    if refusals:
        return
    form.parent_id.data = parent_id
    if form.type.data == "amendment":
        _show_parties(form, db.session.get(Agreement, parent_id))


def _show_parties(form: AgreementForm, agreement: Agreement) -> None:
    fill_party_fields(form, [(p.organization_id, p.role) for p in agreement.parties])


def _add_rule_errors(form: AgreementForm, agreement) -> None:
    """The form refused some fields: the service's rules (a title in one language, dates in order…) are
    checked too, so every missing or wrong field is reported on the first submit, not one round at a time."""
    linked = ("owner_id", "parent_id", "signing_event_id", "partners", "co_signatories", "witnesses")
    if any(form[name].errors and form[name].data for name in linked):
        return  # the rules would look up ids the form already refused
    try:
        services.validate_data(_form_data(form), agreement=agreement, by=current_user)
    except ValidationFailed as error:
        extra = {name: messages for name, messages in (error.field_errors or {}).items() if not form[name].errors}
        if extra:
            apply_field_errors(form, ValidationFailed(error.message, extra))
    except (TypeError, ValueError, KeyError):  # values the form already refused
        pass


@blueprint.route("/<int:agreement_id>")
@login_required
def view_agreement(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user)
    children = [child for child in agreement.children if can(current_user, "agreement.view", child)]
    parent = agreement.parent if agreement.parent and can(current_user, "agreement.view", agreement.parent) else None
    history = history_for("agreements", agreement.id) if can(current_user, "agreement.history", agreement) else []
    return render_template(
        "agreements/detail.html",
        agreement=agreement,
        children=children,
        parent=parent,
        history=history,
        names=names_for(history),
        renewal_description=renewals.describe(renewals.current_terms(agreement)),
        non_renewal_side=agreement.non_renewal_organization.name
        if agreement.non_renewal_organization is not None
        else str(NOTICE_SIDES.get(agreement.non_renewal_by or "", "")),
        offers_renewal=renewing.offers_renewal(agreement),
    )


def _renewal_card(agreement_id: int) -> str:
    return url_for("agreements.view_agreement", agreement_id=agreement_id, _anchor="renewal")


@blueprint.route("/<int:agreement_id>/non-renewal", methods=["POST"])
@login_required
@refusals_return_to(_renewal_card)
def record_non_renewal(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    form = NonRenewalForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    upload = request.files.get("document")
    side, organization_id = form.side.data
    renewals.record_non_renewal(
        agreement,
        by=current_user,
        given_on=form.given_on.data,
        side=side,
        organization_id=organization_id,
        upload=upload if upload and upload.filename else None,
        expected_version=form.version.data,
    )
    return done(
        _renewal_card(agreement_id),
        _("The notice of non-renewal is recorded: the agreement will not be renewed tacitly."),
    )


@blueprint.route("/<int:agreement_id>/non-renewal/withdrawal", methods=["POST"])
@login_required
@refusals_return_to(_renewal_card)
def withdraw_non_renewal(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    renewals.withdraw_non_renewal(
        agreement,
        by=current_user,
        reason=request.form.get("reason"),
        expected_version=request.form.get("version"),  # check_version refuses one unreadable as stale
    )
    return done(_renewal_card(agreement_id), _("The notice of non-renewal is withdrawn."))


@blueprint.route("/<int:agreement_id>/renew", methods=["POST"])
@login_required
@refusals_return_to(_renewal_card)
def renew_agreement(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    require(current_user, "agreement.create")
    renewal = renewing.renew(agreement, by=current_user)
    return done(
        url_for("agreements.view_agreement", agreement_id=renewal.id),
        _(
            "Renewal agreement %(ref)s started from %(old)s: check its dates, budget and plan.",
            ref=renewal.reference,
            old=agreement.reference,
        ),
    )


@blueprint.route("/<int:agreement_id>/summary")
@login_required
def view_summary(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user)
    return render_template(
        "agreements/summary.html",
        agreement=agreement,
        summary=build_summary(agreement, current_user),
        today=clock.today(),
    )


@blueprint.route("/<int:agreement_id>/edit", methods=["GET", "POST"])
@login_required
def edit_agreement(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    # The stored values fill the form only for display: a POST must carry every field itself.
    form = AgreementForm(obj=agreement if request.method == "GET" else None)
    if request.method == "GET":
        form.version.data = agreement.version
        form.show(agreement, services.TERM_FIELDS)
        _show_parties(form, agreement)
    _fill_form_choices(form, agreement=agreement)
    if form.validate_on_submit():
        # A rule broken, or someone else saved first: shown on this form, with what was typed. Sent to a
        # fresh form, the person had lost their edits; the form now comes back merged (what the other
        # changed where this person left the field alone), at the agreement's version.
        with refusal_shown_on(form, edited=(agreement, services.TERM_FIELDS)):
            services.update_agreement(agreement, _form_data(form), by=current_user, expected_version=form.version.data)
            flash(_("Agreement %(ref)s saved.", ref=agreement.reference), "success")
            return redirect(url_for("agreements.view_agreement", agreement_id=agreement.id))
        if isinstance(getattr(form, "service_refusal", None), ConcurrentChange):
            form.version.data = agreement.version
    elif form.is_submitted():
        _add_rule_errors(form, agreement=agreement)
    locked = services.locked_fields(agreement)
    return render_template("agreements/form.html", form=form, agreement=agreement, locked=locked), form_status(form)


def _form_data(form: AgreementForm) -> services.AgreementData:
    parties = parties_of_form(form)
    return services.AgreementData(
        type=form.type.data,
        title_ar=form.title_ar.data,
        title_fr=form.title_fr.data,
        title_en=form.title_en.data,
        summary_ar=form.summary_ar.data,
        summary_fr=form.summary_fr.data,
        summary_en=form.summary_en.data,
        notes=form.notes.data,
        owner_id=form.owner_id.data,
        parent_id=form.parent_id.data,
        signing_event_id=form.signing_event_id.data,
        signed_on=form.signed_on.data,
        effective_on=form.effective_on.data,
        expires_on=form.expires_on.data,
        parties=parties,
        renewal_terms=form.renewal_terms.data or "none",
        renewal_months=form.renewal_months.data,
        notice_period=form.notice_period.data,
        notice_unit=form.notice_unit.data,
    )


def _fill_form_choices(form: AgreementForm, agreement: Agreement | None) -> None:
    """Every drop-down's choices: the stored or sent values stay offered whatever the portfolio's size."""
    form.set_type_choices()
    fill(form.partners, "partners", current_user)
    fill([form.co_signatories, form.witnesses], "organizations", current_user)
    stored_owner = agreement.owner_id if agreement is not None else None
    fill(form.owner_id, "owners", current_user, blank=(None, "—"))
    if stored_owner and stored_owner not in {value for value, *_rest in form.owner_id.choices}:
        # An owner who has left stays the owner until someone chooses another.
        form.owner_id.choices.append((stored_owner, agreement.owner.full_name if agreement.owner else "?"))
    fill(form.parent_id, "agreements", current_user, blank=(None, "—"), exclude=[agreement.id] if agreement else [])
    fill(form.signing_event_id, "events", current_user, blank=(None, "—"))


def _fill_filter_choices(form: AgreementFilterForm) -> None:
    form.state.choices = [
        ("", _("All states")),
        (services.IN_FORCE_CHOICE, services.in_force_label()),
        (services.ENDING_CHOICE, services.ending_label()),
        *state_labels().items(),
    ]
    form.type.choices = [("", _("All types"))] + [(k, str(v)) for k, v in AGREEMENT_TYPES.items()]
    fill(form.partner, "any-partner", current_user, blank=("", _("All partners")), text_values=True)
    form.year.choices = [("", _("All years"))] + [(str(year), str(year)) for year in services.year_choices()]


@blueprint.app_template_global()
def agreement_states():
    return state_labels()


# What the new-agreement form warns of: the details a move out of the draft needs, per type.
blueprint.add_app_template_global(draft_needs)
