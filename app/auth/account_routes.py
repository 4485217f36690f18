"""The person's own account: profile, the second step of sign-in, two-factor enrolment, and an
admin's reset of someone's second factor. Registered on the auth blueprint."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from app.auth import email_changes, mfa, services, sessions
from app.auth.forms import CodeForm, OwnEmailForm, PasswordConfirmForm, ProfileForm
from app.auth.models import User
from app.auth.routes import (
    blueprint,
    finish_sign_in,
    signed_in_as_someone_else,
    throttled_answer,
    throttled_message,
)
from app.core import audit
from app.core.db import commit_or_conflict
from app.core.errors import ValidationFailed
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.permissions import get_user_or_404, require, requires_second_factor
from app.core.responses import done, form_errors, refused, return_here_if_refused
from app.core.text import one_line
from app.core.urls import is_safe_redirect
from app.extensions import db
from app.notifications.forms import ConfirmForm

PENDING_SECONDS = 600  # between the password and the code


def _pending_user() -> tuple[User | None, dict]:
    pending = session.get("mfa_pending") or {}
    if not isinstance(pending, dict) or time.time() - int(pending.get("at") or 0) > PENDING_SECONDS:
        return None, {}
    user = db.session.get(User, int(pending.get("user_id") or 0)) if pending.get("user_id") else None
    # The cookie is signed, not proof of a password: the key it carries must be the one the account keeps.
    if user is None or not user.is_active or not mfa.second_step_of(user, pending.get("key")):
        return None, {}
    return user, pending


@blueprint.route("/sign-in/code", methods=["GET", "POST"])
def second_step():
    """After a right password: the code from the authenticator app (or a recovery code), or, for a role
    that must use two-factor sign-in and has not enrolled yet, the enrolment itself."""
    user, pending = _pending_user()
    if user is None:
        session.pop("mfa_pending", None)
        flash(
            _(
                "Sign in again: this step with the code is no longer open (it was not finished in time, or the "
                "password or the second factor changed meanwhile)."
            ),
            "info",
        )
        return redirect(url_for("auth.sign_in"))
    enrolling = not user.has_totp
    form = CodeForm()
    address = request.remote_addr or ""
    if enrolling and not user.totp_secret:
        mfa.start_enrolment(user)
        commit_or_conflict()  # the QR code shown must match the stored secret, whatever follows
    if form.validate_on_submit():
        try:
            services.check_throttle(user.email, address)
        except services.SignInThrottled as throttled:
            db.session.rollback()
            return throttled_answer(
                throttled,
                "auth/second_step.html",
                form=form,
                user=user,
                enrolling=enrolling,
                qr=mfa.qr_svg(user) if enrolling else None,
            )
        # A failed code counts towards the throttle: that attempt is kept even though refused.
        with refusal_shown_on(form, keep_work=not enrolling):
            codes = mfa.confirm_enrolment(user, form.code.data) if enrolling else None
            if not enrolling:
                mfa.check_code(user, form.code.data, address=address)
            target = pending.get("next") or ""
            services.record_sign_in(user, address)
            finish_sign_in(user, remember=bool(pending.get("remember")))
            if not is_safe_redirect(target, allow_absolute=False):
                target = url_for("main.home")
            if codes:
                return render_template("auth/recovery_codes.html", codes=codes, next_url=target)
            return redirect(target)
    status = form_status(form)
    return render_template(
        "auth/second_step.html", form=form, user=user, enrolling=enrolling, qr=mfa.qr_svg(user) if enrolling else None
    ), status


@blueprint.route("/account", methods=["GET", "POST"])
@login_required
def profile():
    require(current_user, "session.manage")
    form = ProfileForm(obj=current_user if request.method == "GET" else None)
    if form.validate_on_submit():
        name = one_line(form.full_name.data)
        if not name:
            form.full_name.errors = [_("Give your name.")]
        elif form.language.data not in current_app.config["LANGUAGES"]:
            form.language.errors = [_("Unknown language.")]
        else:
            before = {"full_name": current_user.full_name, "language": current_user.language}
            if not current_user.is_directory_account:  # the directory owns the name of its accounts
                current_user.full_name = name[:200]
            current_user.language = form.language.data
            changes = audit.diff(before, {"full_name": current_user.full_name, "language": current_user.language})
            if changes["after"]:
                audit.record("profile_updated", current_user, actor=current_user, changes=changes)
            session["language"] = current_user.language
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("auth.profile"), 303)
    return render_template(
        "auth/profile.html",
        form=form,
        email_form=OwnEmailForm(formdata=None),
        pending_email=email_changes.pending_change(current_user),
        cancel_form=ConfirmForm(),
    ), 422 if form.errors else 200


@blueprint.route("/account/email", methods=["POST"])
@login_required
def request_email_change():
    """A new sign-in address of one's own: it takes effect when the link sent to it is followed."""
    require(current_user, "session.manage")
    back = url_for("auth.profile")
    form = OwnEmailForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    if (refusal := _password_refused(form.password.data, back)) is not None:
        return refusal
    return_here_if_refused(back)
    change = email_changes.request_change(current_user, form.email.data)
    return done(
        back,
        _(
            "A link is sent to %(email)s: your address changes when you follow it. Until then you sign in with "
            "%(current)s.",
            email=change.new_email,
            current=current_user.email,
        ),
    )


@blueprint.route("/account/email/cancel", methods=["POST"])
@login_required
def cancel_email_change():
    require(current_user, "session.manage")
    back = url_for("auth.profile")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    if not email_changes.cancel_change(current_user):
        return done(back, _("No change of address was waiting: nothing changed."), category="info")
    return done(back, _("The change of address is cancelled: its link no longer works."))


