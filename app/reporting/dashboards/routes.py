"""The home dashboard (one per role)."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import login_required

from app.auth.kept_pages import kept_page
from app.core import clock
from app.core.permissions import acts_from_dashboard, edits_own_agreements_only, is_partner, require, signed_in_user
from app.deliverables.falling_due import due_window
from app.reporting.dashboards import services

blueprint = Blueprint("dashboards", __name__)


@blueprint.route("/dashboard")
@login_required
@kept_page
def home():
    reader = signed_in_user()
    require(reader, "dashboard.view")
    if is_partner(reader):
        # One home for partners: their portal already shows their agreements and what is due.
        return redirect(url_for("deliverables.portal"))
    return _render(reader, clock.today())


def _render(reader, today) -> str:
    common = {"today": today, "can_act": acts_from_dashboard(reader), "deliverable_window": due_window()}
    if edits_own_agreements_only(reader):
        return render_template("dashboards/officer.html", **common, **services.officer_home(reader, today))
    return render_template("dashboards/portfolio.html", **common, **services.portfolio_home(reader, today))
