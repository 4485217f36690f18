import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user

from app.api.tokens import tokens_of
from app.auth import directory, mfa, resets, services, sessions
from app.auth.forms import ChangePasswordForm, ForgotPasswordForm, ResetPasswordForm, SignInForm
from app.auth.models import User
from app.core.db import keep_even_if_refused
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import current_language, ngettext
from app.core.i18n import gettext as _
from app.core.permissions import require
from app.core.responses import done, form_errors, refused
from app.core.urls import is_safe_redirect
from app.extensions import db
from app.notifications.forms import ConfirmForm

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
            user = services.authenticate(
                form.email.data, form.password.data, request.remote_addr or "", language=current_language()
            )
        except services.SignInThrottled as throttled:
            db.session.rollback()
            return throttled_answer(throttled, "auth/sign_in.html", form=form)
        except directory.DirectoryUnavailable:
            return _sign_in_refused(
                form,
                503,
                _(
                    "The ministry directory cannot be reached just now, so directory accounts cannot sign in. "
                    "Try again in a few minutes; administrators with a local account can still sign in."
                ),
            )
        except directory.DirectoryNoAccess:
            keep_even_if_refused()  # the account is deactivated and its sessions ended
            return _sign_in_refused(
                form,
                403,
                _(
                    "Your directory account does not give access to Sharaka (it is disabled or in no Sharaka "
                    "group). Ask the ministry's IT service."
                ),
            )
        except directory.DirectoryConflict:
            return _sign_in_refused(
                form,
                409,
                _(
                    "Your directory entry's e-mail address belongs to another Sharaka account, which it cannot "
                    "take over. Ask the ministry's Sharaka administrator."
                ),
            )
        except directory.PasswordExpired:
            help_text = current_app.config.get("LDAP_PASSWORD_HELP")
            said = _("Your directory password has expired or must be changed: change it first.")
            return _sign_in_refused(form, 403, f"{said} {help_text}" if help_text else said)
        if user is None:
            keep_even_if_refused()  # the failed attempt counts towards throttling
            return _sign_in_refused(form, 401, _("Wrong e-mail or password."))
        target = form.next.data
        if not is_safe_redirect(target, allow_absolute=False):
            target = url_for("main.home")
        if mfa.needs_second_step(user):
            # The password is right; the session is opened only after the second step.
            session.clear()
            session["mfa_pending"] = {
                "user_id": user.id,
                "key": mfa.begin_second_step(user),  # the password's proof, checked on the server
                "remember": bool(form.remember.data),
                "next": target,
                "at": int(time.time()),
            }
            return redirect(url_for("auth.second_step"), 303)
        finish_sign_in(user, remember=bool(form.remember.data))
        return redirect(target)
    return render_template("auth/sign_in.html", form=form), 422 if form.errors else 200


def _sign_in_refused(form, status: int, message: str):
    """The sign-in page again with why it refused (what the request wrote is kept only where the caller
    said keep_even_if_refused)."""
    flash(message, "danger")
    return render_template("auth/sign_in.html", form=form), status


def throttled_message(throttled) -> str:
    return ngettext(
        "Too many failed sign-in attempts. Try again in %(num)d minute.",
        "Too many failed sign-in attempts. Try again in %(num)d minutes.",
        throttled.minutes,
    )


def throttled_answer(throttled, template: str, **context):
    flash(throttled_message(throttled), "danger")
    return render_template(template, **context), 429


def finish_sign_in(user, *, remember: bool) -> None:
    """Open the server-side session and sign the browser in (after the password, and the code if any)."""
    services.clear_failures(user.email, request.remote_addr or "")
    user.second_step_key = None  # a pending second step is spent (or had none)
    sessions.start(
        user, remember=remember, address=request.remote_addr or "", user_agent=request.headers.get("User-Agent", "")
    )
    # A language picked on the sign-in page (kept by the switch for a visitor) is a choice made now: it
    # wins over the one stored, and is stored, as the switch stores it for someone signed in. Not the one
    # the last person's pages spoke, carried to the sign-in page by their signing out: on a shared computer
    # it had become the next person's language, their mail's too.
    chosen = None if session.get(CARRIED_LANGUAGE) else session.get("language")
    session.clear()  # a fresh session on sign-in: no fixation
    login_user(user, remember=remember)
    if isinstance(chosen, str):
        services.set_language(user, chosen)
    session["language"] = user.language


def sign_out_here(reason: str) -> None:
    """Sign this browser out, ending its sign-in on the server too: a copy of either cookie no longer opens
    anything (a reset link or an invitation used in a browser signed in as someone else had left that
    person's session open)."""
    if current_user.is_authenticated and current_user.current_session is not None:
        sessions.end(current_user.current_session, reason)
    language = session.get("language")
    logout_user()
    session.clear()
    if language:  # the sign-in page that follows speaks on as the pages did (a reset's came back in English)
        session["language"], session[CARRIED_LANGUAGE] = language, True


