from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app.agreements.models import Agreement, AgreementParty
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.permissions import (
    get_organization_or_404,
    require,
    visible_agreements_clause,
    visible_organizations_clause,
)
from app.extensions import db
from app.organizations import services
from app.organizations.forms import OrganizationForm
from app.organizations.models import Organization

blueprint = Blueprint("organizations", __name__, url_prefix="/organizations")


@blueprint.route("/")
@login_required
def list_organizations():
    require(current_user, "organization.list")
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
        .where(visible_organizations_clause(current_user))
        .order_by(Organization.is_home.desc(), Organization.slug)
    ).all()
    return render_template("organizations/list.html", rows=rows)


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
    return render_template("organizations/detail.html", organization=organization, agreements=agreements)


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
