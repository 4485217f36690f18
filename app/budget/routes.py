"""Budget lines on an agreement's page, and the portfolio's totals per partner, year and currency."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.budget import services
from app.budget.forms import BudgetFilterForm, BudgetLineForm
from app.budget.models import AMOUNT_DECIMALS, BudgetLine
from app.budget.reckoning import unreckoned
from app.core.errors import DomainError
from app.core.exports import download
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.i18n import written_amount
from app.core.permissions import get_agreement_or_404, is_ministry, require
from app.core.responses import done, return_here_if_refused
from app.extensions import db
from app.organizations.models import Organization

blueprint = Blueprint("budget", __name__)


def _page(agreement) -> str:
    return url_for("agreements.view_agreement", agreement_id=agreement.id, _anchor="budget")


def _line_form(agreement, line: BudgetLine | None = None) -> BudgetLineForm:
    """The line's form, its contributing party chosen among the ministry and the agreement's parties."""
    form = BudgetLineForm(obj=line if request.method == "GET" else None)
    home = db.session.scalar(select(Organization).where(Organization.is_home.is_(True)))
    form.organization_id.choices = ([(home.id, home.name)] if home else []) + [
        (p.organization_id, p.organization.name) for p in agreement.parties
    ]
    if request.method == "GET":
        if line is None:
            form.organization_id.data = next(iter(agreement.partner_organization_ids), None)
        else:
            form.show(line, services.FIELDS)
    return form


def _line_data(form: BudgetLineForm) -> services.LineData:
    return services.LineData(
        organization_id=form.organization_id.data,
        label=form.label.data,
        amount=form.amount.data,
        currency=form.currency.data,
        kind=form.kind.data,
        year=form.year.data,
        period=form.period.data,
    )


@blueprint.route("/agreements/<int:agreement_id>/budget/new", methods=["GET", "POST"])
@login_required
def add_budget_line(agreement_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    form = _line_form(agreement)
    if form.validate_on_submit():
        with refusal_shown_on(form, catching=DomainError):
            services.add_line(agreement, _line_data(form), by=current_user)
            flash(_("Budget line added."), "success")
            return redirect(_page(agreement), 303)
    return render_template("budget/line_form.html", form=form, agreement=agreement, line=None), form_status(form)


@blueprint.route("/agreements/<int:agreement_id>/budget/<int:line_id>/edit", methods=["GET", "POST"])
@login_required
def edit_budget_line(agreement_id: int, line_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    line = services.line_of(agreement, line_id)
    form = _line_form(agreement, line)
    if form.validate_on_submit():
        with refusal_shown_on(form, catching=DomainError, edited=(line, services.FIELDS)):
            services.update_line(line, _line_data(form), by=current_user, seen=form.seen.data or None)
            flash(_("Budget line saved."), "success")
            return redirect(_page(agreement), 303)
    return render_template("budget/line_form.html", form=form, agreement=agreement, line=line), form_status(form)


@blueprint.route("/agreements/<int:agreement_id>/budget/<int:line_id>/delete", methods=["POST"])
@login_required
def remove_budget_line(agreement_id: int, line_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="edit")
    line = services.line_of(agreement, line_id)
    return_here_if_refused(_page(agreement))
    services.remove_line(line, by=current_user)
    return done(_page(agreement), _("Budget line removed."))


def _year_filter():
    form = BudgetFilterForm(request.args)
    if request.args.get("year") and not form.validate():
        flash(_("Some filters were not valid and were ignored."), "warning")
        return form, None
    return form, form.year.data


@blueprint.route("/portfolio/budget")
@login_required
def budget_totals():
    require(current_user, "budget.report")
    form, year = _year_filter()
    rows = services.portfolio_totals(current_user, year)
    return render_template("budget/totals.html", rows=rows, totals=services.currency_totals(rows), form=form, year=year)


@blueprint.route("/portfolio/budget/export.<any(csv, xlsx):fmt>")
@login_required
def export_budget_totals(fmt: str):
    require(current_user, "budget.report")
    _form, year = _year_filter()
    headings, rows = services.export_table(current_user, year)
    return download(headings, rows, fmt=fmt, name="budget", title=_("Budget totals"))


@blueprint.app_template_global()
def budget_panel(agreement) -> dict:
    lines = services.lines_of(agreement)
    refusal = services.edit_refusal(agreement, current_user)
    return {
        "lines": lines,
        "totals": services.totals_by_currency(lines),
        "can_edit": refusal is None,
        # Said on the card when only an approval under way holds it (for now, not for good).
        "on_hold": refusal.message
        if refusal is not None and services.edit_refusal(agreement, current_user, counting_approval=False) is None
        else None,
        # Told to the ministry, whose approval thresholds they are (partners never see them).
        "unreckoned": unreckoned(line.currency for line in lines) if is_ministry(current_user) else [],
    }


@blueprint.app_template_filter("money")
def money(amount, currency: str) -> str:
    return written_amount(amount, currency, most_decimals=AMOUNT_DECIMALS)


@blueprint.app_template_global()
def kind_label(kind: str) -> str:
    from app.budget.models import KINDS

    return str(KINDS.get(kind, kind))