# In the session of a browser signed out: its language is the last person's, not one chosen since (the
# language switch drops the mark).
CARRIED_LANGUAGE = "language_carried"


@blueprint.app_template_global()
def signed_in_as_someone_else(account_id: int | None) -> User | None:
    """Who is signed in in this browser when it is not the account a link acts on (`account_id`; None for an
    invitation, whose account does not exist yet), else None. A password reset's, an e-mail change's or an
    invitation's link opened where someone else is signed in (a shared computer, a forwarded mail) says so
    before it acts, and what it says after is about that account, not about the reader's own."""
    if current_user.is_authenticated and current_user.id != account_id:
        return current_user
    return None


@blueprint.route("/sign-out", methods=["POST"])
def sign_out():
    sign_out_here("signed_out")
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


@blueprint.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    if current_user.is_authenticated:
        return redirect(url_for("auth.change_password"))
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            resets.request_reset(form.email.data, request.remote_addr or "")
        except resets.ResetThrottled:
            db.session.rollback()
            flash(_("Too many requests for this address. Try again in an hour."), "danger")
            return render_template("auth/forgot_password.html", form=form), 429
        # The same words whether or not the address has an account.
        flash(
            _(
                "If an account uses this address, a link to choose a new password is on its way. "
                "It works once, for %(n)s minutes.",
                n=current_app.config["PASSWORD_RESET_MINUTES"],
            ),
            "info",
        )
        return redirect(url_for("auth.sign_in"), 303)
    return render_template("auth/forgot_password.html", form=form), 422 if form.errors else 200


@blueprint.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    row = resets.valid_reset(token)
    if row is None:
        return render_template("auth/reset_password.html", form=None), 404
    account = db.session.get(User, row.user_id)
    if "language" not in session:  # opened from the e-mail: the page speaks its language, as the mail did
        session["language"] = account.language
        refresh()
    form = ResetPasswordForm()
    if form.validate_on_submit():
        with refusal_shown_on(form):
            resets.reset_password(row, form.new_password.data)
            sign_out_here("another_account")
            flash(
                _("Your password has been changed. Sign in with the new one; every other session has ended."), "success"
            )
            return redirect(url_for("auth.sign_in"), 303)
    return render_template("auth/reset_password.html", form=form, account=account), form_status(form)


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if current_user.is_directory_account:  # the directory owns this password
        return render_template("auth/change_password.html", form=form), 200 if request.method == "GET" else 409
    if form.validate_on_submit():
        try:
            # Nothing is changed before a refusal but the failed attempt, which is kept (keep_work).
            with refusal_shown_on(form, keep_work=True):
                cancelled = services.change_password(
                    current_user,
                    form.current_password.data,
                    form.new_password.data,
                    revoke_tokens=form.revoke_tokens.data,
                    address=request.remote_addr or "",
                )
                flash(_("Your password has been changed."), "success")
                if cancelled:
                    said = _(
                        "The change of sign-in address to %(email)s is cancelled: its link no longer works. "
                        "If you asked for it, ask again from your profile.",
                        email=cancelled,
                    )
                    flash(said, "warning")
                return redirect(url_for("main.home"))
        except services.SignInThrottled as throttled:
            db.session.rollback()
            return throttled_answer(throttled, "auth/change_password.html", form=form)
    return render_template("auth/change_password.html", form=form), form_status(form)


@blueprint.route("/account/security")
@login_required
def security():
    require(current_user, "session.manage")
    return render_template(
        "auth/security.html",
        sessions=sessions.open_sessions(current_user),
        current=current_user.current_session,
        tokens=tokens_of(current_user),
        confirm=ConfirmForm(),
    )


@blueprint.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int):
    require(current_user, "session.manage")
    row = sessions.session_of(current_user, session_id)
    if row is None:
        abort(404)
    back = url_for("auth.security")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    sessions.end(row, "ended_by_user")
    if current_user.current_session is not None and row.id == current_user.current_session.id:
        logout_user()
        session.clear()
        return redirect(url_for("auth.sign_in"), 303)
    return done(back, _("That session has ended."))


@blueprint.route("/account/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions():
    require(current_user, "session.manage")
    back = url_for("auth.security")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    ended = sessions.end_all(current_user, "ended_by_user", keep=current_user.current_session)
    return done(back, ngettext("%(num)d other session has ended.", "%(num)d other sessions have ended.", ended))


@blueprint.app_context_processor
def _inject_limits():
    return {"login_window_minutes": current_app.config["LOGIN_WINDOW_MINUTES"]}
