"""Board, timeline, calendar and stage analytics: read-only views of the agreements the reader may see."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request
from flask_babel import format_decimal, get_locale
from flask_login import login_required

from app.auth.kept_pages import kept_page
from app.core import clock
from app.core.i18n import gettext as _
from app.core.models import utcnow
from app.core.permissions import require, signed_in_user
from app.reporting.portfolio import filters as query
from app.reporting.portfolio.board import CARD_CAP, build_board
from app.reporting.portfolio.deadlines import build_month, weekday_names
from app.reporting.portfolio.report import build_report, year_choices
from app.reporting.portfolio.timeline import build_timeline

blueprint = Blueprint("portfolio", __name__, url_prefix="/portfolio")


@blueprint.app_template_filter("decimal_days")
def decimal_days(value: float) -> str:
    """Days with one decimal in the reader's language (12.5, 12,5, ١٢٫٥)."""
    return format_decimal(round(value, 1), format="#,##0.0")


def _warn_if(ignored: bool) -> None:
    if ignored:
        flash(_("Some filters were not valid and were ignored."), "warning")


@blueprint.route("/board", endpoint="board")
@login_required
@kept_page
def show_board():
    reader = signed_in_user()
    require(reader, "portfolio.view")
    choices = query.filter_choices(reader, request.args)
    filters, ignored = query.read_filters(request.args, choices)
    _warn_if(ignored)
    return render_template(
        "portfolio/board.html",
        board=build_board(reader, filters, clock.today()),
        filters=filters,
        choices=choices,
        cap=CARD_CAP,
    )


@blueprint.route("/timeline", endpoint="timeline")
@login_required
@kept_page
def show_timeline():
    reader = signed_in_user()
    require(reader, "portfolio.view")
    group, ignored = query.read_group(request.args.get("group"))
    _warn_if(ignored)
    return render_template(
        "portfolio/timeline.html", timeline=build_timeline(reader, group, clock.today()), group=group
    )


@blueprint.route("/calendar", endpoint="calendar")
@login_required
@kept_page
def show_calendar():
    reader = signed_in_user()
    require(reader, "portfolio.view")
    today = clock.today()
    first, ignored = query.read_month(request.args.get("month"), today)
    _warn_if(ignored)
    return render_template(
        "portfolio/calendar.html", month=build_month(reader, first, today), weekdays=weekday_names(get_locale())
    )


@blueprint.route("/analytics", endpoint="analytics")
@login_required
@kept_page
def show_analytics():
    reader = signed_in_user()
    require(reader, "analytics.view")
    types = query.type_choices()
    agreement_type = request.args.get("type") if request.args.get("type") in dict(types) else None
    years = year_choices(reader)
    year, bad_year = query.read_year(request.args.get("year"), years)
    _warn_if(bad_year or (request.args.get("type") not in (None, "") and agreement_type is None))
    report = build_report(reader, agreement_type=agreement_type, year=year, now=utcnow())
    return render_template(
        "portfolio/analytics.html",
        report=report,
        types=types,
        year_choices=[(y, str(y)) for y in years],
        agreement_type=agreement_type,
        year=year,
    )
