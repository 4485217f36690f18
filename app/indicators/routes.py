"""Indicators: defining them on a deliverable, the portfolio's progress page and its export."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.core.errors import DomainError
from app.core.exports import download
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.i18n import text_direction
from app.core.permissions import can, get_agreement_or_404, require
from app.extensions import db
from app.indicators import services
from app.indicators.chart import chart_svg
from app.indicators.forms import IndicatorForm
from app.indicators.models import Indicator

blueprint = Blueprint("indicators", __name__)


def _deliverable_of(agreement, deliverable_id: int):
    from app.deliverables.models import Deliverable

    deliverable = db.session.get(Deliverable, deliverable_id)
    if deliverable is None or deliverable.agreement_id != agreement.id:
        abort(404)
    return deliverable


@blueprint.route(
    "/agreements/<int:agreement_id>/deliverables/<int:deliverable_id>/indicators/new", methods=["GET", "POST"]
)
@login_required
def add_indicator(agreement_id: int, deliverable_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="indicators")
    return _edit(agreement, _deliverable_of(agreement, deliverable_id), None)


@blueprint.route("/agreements/<int:agreement_id>/indicators/<int:indicator_id>/edit", methods=["GET", "POST"])
@login_required
def edit_indicator(agreement_id: int, indicator_id: int):
    agreement = get_agreement_or_404(agreement_id, current_user, need="indicators")
    indicator = db.session.get(Indicator, indicator_id)
    if indicator is None or indicator.deliverable.agreement_id != agreement.id:
        abort(404)
    return _edit(agreement, indicator.deliverable, indicator)


def _edit(agreement, deliverable, indicator):
    form = IndicatorForm(obj=indicator if request.method == "GET" else None)
    if request.method == "GET":
        form.show(indicator, services.INDICATOR_FIELDS)
    if form.validate_on_submit():
        data = services.IndicatorData(
            name_ar=form.name_ar.data,
            name_fr=form.name_fr.data,
            name_en=form.name_en.data,
            unit=form.unit.data,
            baseline=form.baseline.data,
            target=form.target.data,
            target_scope=form.target_scope.data,
        )
        with refusal_shown_on(
            form, catching=DomainError, edited=(indicator, services.INDICATOR_FIELDS) if indicator else None
        ):
            if indicator is None:
                services.add_indicator(deliverable, data, by=current_user)
            else:
                services.update_indicator(indicator, data, by=current_user, seen=form.seen.data or None)
            flash(_("The indicator is saved."), "success")
            return redirect(url_for("agreements.view_agreement", agreement_id=agreement.id, _anchor="indicators"), 303)
    status = form_status(form)
    return render_template(
        "indicators/form.html", form=form, agreement=agreement, deliverable=deliverable, indicator=indicator
    ), status


@blueprint.route("/portfolio/indicators")
@login_required
def portfolio_indicators():
    require(current_user, "portfolio.view")
    progress = services.portfolio_progress(current_user)
    return render_template("indicators/portfolio.html", progress=progress)


@blueprint.route("/portfolio/indicators/export.<any(csv, xlsx):fmt>")
@login_required
def export_indicators(fmt: str):
    require(current_user, "portfolio.view")
    headings, rows = services.export_table(services.portfolio_progress(current_user))
    return download(headings, iter(rows), fmt=fmt, name="indicators", title=_("Indicators"))


@blueprint.app_template_global()
def indicator_progress(agreement) -> list:
    return services.progress_for_agreement(agreement, current_user)


@blueprint.app_template_global()
def indicator_chart(progress, title: str = ""):
    return chart_svg(progress, rtl=text_direction() == "rtl", title=title)


@blueprint.app_template_global()
def can_define_indicators(agreement) -> bool:
    return can(current_user, "agreement.indicators", agreement)


@blueprint.app_template_filter("number")
def number(value) -> str:
    """A figure in the reader's language, with decimals only when it has some."""
    from flask_babel import format_decimal

    return format_decimal(value, format="#,##0.##") if value is not None else "—"
