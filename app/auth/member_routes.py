"""Invitations, and an organisation's own accounts (its partner admin or a Sharaka admin).
Registered on the auth blueprint. Another organisation's account or invitation is a 404."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import refresh
from flask_login import current_user, login_required
from sqlalchemy import select

from app.auth import invitations, members, services
from app.auth.forms import AcceptInvitationForm, InvitationForm, MemberAccessForm, MemberEmailForm, role_choices
from app.auth.models import User
from app.auth.routes import blueprint, sign_out_here
from app.choices.services import fill
from app.core.forms import form_status, refusal_shown_on
from app.core.i18n import gettext as _
from app.core.pagination import paginate
from app.core.permissions import (
    can_manage_members,
    get_invitation_or_404,
    get_member_or_404,
    invitable_roles,
    manages_every_account,
    visible_members_clause,
)
from app.core.responses import done, form_errors, refused, return_here_if_refused
from app.extensions import db
from app.notifications.forms import ConfirmForm
from app.organizations.models import Organization
from app.workflow.checks import approvals_left_to_nobody, steps_nobody_can_complete


@blueprint.app_template_global("can_manage_members")
def _can_manage_members(user) -> bool:
    return can_manage_members(user)


@blueprint.app_template_global("manages_every_account")
def _manages_every_account(user) -> bool:
    return manages_every_account(user)


def _require_manager() -> None:
    if not can_manage_members(current_user):
        abort(403)


@blueprint.route("/team")
@login_required
def list_members():
    _require_manager()
    query = select(User).where(visible_members_clause(current_user)).order_by(User.full_name, User.id)
    pending = db.session.scalars(invitations.pending_query(current_user).limit(200)).all()
    unbacked = {invitation.id for invitation in pending if not invitations.inviter_stands_behind(invitation)}
    return render_template(
        "auth/members.html",
        page=paginate(query, per_page=50),
        pending=pending,
        unbacked=unbacked,
        undelivered=invitations.undelivered(pending),
        confirm=ConfirmForm(),
    )


@blueprint.route("/team/<int:user_id>", methods=["GET", "POST"])
@login_required
def edit_member(user_id: int):
    _require_manager()
    member = get_member_or_404(user_id, current_user, need="edit")
    form = MemberAccessForm()
    agreements = members.agreements_of(member) if member.is_partner else []
    form.agreements.choices = [(str(a.id), f"{a.reference} — {a.title}") for a in agreements]
    if request.method == "GET":
        form.scope.data = "some" if member.deliverables_restricted else "all"
        form.agreements.data = [str(i) for i in members.granted_ids(member)]
    if form.validate_on_submit():
        with refusal_shown_on(form):
            members.set_deliverable_access(
                member, restricted=form.scope.data == "some", agreement_ids=form.agreements.data, by=current_user
            )
            flash(_("What %(name)s sees is saved.", name=member.full_name), "success")
            return redirect(url_for("auth.edit_member", user_id=member.id), 303)
    email_form = MemberEmailForm(data={"email": member.email}, formdata=None)
    return render_template(
        "auth/member.html",
        member=member,
        form=form,
        email_form=email_form,
        confirm=ConfirmForm(),
        has_agreements=bool(agreements),
    ), form_status(form)


@blueprint.route("/team/<int:user_id>/email", methods=["POST"])
@login_required
def change_member_email(user_id: int):
    _require_manager()
    member = get_member_or_404(user_id, current_user, need="edit")
    back = url_for("auth.edit_member", user_id=member.id)
    form = MemberEmailForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    return_here_if_refused(back)
    if not services.change_member_email(member, form.email.data, by=current_user):
        said = _("That is already %(name)s's address: nothing changed.", name=member.full_name)
        return done(back, said, category="info")
    name, email = member.full_name, member.email
    return done(back, _("%(name)s now signs in with %(email)s; both addresses are told.", name=name, email=email))


@blueprint.route("/team/<int:user_id>/<any(deactivate, reactivate):change>", methods=["POST"])
@login_required
def set_member_active(user_id: int, change: str):
    _require_manager()
    member = get_member_or_404(user_id, current_user, need="edit")
    back = url_for("auth.edit_member", user_id=member.id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    return_here_if_refused(back)
    was_active = member.is_active_account
    uncompletable = steps_nobody_can_complete() if change == "deactivate" and was_active else None
    changed = members.set_active(member, change == "reactivate", by=current_user)
    if not changed:
        said = (
            _("%(name)s could already sign in: nothing changed.", name=member.full_name)
            if change == "reactivate"
            else _("%(name)s was already deactivated: nothing changed.", name=member.full_name)
        )
        return done(back, said, category="info")
    if change == "reactivate":
        return done(back, _("%(name)s can sign in again.", name=member.full_name))
    if not was_active:  # closed by their organisation's admin, now by the ministry
        return done(
            back,
            _(
                "%(name)s stays deactivated, now by the ministry: only its administrator can reactivate the account.",
                name=member.full_name,
            ),
        )
    answer = done(
        back, _("%(name)s can no longer sign in; their sessions and API tokens have ended.", name=member.full_name)
    )
    if uncompletable is not None and (warning := approvals_left_to_nobody(uncompletable)):
        flash(warning, "warning")  # after the success, as the account form says it
    return answer


@blueprint.route("/invitations/new", methods=["GET", "POST"])
@login_required
def invite():
    _require_manager()
    form = InvitationForm()
    form.role.choices = role_choices(invitable_roles(current_user))
    if manages_every_account(current_user):
        # Any organisation of the government: searched as one types past the drop-down's limit.
        fill(form.organization_id, "organizations", current_user, blank=("", "—"), text_values=True)
    else:
        form.organization_id.choices = [(str(current_user.organization_id), current_user.organization.name)]
    if request.method == "GET":
        form.language.data = current_user.language
    if form.validate_on_submit():
        # The choice check kept the id to one the inviter may choose.
        chosen = db.session.get(Organization, int(form.organization_id.data)) if form.organization_id.data else None
        with refusal_shown_on(form):
            invitation = invitations.invite(
                email=form.email.data,
                role=form.role.data,
                organization=chosen,
                language=form.language.data,
                by=current_user,
            )
            flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
            return redirect(url_for("auth.list_members"), 303)
    return render_template("auth/invite.html", form=form), form_status(form)


@blueprint.route("/invitations/<int:invitation_id>/<any(resend, revoke):change>", methods=["POST"])
@login_required
def change_invitation(invitation_id: int, change: str):
    _require_manager()
    invitation = get_invitation_or_404(invitation_id, current_user, need="manage")
    back = url_for("auth.list_members")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return refused(back, form_errors(form))
    return_here_if_refused(back)
    if change == "resend":
        invitations.resend(invitation, by=current_user)
    else:
        invitations.revoke(invitation, by=current_user)
    if change == "resend":
        return done(
            back, _("A new link is on its way to %(email)s; the previous one no longer works.", email=invitation.email)
        )
    return done(back, _("The invitation to %(email)s is revoked.", email=invitation.email))


@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    """The invitee's page, in the language of their invitation (until they choose another)."""
    invitation, status = invitations.find(token)
    if invitation is not None and "language" not in session:
        session["language"] = invitation.language
        refresh()
    if status != "pending":
        return render_template(
            "auth/accept_invitation.html", form=None, status=status, invitation=None
        ), 410 if status in ("expired", "revoked", "accepted", "unbacked") else 404
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        with refusal_shown_on(form):
            invitations.accept(invitation, full_name=form.full_name.data, password=form.password.data)
            language = invitation.language
            sign_out_here("another_account")
            session["language"] = language
            flash(_("Your account is ready. Sign in with your e-mail address and the password you chose."), "success")
            return redirect(url_for("auth.sign_in"), 303)
    return render_template("auth/accept_invitation.html", form=form, status=status, invitation=invitation), form_status(
        form
    )
