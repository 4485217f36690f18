"""Home page and language switch (health checks: app/operations)."""

from flask import Blueprint, redirect, request, session, url_for
from flask_login import current_user, login_required

from app.auth.forms import LanguageForm
from app.auth.routes import CARRIED_LANGUAGE
from app.auth.services import set_language
from app.core.permissions import is_partner
from app.core.urls import is_safe_redirect

blueprint = Blueprint("main", __name__)


@blueprint.route("/")
@login_required
def home():
    # Partners start from what they owe (their portal); ministry staff from their dashboard.
    if is_partner(current_user):
        return redirect(url_for("deliverables.portal"))
    return redirect(url_for("dashboards.home"))


@blueprint.route("/language", methods=["POST"])
def switch_language():
    form = LanguageForm()
    if form.validate_on_submit():
        language = form.language.data
        session["language"] = language
        session.pop(CARRIED_LANGUAGE, None)  # chosen now: signing in keeps it (auth.routes.finish_sign_in)
        if current_user.is_authenticated:
            set_language(current_user, language)
    target = form.next.data or request.referrer
    if not is_safe_redirect(target):
        target = url_for("main.home")
    return redirect(target)