@blueprint.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """The link sent to a new address. Shown first, confirmed by a button: a mail scanner opening the link
    does not spend it."""
    change, status = email_changes.find(token)
    if status != "pending":
        refusal = email_changes.link_refusal(status)
        return render_template("auth/confirm_email.html", form=None, change=None, refusal=refusal), (
            404 if status == "unknown" else 410
        )
    account = db.session.get(User, change.user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        with refusal_shown_on(form):
            user = email_changes.confirm_change(change)
            reader = signed_in_as_someone_else(user.id)
            if reader is not None:  # the link was another account's: the reader's own address stays
                said = _(
                    "That account's sign-in address is now %(email)s. You are still signed in as %(name)s.",
                    email=user.email,
                    name=reader.full_name,
                )
                flash(said, "success")
                return redirect(url_for("main.home"), 303)
            flash(_("Your sign-in address is now %(email)s.", email=user.email), "success")
            return redirect(url_for("auth.profile" if current_user.is_authenticated else "auth.sign_in"), 303)
    return render_template(
        "auth/confirm_email.html", form=form, change=change, account=account, refusal=None
    ), form_status(form)


@blueprint.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def enrol_two_factor():
    """Turn two-factor sign-in on: scan the QR code, confirm with a code, keep the recovery codes."""
    require(current_user, "session.manage")
    if current_user.has_totp:
        return redirect(url_for("auth.security"))
    if request.method == "GET" or not current_user.totp_secret:
        # A secret drawn for each showing: one shown earlier (to whoever had the session then) and kept
        # had been offered again, and once confirmed that person held the second factor too.
        mfa.start_enrolment(current_user)
        commit_or_conflict()  # the QR code shown must match the stored secret, whatever follows
    form = CodeForm()
    if form.validate_on_submit():
        with refusal_shown_on(form):
            codes = mfa.confirm_enrolment(current_user, form.code.data)
            # Turned on, often for fear of a leak: the account's other browsers sign in again, with the code.
            sessions.end_all(current_user, "two_factor_on", keep=current_user.current_session)
            return render_template("auth/recovery_codes.html", codes=codes, next_url=url_for("auth.security"))
    return render_template(
        "auth/enrol_two_factor.html", form=form, qr=mfa.qr_svg(current_user), secret=current_user.totp_secret
    ), form_status(form)


def _code_refused(code: str, back: str):
    """A second-factor code typed in an open session (turning it off, new recovery codes), checked as
    /sign-in/code checks it: the sign-in throttle first, and a wrong code counted as a failed sign-in (a
    refusal's rollback had forgotten it). A session taken had guessed codes here without limit, into two-
    factor turned off or a fresh set of recovery codes. The response when refused; None for a right code."""
    address = request.remote_addr or ""
    try:
        services.check_throttle(current_user.email, address)
    except services.SignInThrottled as throttled:
        return refused(back, ValidationFailed(throttled_message(throttled)))
    try:
        mfa.check_code(current_user, code, address=address)
    except ValidationFailed as error:
        flash(error.message, "danger")
        return redirect(back, 303)
    return None


@blueprint.route("/account/two-factor/off", methods=["POST"])
@login_required
def turn_off_two_factor():
    require(current_user, "session.manage")
    back = url_for("auth.security")
    form = PasswordConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    if requires_second_factor(current_user, current_app.config):
        return refused(back, ValidationFailed(_("Your role must use two-factor sign-in: it cannot be turned off.")))
    if (refusal := _password_refused(form.password.data, back)) is not None:
        return refusal
    return_here_if_refused(back)
    if (refusal := _code_refused(form.code.data, back)) is not None:
        return refusal
    mfa.turn_off(current_user, by=current_user, reason="by_user")
    return done(back, _("Two-factor sign-in is off."))


@blueprint.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
def new_recovery_codes():
    require(current_user, "session.manage")
    back = url_for("auth.security")
    form = CodeForm()
    if not form.validate_on_submit() or not current_user.has_totp:
        return refused(back, form_errors(form))
    if (refusal := _code_refused(form.code.data, back)) is not None:
        return refusal
    codes = mfa.new_recovery_codes(current_user)
    audit.record("mfa_recovery_codes_renewed", current_user, actor=current_user)
    return render_template("auth/recovery_codes.html", codes=codes, next_url=back)


@blueprint.route("/admin/users/<int:user_id>/two-factor/reset", methods=["POST"])
@login_required
def reset_two_factor(user_id: int):
    """An admin removes someone's second factor (a lost phone); they enrol again at their next sign-in."""
    require(current_user, "user.reset_mfa")
    user = get_user_or_404(user_id, current_user, need="edit")
    back = url_for("admin.edit_user", user_id=user.id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    if not user.has_totp and not user.totp_secret:
        return refused(back, ValidationFailed(_("This person has no second factor to reset.")))
    mfa.turn_off(user, by=current_user, reason="reset_by_admin")
    return done(back, _("The second factor of %(name)s is reset.", name=user.full_name))


@blueprint.app_template_global()
def two_factor_status(user) -> dict:
    return {
        "on": user.has_totp,
        "required": requires_second_factor(user, current_app.config),
        "recovery_left": mfa.remaining_recovery_codes(user) if user.has_totp else 0,
    }


def _password_refused(password: str, back: str):
    """The reader's password asked again before a change: None when it is right (or for a directory account,
    whose password is the directory's), else the response that says why."""
    if current_user.is_directory_account:
        return None
    try:
        services.check_current_password(current_user, password, request.remote_addr or "", field="password")
    except services.SignInThrottled as throttled:
        return refused(back, ValidationFailed(throttled_message(throttled)))
    except ValidationFailed as wrong:  # not refused(): its rollback would forget the failed attempt
        flash(wrong.message, "danger")
        return redirect(back, 303)
    return None
