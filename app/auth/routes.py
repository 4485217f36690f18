from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import services
from app.auth.forms import ChangePasswordForm, SignInForm
from app.core.errors import ValidationFailed
from app.core.forms import apply_field_errors
from app.core.urls import is_safe_redirect
from app.extensions import db

blueprint = Blueprint("auth", __name__)


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data, request.remote_addr or "")
        except services.SignInThrottled as throttled:
            db.session.rollback()
            flash(ngettext("Too many failed sign-in attempts. Try again in %(num)d minute.",
                           "Too many failed sign-in attempts. Try again in %(num)d minutes.",
                           throttled.minutes), "danger")
            return render_template("auth/sign_in.html", form=form), 429
        if user is None:
            db.session.commit()  # keep the failed attempt: it counts towards throttling
            flash(_("Wrong e-mail or password."), "danger")
            return render_template("auth/sign_in.html", form=form), 401
        services.clear_failures(user.email)
        db.session.commit()
        session.clear()  # a fresh session on sign-in: no fixation
        login_user(user, remember=form.remember.data)
        session["language"] = user.language
        target = form.next.data
        if not is_safe_redirect(target, allow_absolute=False):
            target = url_for("main.home")
        return redirect(target)
    return render_template("auth/sign_in.html", form=form), 422 if form.errors else 200


@blueprint.route("/sign-out", methods=["POST"])
def sign_out():
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.new_password.data)
        except ValidationFailed as error:
            db.session.rollback()
            apply_field_errors(form, error)
        else:
            db.session.commit()
            # The nonce changed; sign this session in again so only the others end.
            login_user(current_user._get_current_object())
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", form=form), 422 if form.errors else 200


@blueprint.app_context_processor
def _inject_limits():
    return {"login_window_minutes": current_app.config["LOGIN_WINDOW_MINUTES"]}
