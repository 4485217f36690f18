"""User administration."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.admin.forms import HandOverForm, UserForm
from app.agreements.services import hand_over, owned_under_way
from app.api.tokens import tokens_of
from app.auth import leavers, sessions
from app.auth import services as accounts
from app.auth.models import ROLES, User
from app.choices.services import fill
from app.core.errors import ConcurrentChange, ValidationFailed
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.pagination import paginate
from app.core.permissions import get_user_or_404, holders_of_roles_clause, is_known_role, require
from app.core.responses import done, form_errors, refused, return_here_if_refused
from app.core.text import fold, like_pattern
from app.extensions import db
from app.notifications.forms import ConfirmForm
from app.organizations.models import Organization
from app.workflow.checks import approvals_left_to_nobody, steps_nobody_can_complete

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.route("/users")
@login_required
def list_users():
    require(current_user, "user.list")
    # The id breaks ties: two people of the same name on either side of a page's edge would each be
    # shown twice or never (the database may order equal names differently for each page).
    query = select(User).order_by(User.full_name, User.id)
    role = request.args.get("role")
    if is_known_role(role):
        query = query.where(holders_of_roles_clause((role,)))
    elif role:
        flash(_("Some filters were not valid and were ignored."), "warning")
    term = fold((request.args.get("q") or "")[:200])
    if term:
        # Name or e-mail, folded as stored: "helene" finds "Hélène".
        query = query.where(User.search_text.like(like_pattern(term), escape="\\"))
    return render_template("admin/users.html", page=paginate(query, per_page=50), roles=ROLES)


@blueprint.route("/users/new", methods=["GET", "POST"])
@login_required
def create_user():
    require(current_user, "user.create")
    form = UserForm()
    # A new account needs its first password (an edit may keep the current one): marked so on the form.
    form.password.flags.required = True
    _fill_choices(form)
    if request.method == "GET":
        # The admin's own, as an invitation's: an account made from the French pages had Arabic mail.
        form.language.data = current_user.language
    if form.validate_on_submit():
        if not (form.password.data or "").strip():
            # Said with whatever else is wrong, not one refusal at a time.
            with refusal_shown_on(form):
                accounts.check_account_rules(
                    email=form.email.data,
                    role=form.role.data,
                    organization=_organization(form.organization_id.data),
                    language=form.language.data,
                    is_org_admin=form.is_org_admin.data,
                )
            form.password.errors = [*form.password.errors, _("Give an initial password.")]
        else:
            with refusal_shown_on(form):
                user = accounts.create_user(
                    email=form.email.data,
                    full_name=form.full_name.data,
                    role=form.role.data,
                    password=form.password.data,
                    organization=_organization(form.organization_id.data),
                    language=form.language.data,
                    is_active=form.is_active.data,
                    by=current_user,
                    is_org_admin=form.is_org_admin.data,
                )
                flash(_("Account created for %(email)s.", email=user.email), "success")
                return redirect(url_for("admin.list_users"))
    status = form_status(form)
    return render_template("admin/user_form.html", form=form, user=None), status


@blueprint.route("/users/<int:user_id>")
@login_required
def view_user(user_id: int):
    """One account as its readers see it (auditors read every account, change none): who it is, what it may
    do, where it is signed in and which tokens act as it, what it owns under way."""
    user = get_user_or_404(user_id, current_user, need="view")
    return render_template(
        "admin/user_view.html",
        user=user,
        open_sessions=sessions.open_sessions(user),
        active_tokens=[token for token in tokens_of(user) if token.is_active],
        owned=owned_under_way(user),
    )


@blueprint.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def edit_user(user_id: int):
    user = get_user_or_404(user_id, current_user, need="edit")
    form = UserForm(obj=user if request.method == "GET" else None, editing=True, current_email=user.email)
    _fill_choices(form)
    if request.method == "GET":
        form.is_active.data = user.is_active_account
        form.seen.data = accounts.account_fingerprint(user)
    if form.validate_on_submit():
        uncompletable = steps_nobody_can_complete()
        with refusal_shown_on(form, catching=(ValidationFailed, ConcurrentChange)):
            accounts.update_user(
                user,
                full_name=form.full_name.data,
                role=form.role.data,
                organization=_organization(form.organization_id.data),
                language=form.language.data,
                is_active=form.is_active.data,
                by=current_user,
                is_org_admin=form.is_org_admin.data,
                # Spaces only means "keep the password", as an empty field does.
                new_password=form.password.data if (form.password.data or "").strip() else None,
                seen=form.seen.data or None,
                email=form.email.data if form.email.raw_data else None,
            )
            flash(_("Account %(email)s saved.", email=user.email), "success")
            if warning := approvals_left_to_nobody(uncompletable):
                flash(warning, "warning")
            return redirect(url_for("admin.list_users"))
    status = form_status(form)
    if isinstance(getattr(form, "service_refusal", None), ConcurrentChange):
        # Shown as it is now (the refusal is flashed above it), to change again from there.
        db.session.expire_all()
        form = UserForm(obj=user, editing=True, current_email=user.email)
        _fill_choices(form)
        form.is_active.data, form.seen.data = user.is_active_account, accounts.account_fingerprint(user)
    return render_template(
        "admin/user_form.html",
        form=form,
        user=user,
        open_sessions=sessions.open_sessions(user),
        active_tokens=[token for token in tokens_of(user) if token.is_active],
        owned=owned_under_way(user),
        handover_form=_handover_form(user),
    ), status


@blueprint.route("/users/<int:user_id>/hand-over", methods=["POST"])
@login_required
def hand_over_agreements(user_id: int):
    """Give every agreement the person owns under way to one colleague, so a leaver's account can then change."""
    user = get_user_or_404(user_id, current_user, need="edit")
    require(current_user, "agreement.edit")
    back = url_for("admin.edit_user", user_id=user.id) + "#hand-over"
    form = _handover_form(user)
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    return_here_if_refused(back)
    successor = db.session.get(User, form.successor_id.data)
    count = hand_over(user, successor, by=current_user)
    return done(
        back,
        ngettext(
            "%(num)s agreement under way now belongs to %(name)s.",
            "%(num)s agreements under way now belong to %(name)s.",
            count,
            name=successor.full_name,
        ),
    )


def _handover_form(user: User) -> HandOverForm:
    form = HandOverForm()
    fill(form.successor_id, "owners", current_user, blank=(None, "—"), exclude=[user.id])
    return form


@blueprint.route("/users/<int:user_id>/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere(user_id: int):
    require(current_user, "user.sign_out")
    user = get_user_or_404(user_id, current_user, need="edit")
    back = url_for("admin.edit_user", user_id=user.id) + "#signed-in"
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    return_here_if_refused(back)
    ended = leavers.sign_out_everywhere(user, by=current_user)
    return done(
        back,
        _(
            "%(name)s is signed out everywhere (sessions ended: %(sessions)s; API tokens revoked: %(tokens)s).",
            name=user.full_name,
            sessions=ended["sessions_ended"],
            tokens=ended["tokens_revoked"],
        ),
    )


def _organization(organization_id):
    return db.session.get(Organization, organization_id) if organization_id else None


def _fill_choices(form: UserForm) -> None:
    fill(form.organization_id, "organizations", current_user, blank=(None, "—"))
