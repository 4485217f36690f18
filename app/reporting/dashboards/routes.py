"""The home dashboard (one per role)."""

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_login import login_required

from app.core import clock
from app.core.bounded import BoundedCache
from app.core.models import utcnow
from app.core.permissions import acts_from_dashboard, edits_own_agreements_only, is_partner, require, signed_in_user
from app.deliverables.falling_due import due_window
from app.reporting.dashboards import services

blueprint = Blueprint("dashboards", __name__)

# Dashboards as rendered for a session, by version: a browser's reload of an unchanged dashboard
# (browsers are told not to keep signed-in pages, so they never revalidate) costs the version's one
# query instead of the page's ten. The key holds the session's CSRF secret, since the page's forms
# carry a token only that session accepts, and the path (the language switch returns to it).
# About 60 KB a page: 64 pages stay under 4 MB per worker.
_RENDERED = BoundedCache(64)


@blueprint.route("/dashboard")
@login_required
def home():
    reader = signed_in_user()
    require(reader, "dashboard.view")
    if is_partner(reader):
        # One home for partners: their portal already shows their agreements and what is due.
        return redirect(url_for("deliverables.portal"))
    today = clock.today()
    # A reload of an unchanged dashboard costs one query and a 304; a pending message
    # (a flash after a redirect) always gets the full page.
    version = services.dashboard_version(reader, utcnow(), str(get_locale()))
    if version in request.if_none_match and not session.get("_flashes"):
        return _revalidated(Response(status=304), version)
    keep = current_app.config["DASHBOARD_PAGES_KEPT"] and not session.get("_flashes")
    page = _RENDERED.find(_kept_page_key(version)) if keep else None
    if page is None:
        page = _render(reader, today)
        if keep:
            # Rendering may have given the session its CSRF secret: the page is kept under that one.
            _RENDERED.put(_kept_page_key(version), page)
    return _revalidated(make_response(page), version)


def _kept_page_key(version: str) -> tuple:
    return (version, session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")), request.full_path)


def _render(reader, today) -> str:
    common = {"today": today, "can_act": acts_from_dashboard(reader), "deliverable_window": due_window()}
    if edits_own_agreements_only(reader):
        return render_template("dashboards/officer.html", **common, **services.officer_home(reader, today))
    return render_template("dashboards/portfolio.html", **common, **services.portfolio_home(reader, today))


def _revalidated(response, version: str):
    """The page's version as an ETag: a client that asks again with it gets a 304. Browsers are told
    not to keep signed-in pages at all (no-store, the security rule for a shared computer), so this
    serves scripts, monitors and proxies that revalidate on their own."""
    response.set_etag(version)
    response.headers["Cache-Control"] = "no-store"
    return response
