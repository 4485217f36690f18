from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app.agreements.models import Agreement, AgreementParty
from app.choices.services import fill
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.permissions import (
    can,
    get_organization_or_404,
    require,
    visible_agreements_clause,
    visible_organizations_clause,
)
from app.core.responses import done, form_errors, refusals_return_to
from app.extensions import db
from app.notifications.forms import ConfirmForm
from app.organizations import merging, retirement, services
from app.organizations.forms import MergeForm, OrganizationForm, RetireForm
from app.organizations.models import Organization

blueprint = Blueprint("organizations", __name__, url_prefix="/organizations")


@blueprint.route("/")
@login_required
def list_organizations():
    require(current_user, "organization.list")
    # Current organisations, or (?show=retired) the retired ones, kept for their history.
    showing_retired = request.args.get("show") == "retired"
    counts = (
        select(AgreementParty.organization_id, func.count(AgreementParty.id).label("n"))
        .join(Agreement, Agreement.id == AgreementParty.agreement_id)
        .where(visible_agreements_clause(current_user))
        .group_by(AgreementParty.organization_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Organization, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.organization_id == Organization.id)
        .where(
            visible_organizations_clause(current_user),
            Organization.retired_at.is_not(None) if showing_retired else Organization.retired_at.is_(None),
        )
        .order_by(Organization.is_home.desc(), Organization.slug)
    ).all()
    retired_count = db.session.scalar(
        select(func.count())
        .select_from(Organization)
        .where(visible_organizations_clause(current_user), Organization.retired_at.is_not(None))
    )
    return render_template(
        "organizations/list.html", rows=rows, showing_retired=showing_retired, retired_count=retired_count
    )


@blueprint.route("/<int:organization_id>")
@login_required
def view_organization(organization_id: int):
    organization = get_organization_or_404(organization_id, current_user)
    agreements = db.session.scalars(
        select(Agreement)
        .where(
            Agreement.parties.any(AgreementParty.organization_id == organization.id),
            visible_agreements_clause(current_user),
        )
        .order_by(Agreement.signed_on.desc().nulls_first())
    ).all()
    # An admin is told before trying that an organisation still under agreement cannot be retired yet.
    retirable = can(current_user, "organization.retire", organization) and not organization.is_retired
    under_way = retirement.parties_under_way(organization) if retirable else []
    merge_form = MergeForm()
    if retirable:
        fill(merge_form.into, "partners", current_user, blank=("", "—"), exclude=[organization.id], text_values=True)
    return render_template(
        "organizations/detail.html",
        organization=organization,
        agreements=agreements,
        retire_form=RetireForm(),
        merge_form=merge_form,
        under_way=under_way,
        references_named=retirement.NAMED,
    )


def _page(organization_id: int) -> str:
    return url_for("organizations.view_organization", organization_id=organization_id)


@blueprint.route("/<int:organization_id>/retire", methods=["POST"])
@login_required
@refusals_return_to(_page)
def retire_organization(organization_id: int):
    organization = get_organization_or_404(organization_id, current_user, need="retire")
    form = RetireForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    ended = retirement.retire(organization, by=current_user, reason=form.reason.data)
    accounts, invitations = len(ended["accounts_deactivated"]), len(ended["invitations_withdrawn"])
    message = _(
        "%(name)s is retired: it can no longer be chosen. Accounts turned off: %(accounts)s; invitations "
        "withdrawn: %(invitations)s.",
        name=organization.name,
        accounts=accounts,
        invitations=invitations,
    )
    counts = {"accounts_deactivated": accounts, "invitations_withdrawn": invitations}
    return done(_page(organization.id), message, counts)


@blueprint.route("/<int:organization_id>/merge", methods=["POST"])
@login_required
@refusals_return_to(_page)
def merge_organization(organization_id: int):
    duplicate = get_organization_or_404(organization_id, current_user, need="retire")
    form = MergeForm()
    fill(form.into, "partners", current_user, exclude=[duplicate.id], text_values=True)
    if not form.validate_on_submit():
        raise form_errors(form)
    # The choice check kept the id to a partner organisation other than this one; the merge refuses a retired one.
    into = get_organization_or_404(int(form.into.data), current_user, need="retire")
    moved = merging.merge(duplicate, into, by=current_user, reason=form.merge_reason.data)
    message = _(
        "%(duplicate)s is merged into %(name)s: its agreements, deliverables, budget lines and accounts are now "
        "%(name)s's, and it is retired.",
        duplicate=duplicate.name,
        name=into.name,
    )
    return done(_page(into.id), message, {"into": into.id, "moved": moved})


@blueprint.route("/<int:organization_id>/reinstate", methods=["POST"])
@login_required
@refusals_return_to(_page)
def reinstate_organization(organization_id: int):
    organization = get_organization_or_404(organization_id, current_user, need="retire")
    form = ConfirmForm()
    if not form.validate_on_submit():
        raise form_errors(form)
    accounts = retirement.reinstate(organization, by=current_user)
    message = _("%(name)s is reinstated: it can be chosen again.", name=organization.name)
    if accounts:
        message += " " + ngettext(
            "Its %(num)s account stays turned off: reactivate it from the users' list if the person still "
            "speaks for it.",
            "Its %(num)s accounts stay turned off: reactivate each one from the users' list if the person still "
            "speaks for it.",
            accounts,
        )
    return done(_page(organization.id), message)


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def create_organization():
    require(current_user, "organization.create")
    return _edit(None)


@blueprint.route("/<int:organization_id>/edit", methods=["GET", "POST"])
@login_required
def edit_organization(organization_id: int):
    organization = get_organization_or_404(organization_id, current_user, need="edit")
    return _edit(organization)


def _edit(organization):
    form = OrganizationForm(obj=organization if request.method == "GET" else None)
    if request.method == "GET":
        form.show(organization, services.FIELDS)
    if form.validate_on_submit():
        with refusal_shown_on(form, edited=(organization, services.FIELDS)):
            organization = services.save_organization(
                organization, form.data, by=current_user, seen=(form.seen.data or None) if organization else None
            )
            flash(_("Organisation saved."), "success")
            return redirect(url_for("organizations.view_organization", organization_id=organization.id))
    status = form_status(form)
    return render_template("organizations/form.html", form=form, organization=organization), status
