"""The home dashboard (one per role)."""
from datetime import date

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.core.permissions import require
from app.dashboards import services
from app.deliverables.services import due_window

blueprint = Blueprint("dashboards", __name__)

# Roles that act on what the dashboard shows; the others (auditor, admin, legal) read it only.
ACTING_ROLES = frozenset({"officer", "manager"})


@blueprint.route("/dashboard")
@login_required
def home():
    require(current_user, "dashboard.view")
    if current_user.role == "partner":
        # One home for partners: their portal already shows their agreements and what is due.
        return redirect(url_for("deliverables.portal"))
    today = date.today()
    can_act = current_user.role in ACTING_ROLES
    common = {"today": today, "can_act": can_act, "deliverable_window": due_window()}
    if current_user.role == "officer":
        return render_template("dashboards/officer.html", **common,
                               **services.officer_home(current_user, today))
    return render_template("dashboards/portfolio.html", **common,
                           **services.portfolio_home(current_user, today))

